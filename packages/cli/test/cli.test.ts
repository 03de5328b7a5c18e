// The sgi command as a user runs it (the built dist/main.js): help, info, convert, train, invert.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { readSafetensors } from '@sgi/core';
import { cli, repo, sgi } from './sgi.js';

const fixtures = path.resolve(repo, process.env.FIXTURES_DIR || 'fixtures');
const faces = path.join(repo, 'data/faces');

/** What the user sees in `sgi --help` (each command's usage line) and in `sgi <command> --help`. */
const COMMANDS: Record<string, { usage: string; options: string[]; positionals?: string[] }> = {
  info: { usage: 'sgi info', options: ['--config'] },
  align: { usage: 'sgi align', options: ['--input', '--out', '--size', '--all-faces', '--backend', '--detector', '--min-score'] },
  invert: { usage: 'sgi invert', options: ['--config', '--checkpoint', '--input', '--out', '--align', '--paste-back', '--feather'] },
  train: { usage: 'sgi train', options: ['--config', '--run-dir', '--resume', '--overwrite', '--steps', '--stop-after'] },
  sweep: { usage: 'sgi sweep', options: ['--configs'] },
  table: {
    usage: 'sgi table <table>', positionals: ['table'],
    options: ['--config', '--checkpoint', '--suite', '--images', '--count', '--seed', '--ssim', '--id-network', '--id-checkpoint', '--lpips-alexnet', '--timing-runs', '--out'],
  },
  world: { usage: 'sgi world', options: ['--stages', '--directions', '--attributes', '--count', '--strength', '--out'] },
  serve: { usage: 'sgi serve', options: ['--config', '--checkpoint', '--port', '--host', '--directions', '--lpips', '--lpips-alexnet', '--max-upload-mb', '--max-side', '--max-queue'] },
  convert: { usage: 'sgi convert <input> <output>', positionals: ['input', 'output'], options: ['--config'] },
  export: { usage: 'sgi export', options: ['--config', '--checkpoint', '--format', '--out'] },
  edit: { usage: 'sgi edit', options: ['--config', '--checkpoint', '--input', '--direction', '--attribute', '--strengths', '--relative', '--out'] },
  directions: { usage: 'sgi directions', options: ['--config', '--checkpoint', '--positive', '--negative', '--space', '--out'] },
  interpolate: { usage: 'sgi interpolate <a> <b>', positionals: ['a', 'b'], options: ['--config', '--checkpoint', '--steps', '--delay', '--out'] },
  mix: { usage: 'sgi mix', options: ['--config', '--checkpoint', '--content', '--style', '--from', '--layer-index', '--out'] },
  swap: { usage: 'sgi swap', options: ['--config', '--checkpoint', '--source', '--target', '--out', '--feather'] },
  video: { usage: 'sgi video', options: ['--config', '--checkpoint', '--input', '--out', '--direction', '--strength', '--format'] },
  restore: { usage: 'sgi restore', options: ['--config', '--checkpoint', '--input', '--out', '--degrade'] },
  hide: { usage: 'sgi hide', options: ['--config', '--checkpoint', '--secret', '--carrier', '--out', '--key', '--bits', '--height'] },
  reveal: { usage: 'sgi reveal', options: ['--config', '--checkpoint', '--stego', '--out', '--key'] },
};
const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');


