// Runs never lose work: a full disk fails the checkpoint write and leaves the earlier checkpoints;
// a fresh run never mixes with or deletes the run a folder holds; pruning follows each
// checkpoint's own step; unreadable training images are skipped and counted; `sgi train --resume`
// reads back configs built with `extends`; the README's path (main command, then the tables' Nx
// target for the same config) trains once.
import { describe, it, expect, vi } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { stringify } from 'yaml';
import { Tensor } from '@sgi/core';
import {
  latestCheckpoint, listStepCheckpoints, loadConfig, pruneCheckpoints, readCheckpoint, readCheckpointMeta, stepCheckpointPath, writeCheckpoint,
} from '@sgi/experiment';
import { RunExistsError, train } from '../src/index.js';
import { configFor } from '../src/command.js';
import { microConfig, tempDir } from '../../experiment/test/micro.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const trainerBin = path.join(repo, 'packages/trainer/dist/main.js');
const cliBin = path.join(repo, 'packages/cli/dist/main.js');
const quiet = { quiet: true, tty: false } as const;
const short = { optimizer: 'ranger', lr: 0.003, batchSize: 2, steps: 12, logEvery: 2, valEvery: 100, valImages: 2, checkpointEvery: 4, keepLast: 5 };

/** Every file of a folder with its bytes, to prove nothing changed. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort()) {
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile()) out.set(f, fs.readFileSync(p).toString('base64'));
  }
  return out;
}

function run(args: string[], opts: { ulimitKiB?: number } = {}) {
  for (const bin of [trainerBin, cliBin]) expect(fs.existsSync(bin), `${bin} is not built (npm test builds it first)`).toBe(true);
  const cmd = [process.execPath, ...args].map((a) => `'${a}'`).join(' ');
  const line = opts.ulimitKiB ? `ulimit -f ${opts.ulimitKiB}; exec ${cmd}` : `exec ${cmd}`;
  const r = spawnSync('bash', ['-c', line], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('runs never lose work', () => {
  it('a full disk stops the run with a clear error and the earlier checkpoints survive intact', async () => {
    const dir = tempDir('diskfull');
    const file = microConfig(dir, 'full', { train: short });
    const c = loadConfig(file);
    await train(c, { runsRoot: dir, ...quiet, stopAfter: 8 });
    const ckDir = path.join(c.runDir!, 'checkpoints');
    const before = snapshot(ckDir);
    expect([...before.keys()]).toEqual(['step-00000004.safetensors', 'step-00000008.safetensors']);
    const size = fs.statSync(path.join(ckDir, 'step-00000008.safetensors')).size;
    // a file-size limit below one checkpoint: the step-12 checkpoint cannot be written
    const r = run([trainerBin, '--config', file, '--resume'], { ulimitKiB: Math.floor(size / 1024 / 2) });
    expect(r.status, r.out).toBe(1);
    expect(r.out).toMatch(/error: disk full: cannot write .*step-00000012\.safetensors \([\d,]+ of [\d,]+ bytes written/);
    expect(snapshot(ckDir)).toEqual(before); // no partial file, no temporary file, nothing pruned
    expect(readCheckpoint(latestCheckpoint(c.runDir!)!).meta.step).toBe(8);
    // with space again, the run resumes from its last good checkpoint and finishes
    const done = await train(c, { runsRoot: dir, ...quiet, resume: true });
    expect(done.step).toBe(12);
  });

  it('a fresh run in a folder that holds a run is refused and changes nothing; --resume continues, --overwrite replaces', async () => {
    const dir = tempDir('fresh');
    const file = microConfig(dir, 'old', { train: { ...short, steps: 6 } });
    const c = loadConfig(file);
    await train(c, { runsRoot: dir, ...quiet });
    const before = snapshot(c.runDir!);
    await expect(train(loadConfig(file), { runsRoot: dir, ...quiet })).rejects.toThrow(RunExistsError);
    await expect(train(loadConfig(file), { runsRoot: dir, ...quiet })).rejects.toThrow(/already holds a run of 'old' \(checkpoint at step 6\); nothing was changed.*--resume.*--overwrite.*--run-dir/);
    expect(snapshot(c.runDir!)).toEqual(before);
    // the command line says the same and exits 1
    const r = run([cliBin, 'train', '--config', file]);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/already holds a run of 'old'/);
    expect(snapshot(c.runDir!)).toEqual(before);
    // resuming a finished run has nothing to do
    const again = await train(loadConfig(file), { runsRoot: dir, ...quiet, resume: true });
    expect(again.step).toBe(6);
    expect(snapshot(c.runDir!)).toEqual(before);
    // --run-dir writes a second run elsewhere
    const other = path.join(dir, 'elsewhere');
    const { config } = configFor({ config: file, 'run-dir': other });
    expect(config.runDir).toBe(other);
    await train(config, { runsRoot: dir, ...quiet });
    expect(listStepCheckpoints(other).length).toBeGreaterThan(0);
    expect(snapshot(c.runDir!)).toEqual(before);
    // --overwrite starts clean
    const changed = loadConfig(file);
    changed.train.steps = 2;
    await train(changed, { runsRoot: dir, ...quiet, overwrite: true });
    expect(listStepCheckpoints(c.runDir!).map((f) => readCheckpointMeta(f)!.step)).toEqual([2]);
  });

  it("the README's path trains once: the main command, then the same config's Nx target, leave the run as it was", () => {
    const dir = tempDir('newcomer');
    const file = microConfig(dir, 'tiny-like', { train: { ...short, steps: 6 } });
    const first = run([cliBin, 'train', '--config', file]);
    expect(first.status, first.out).toBe(0);
    const runDir = loadConfig(file).runDir!;
    const before = snapshot(runDir);
    // the command an exp-* Nx target runs on a cache miss (tools/nx-experiments.cjs)
    const target = run([trainerBin, '--config', file, '--resume', '--overwrite']);
    expect(target.status, target.out).toBe(0);
    expect(target.out).toMatch(/already trained to step 6/);
    expect(snapshot(runDir).get('metrics.jsonl')).toEqual(before.get('metrics.jsonl'));
    expect([...snapshot(runDir).keys()].filter((k) => k.startsWith('checkpoints'))).toEqual([...before.keys()].filter((k) => k.startsWith('checkpoints')));
    // trained longer, the same Nx command line continues the run instead of starting over
    const longer = run([trainerBin, '--config', file, '--resume', '--overwrite', '--steps', '8']);
    expect(longer.status, longer.out).toBe(0);
    expect(longer.out).toMatch(/resumed .* from step 6/);
  });

  it('sgi train --resume <run folder> works for a config built with extends', async () => {
    const dir = tempDir('extends');
    fs.writeFileSync(path.join(dir, 'base.yaml'), fs.readFileSync(microConfig(dir, 'base', { train: short }), 'utf8').replace(/^name: .*$/m, 'name: base'));
    const child = path.join(dir, 'child.yaml');
    fs.writeFileSync(child, stringify({ extends: 'base.yaml', name: 'child', runDir: path.join(dir, 'runs', 'child'), train: { steps: 8 } }));
    const r1 = run([cliBin, 'train', '--config', child, '--stop-after', '4']);
    expect(r1.status, r1.out).toBe(0);
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'runs/child/config.json'), 'utf8'));
    expect(saved.extends).toBeUndefined();
    expect(saved.train.steps).toBe(8);
    const r2 = run([cliBin, 'train', '--resume', path.join(dir, 'runs/child')]);
    expect(r2.status, r2.out).toBe(0);
    expect(r2.out).toMatch(/resumed .* from step 4/);
    expect(r2.out).toMatch(/done: .* at step 8/);
  });

  it('pruning keeps the checkpoints with the highest steps recorded inside them, whatever their names', () => {
    const dir = tempDir('prune');
    const t = Tensor.fromArray(new Float32Array([1, 2]), [2]);
    const meta = (step: number) => ({ step, stage: 1, configHash: 'x', config: '{}', rng: [] });
    // names that sort the other way round from the steps they hold (e.g. a renamed or copied file)
    writeCheckpoint(stepCheckpointPath(dir, 9), new Map([['w', t]]), new Map(), meta(3));
    writeCheckpoint(stepCheckpointPath(dir, 2), new Map([['w', t]]), new Map(), meta(100));
    writeCheckpoint(stepCheckpointPath(dir, 5), new Map([['w', t]]), new Map(), meta(50));
    fs.writeFileSync(stepCheckpointPath(dir, 7), 'corrupt');
    expect(listStepCheckpoints(dir).map((f) => path.basename(f))).toEqual(['step-00000007.safetensors', 'step-00000009.safetensors', 'step-00000005.safetensors', 'step-00000002.safetensors']);
    expect(path.basename(latestCheckpoint(dir)!)).toBe('step-00000002.safetensors');
    pruneCheckpoints(dir, 2);
    expect(listStepCheckpoints(dir).map((f) => readCheckpointMeta(f)!.step)).toEqual([50, 100]);
    t.release();
  });
});

describe('training images', () => {
  async function faces(dir: string, good: number, bad: string[]): Promise<void> {
    fs.mkdirSync(dir, { recursive: true });
    for (let i = 0; i < good; i++) {
      const px = Buffer.alloc(32 * 32 * 3, (i * 37) % 255);
      await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(path.join(dir, `face${i}.png`));
    }
    for (const b of bad) fs.writeFileSync(path.join(dir, b), 'this is not an image');
  }

  it('an unreadable training image is skipped, named in the log and counted in the metrics', async () => {
    const dir = tempDir('badimg');
    const data = path.join(dir, 'faces');
    await faces(data, 7, ['broken-a.png', 'broken-b.jpg', 'broken-c.png']);
    const c = loadConfig(microConfig(dir, 'folder', { data: { kind: 'folder', path: data, val: 2, flip: true }, train: { ...short, steps: 10 } }));
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((l: string) => { lines.push(String(l)); });
    let r;
    try {
      r = await train(c, { runsRoot: dir, tty: false });
    } finally {
      log.mockRestore();
    }
    expect(r.step).toBe(10);
    const named = lines.filter((l) => /skipped unreadable (training|validation) image .*broken-/.test(l));
    expect(named.length).toBeGreaterThanOrEqual(1);
    const records = fs.readFileSync(path.join(r.runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const counted = Math.max(0, ...records.filter((x) => x.kind === 'train').map((x) => x.skippedImages ?? 0));
    const trainingNamed = new Set(lines.filter((l) => /skipped unreadable training image/.test(l))).size;
    expect(counted).toBe(trainingNamed);
    expect(counted).toBeGreaterThanOrEqual(1);
  });

  it('a data folder with no readable image stops with a clear error', async () => {
    const dir = tempDir('noimg');
    const data = path.join(dir, 'faces');
    await faces(data, 0, ['a.png', 'b.png', 'c.png', 'd.png', 'e.png']);
    const c = loadConfig(microConfig(dir, 'empty', { data: { kind: 'folder', path: data, val: 1 }, train: { ...short, steps: 4 } }));
    await expect(train(c, { runsRoot: dir, ...quiet })).rejects.toThrow(/could be read/);
  });
});
