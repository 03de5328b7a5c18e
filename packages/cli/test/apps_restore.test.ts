// Restoration (`runRestore` in @sgi/apps and `sgi restore`, the built dist/main.js) on the micro
// config with a task: images fed as they are, or degraded first with --degrade (deterministic, by
// index); the files written each way.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { readNpy } from '@sgi/core';
import { evalDegradeSeed, loadImage, taskInput } from '@sgi/experiment';
import { Inverter, runRestore } from '@sgi/apps';
import { microFaces, microInversion, tempDir } from '../../apps/test/micro.js';
import { cli, sgi } from './sgi.js';

const S = 32;


/** The micro config (2 stages, its checkpoint) with a task section appended. */
function withTask(dir: string, name: string, task: string): string {
  const { config } = microInversion(dir, name);
  fs.appendFileSync(config, `task:\n${task}`);
  return config;
}

const pixels = async (file: string) => new Uint8Array((await sharp(file).raw().toBuffer()).buffer);

describe('restore', () => {
  let dir: string;
  let config: string;
  let faces: string[];
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = tempDir('restore');
    config = withTask(dir, 'restore-micro', '  kind: inpainting\n  minSize: 0.3\n  maxSize: 0.5\n');
    fs.mkdirSync(path.join(dir, 'faces'));
    faces = await microFaces(path.join(dir, 'faces'), 3);
    env = { SGI_RUNS_DIR: path.join(dir, 'runs') };
  });

  it('runRestore: fed as given, or degraded by index exactly as evaluation does; input, restored and code written', async () => {
    const inv = Inverter.load(config, { runsRoot: path.join(dir, 'runs') });
    try {
      const plain = await runRestore(inv, faces, path.join(dir, 'api-plain'));
      const degraded = await runRestore(inv, faces, path.join(dir, 'api-degraded'), { degrade: true });
      expect(plain.images.length).toBe(3);
      expect(degraded.degraded).toBe(true);
      for (const [k, f] of faces.entries()) {
        const clean = await loadImage(f, S);
        expect(Array.from(plain.images[k]!.input)).toEqual(Array.from(clean));
        const expected = await taskInput(inv.config.task!, clean, S, [evalDegradeSeed(k)]);
        expect(Array.from(degraded.images[k]!.input)).toEqual(Array.from(expected));
        expect(Array.from(degraded.images[k]!.input)).not.toEqual(Array.from(clean));
        // the restored image is the inversion of what was fed
        expect(Array.from(degraded.images[k]!.output)).toEqual(Array.from(inv.invert(expected).stages[1]!));
        expect(fs.existsSync(degraded.images[k]!.written.restored)).toBe(true);
      }
      // the input file shows what was fed (8-bit, pSp's truncation)
      expect(await pixels(degraded.images[0]!.written.input)).not.toEqual(await pixels(plain.images[0]!.written.input));
    } finally {
      inv.release();
    }
  });

  it('sgi restore --help shows its options', () => {
    const h = sgi(['restore', '--help']);
    expect(h.code, h.err).toBe(0);
    expect(h.out.split('\n')[0]).toBe('sgi restore');
    const shown = [...h.out.matchAll(/^ {2}(--[a-z][a-z-]*)/gm)].map((m) => m[1]!);
    for (const o of ['--help', '--config', '--checkpoint', '--input', '--out', '--degrade']) expect(shown, h.out).toContain(o);
    expect(sgi(['--help']).out).toMatch(/^ {2}sgi video {2,}\S[\s\S]*^ {2}sgi restore {2,}\S[\s\S]*^ {2}sgi hide {2,}\S/m);
  });

  it('sgi restore writes <name>_input.png, <name>_restored.png, <name>.npy and restore.json, without and with --degrade', async () => {
    for (const degrade of [false, true]) {
      const out = path.join(dir, degrade ? 'cli-degraded' : 'cli-plain');
      const r = sgi(['restore', '--config', config, '--input', path.dirname(faces[0]!), '--out', out, ...(degrade ? ['--degrade'] : [])], env);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(new RegExp(`restored 3 image\\(s\\) into .*task: inpainting .*input ${degrade ? 'degraded here' : 'fed as given'}.*median \\d+\\.\\d+ s/image`));
      for (const f of faces) {
        const base = path.basename(f, '.png');
        for (const png of [`${base}_input.png`, `${base}_restored.png`]) expect((await sharp(path.join(out, png)).metadata()).width, png).toBe(S);
        expect(readNpy(path.join(out, `${base}.npy`)).shape).toEqual([8, 16]);
        // fed as given: the image itself (within the 8-bit truncation of writing it back); degraded: a gray rectangle
        const fed = await pixels(path.join(out, `${base}_input.png`)), orig = await pixels(f);
        const maxDiff = fed.reduce((m, v, i) => Math.max(m, Math.abs(v - orig[i]!)), 0);
        if (degrade) expect(maxDiff).toBeGreaterThan(10);
        else expect(maxDiff).toBeLessThanOrEqual(1);
      }
      const summary = JSON.parse(fs.readFileSync(path.join(out, 'restore.json'), 'utf8'));
      expect(summary.degraded).toBe(degrade);
      expect(summary.images.length).toBe(3);
    }
    // a single file works too, and the degradation is the same as in the folder run (seeded by index 0)
    const one = path.join(dir, 'cli-one');
    expect(sgi(['restore', '--config', config, '--input', faces[0]!, '--out', one, '--degrade'], env).code).toBe(0);
    expect(await pixels(path.join(one, 'face0_input.png'))).toEqual(await pixels(path.join(dir, 'cli-degraded', 'face0_input.png')));
  });

  it('clear errors: --degrade without a task, and a label map asked of a photo', () => {
    const { config: plain } = microInversion(dir, 'restore-plain');
    const r = sgi(['restore', '--config', plain, '--input', faces[0]!, '--out', path.join(dir, 'x'), '--degrade'], env);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(/^error: restore-plain-2 has no task section: there is no degradation to apply/);
    expect(sgi(['restore', '--config', plain, '--input', faces[0]!, '--out', path.join(dir, 'x')], env).code).toBe(0);
    const seg = withTask(dir, 'restore-seg', '  kind: segmentation\n');
    const s = sgi(['restore', '--config', seg, '--input', faces[0]!, '--out', path.join(dir, 'y'), '--degrade'], env);
    expect(s.code).toBe(1);
    expect(s.err.trim()).toBe('error: segmentation: a label map cannot be computed from a photo; pass colour-coded label maps as the input (without --degrade)');
    expect(sgi(['restore', '--config', seg, '--input', faces[0]!, '--out', path.join(dir, 'y')], env).code).toBe(0);
  });
});