describe('sgi command line', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-cli-'));
  });

  it('--help lists every command; each command\'s --help shows its usage, positionals and options', () => {
    const top = sgi(['--help']);
    expect(top.code, top.err).toBe(0);
    const listed = [...top.out.matchAll(/^ {2}sgi (\S+)/gm)].map((m) => m[1]!);
    expect(listed.sort(), `sgi --help:\n${top.out}`).toEqual(Object.keys(COMMANDS).sort());
    for (const [c, { usage, options, positionals = [] }] of Object.entries(COMMANDS)) {
      // the command's usage followed by its description
      expect(top.out, `sgi --help: ${c}`).toMatch(new RegExp(`^ {2}${reEscape(usage)} {2,}\\S`, 'm'));
      const h = sgi([c, '--help']);
      expect(h.code, `sgi ${c} --help: ${h.err}`).toBe(0);
      expect(h.out.split('\n')[0], `sgi ${c} --help`).toBe(usage);
      const shown = [...h.out.matchAll(/^ {2}(--[a-z][a-z-]*)/gm)].map((m) => m[1]!);
      for (const o of ['--help', ...options]) expect(shown, `sgi ${c} --help:\n${h.out}`).toContain(o);
      for (const p of positionals) expect(h.out, `sgi ${c} --help: positional ${p}`).toMatch(new RegExp(`^Positionals:\\n(?: {2}.*\\n)*? {2}${p} {2,}\\S`, 'm'));
    }
  });

  it('info prints the exact parameter counts of the paper encoder and generator', () => {
    const r = sgi(['info', '--config', 'configs/paper/stage2.yaml']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('84,920,000');
    expect(r.out).toContain('84,921,728');
    expect(r.out).toContain('30,370,060');
  });

  it('convert turns a PyTorch checkpoint into safetensors', () => {
    const out = path.join(dir, 'g.safetensors');
    const r = sgi(['convert', path.join(fixtures, 'generator_small_legacy.pt'), out]);
    expect(r.code, r.err).toBe(0);
    const f = readSafetensors(out);
    expect(f.tensors.has('latent_avg')).toBe(true);
    expect(f.tensors.has('g_ema.conv1.conv.weight')).toBe(true);
  });

  it('bad input gives one clear line, not a stack trace', () => {
    const r = sgi(['convert', path.join(dir, 'missing.pt'), path.join(dir, 'x.safetensors')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: .*missing\.pt/m);
    expect(r.err).not.toMatch(/\n\s+at /);
    const u = sgi(['info', '--config', path.join(dir, 'nope.yaml')]);
    expect(u.code).toBe(1);
    expect(u.err).toMatch(/config file not found/);
  });

  it('train then invert real photos: reconstructions, W+ codes, timing; unreadable files reported', () => {
    const cfg = path.join(dir, 'micro.yaml');
    fs.writeFileSync(cfg, stringify({
      name: 'cli-micro', seed: 1,
      generator: { size: 32, styleDim: 16, nMlp: 2, channels: { 4: 16, 8: 16, 16: 8, 32: 8 }, randomInit: true, meanLatentSamples: 32 },
      encoder: { widths: [8, 8, 16], units: [1, 1, 1], pools: [3, 3, 3], inputSize: 32 },
      loss: { l2: 1, lpips: 0, id: 0, parsing: 0 },
      data: { kind: 'synthetic' },
      train: { steps: 6, batchSize: 2, logEvery: 3, valEvery: 3, valImages: 2, checkpointEvery: 3 },
    }));
    const runs = path.join(dir, 'runs');
    const none = sgi(['invert', '--config', cfg, '--input', faces, '--out', path.join(dir, 'o0')], { SGI_RUNS_DIR: runs });
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/no checkpoint for 'cli-micro'.*train one first/);
    const t = sgi(['train', '--config', cfg, '--stop-after', '4'], { SGI_RUNS_DIR: runs });
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/random-initialised: generator/);
    // continue the run from its folder alone
    const resumed = sgi(['train', '--resume', path.join(runs, 'cli-micro')], { SGI_RUNS_DIR: runs });
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/resumed .*cli-micro from step 4/);
    expect(resumed.out).toMatch(/at step 6/);
    const input = path.join(dir, 'photos');
    fs.mkdirSync(input);
    for (const f of fs.readdirSync(faces).slice(0, 2)) fs.copyFileSync(path.join(faces, f), path.join(input, f));
    fs.writeFileSync(path.join(input, 'broken.png'), 'not a png');
    const out = path.join(dir, 'out');
    const r = sgi(['invert', '--config', cfg, '--input', input, '--out', out], { SGI_RUNS_DIR: runs });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/skipped .*broken\.png/);
    expect(r.out).toMatch(/inverted 2 image\(s\)/);
    const names = fs.readdirSync(out);
    expect(names.filter((n) => n.endsWith('.npy')).length).toBe(2);
    expect(names.filter((n) => n.endsWith('_stages.png')).length).toBe(2);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'timing.json'), 'utf8')).skipped[0]).toMatch(/broken\.png/);
  });
});
