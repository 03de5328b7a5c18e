// `sgi table restoration` (the built dist/main.js) on the micro config with a super-resolution
// task: the per-level table printed and written, and clear errors for what it cannot score.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { microInversion, tempDir } from '../../apps/test/micro.js';
import { sgi } from './sgi.js';

describe('sgi table restoration', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(() => {
    dir = tempDir('table-restoration');
    env = { SGI_RUNS_DIR: path.join(dir, 'runs') };
  });

  it('prints and writes one row per super-resolution factor (and the drawn mixture) on held-out faces', () => {
    const { config, checkpoint } = microInversion(dir, 'sr');
    fs.appendFileSync(config, 'task:\n  kind: super_resolution\n  factors: [1, 4, 16]\n');
    const out = path.join(dir, 'report');
    const r = sgi(['table', 'restoration', '--config', config, '--count', '3', '--out', out], env);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`checkpoint ${checkpoint}`);
    const rows = r.out.split('\n').filter((l) => /^\| (x\d+|drawn)/.test(l)).map((l) => l.split('|').map((c) => c.trim()));
    expect(rows.map((c) => [c[1], c[2]])).toEqual([['x1', '3'], ['x4', '3'], ['x16', '3'], ['drawn per image (as in training and the tables)', '3']]);
    const identity = rows.slice(0, 3).map((c) => Number(c[3]));
    expect(identity[0]).toBe(100);
    expect(identity[1]).toBeLessThan(identity[0]!);
    expect(identity[2]).toBeLessThan(identity[1]!);
    expect(fs.readFileSync(path.join(out, 'table.md'), 'utf8')).toContain('| x16 | 3 |');
    expect(JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')).rows.length).toBe(4);
    expect(fs.readdirSync(path.join(out, 'evalset')).length).toBe(3);
  });

  it('clear errors: no --config, --config with a paper table, a config without a task, an invalid config', () => {
    const none = sgi(['table', 'restoration'], env);
    expect(none.code).toBe(1);
    expect(none.err.trim()).toBe('error: sgi table restoration needs --config <task config> (e.g. configs/tiny/tasks/super_resolution.yaml)');
    const { config: plain } = microInversion(dir, 'plain');
    const paper = sgi(['table', 'table1', '--config', plain], env);
    expect(paper.code).toBe(1);
    expect(paper.err).toMatch(/^error: --config and --checkpoint are for sgi table restoration; table1 takes its configs/);
    const noTask = sgi(['table', 'restoration', '--config', plain, '--out', path.join(dir, 'x')], env);
    expect(noTask.code).toBe(1);
    expect(noTask.err).toMatch(new RegExp(`^error: ${plain.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no task section: the restoration report scores a restoration/translation config`));
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, `${fs.readFileSync(plain, 'utf8')}task:\n  kind: deblur\n`);
    const invalid = sgi(['table', 'restoration', '--config', bad, '--out', path.join(dir, 'y')], env);
    expect(invalid.code).toBe(1);
    expect(invalid.err).toContain(`error: ${bad}: invalid config\n  - task.kind`);
  });
});
