// The per-level restoration report on a micro task config (32 px, random-initialised weights
// written as its checkpoint: evaluation never needs the trainer): the levels of each task, one row
// per super-resolution factor with the identity baseline falling as the factor grows (x1 capped at 100 dB), the report
// files, and clear errors for configs it cannot score.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { ops, type Tensor } from '@sgi/core';
import { TaskSchema, buildExperiment, loadConfig, writeCheckpoint } from '@sgi/experiment';
import { PSNR_CAP, pickEvalSet, restorationLevels, runRestorationReport, taskLevels, type LpipsFn } from '../src/index.js';

const S = 32;

/** A stand-in for LPIPS: the mean squared difference (0 exactly for an exact copy). */
const msd: LpipsFn = (a: Tensor, b: Tensor) => { const d = ops.sub(a, b); return ops.mean(ops.mul(d, d)); };

/** Writes a micro config (face-world data, one stage) with `extra` keys and its checkpoint from the seeded weights. */
function microTask(dir: string, name: string, extra: Record<string, unknown>): { config: string; checkpoint: string } {
  const config = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(config, stringify({
    name, seed: 5,
    generator: { size: 32, styleDim: 16, nMlp: 2, channels: { 4: 16, 8: 16, 16: 8, 32: 8 }, randomInit: true, meanLatentSamples: 32 },
    encoder: { widths: [8, 8, 16], units: [1, 1, 1], pools: [3, 3, 3], inputSize: S },
    loss: { l2: 1, lpips: 0, id: 0, parsing: 0 },
    data: { kind: 'facesjs' },
    train: { steps: 2, batchSize: 2, valImages: 2 },
    runDir: path.join(dir, 'runs', name),
    ...extra,
  }));
  const c = loadConfig(config);
  const checkpoint = path.join(dir, 'runs', name, 'checkpoints', 'best.safetensors');
  if (c.kind === 'inversion') {
    const exp = buildExperiment(c, { runsRoot: dir });
    writeCheckpoint(checkpoint, exp.model.stateDict(), new Map(), { step: 2, stage: 1, configHash: 'micro', config: '{}', rng: [] });
    exp.model.release();
    exp.generator.release();
  }
  return { config, checkpoint };
}

describe('taskLevels', () => {
  const levels = (t: Record<string, unknown>) => taskLevels(TaskSchema.parse(t), 64).map((l) => [l.label, l.fixed]);
  it('one row per factor, noise std or rectangle side over the config range, then the drawn mixture; one row for the rest', () => {
    expect(levels({ kind: 'super_resolution', factors: [4, 1, 16] })).toEqual([
      ['x1', { factor: 1 }], ['x4', { factor: 4 }], ['x16', { factor: 16 }], ['drawn per image (as in training and the tables)', undefined],
    ]);
    expect(levels({ kind: 'denoise', sigma: [0.05, 0.25] }).map((l) => l[1])).toEqual([{ sigma: 0.05 }, { sigma: 0.117 }, { sigma: 0.183 }, { sigma: 0.25 }, undefined]);
    // sides 13..28 px of 64 (inpaintingSides of 0.2-0.45), four of them, as fractions of the side
    expect(levels({ kind: 'inpainting', minSize: 0.2, maxSize: 0.45 }).map((l) => l[1])).toEqual([{ size: 13 / 64 }, { size: 18 / 64 }, { size: 23 / 64 }, { size: 28 / 64 }, undefined]);
    expect(levels({ kind: 'inpainting', minSize: 0.3, maxSize: 0.3 })).toEqual([['square 19x19 px (0.30 of the side)', { size: 19 / 64 }]]);
    for (const kind of ['colorization', 'sketch', 'segmentation']) expect(levels({ kind })).toEqual([[kind, undefined]]);
  });
});

describe('restoration report', () => {
  let dir: string;
  let sr: { config: string; checkpoint: string };
  let files: string[];
  let faceSeeds: number[] | undefined;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-restoration-'));
    sr = microTask(dir, 'sr-micro', { task: { kind: 'super_resolution', factors: [1, 2, 4, 8, 16] } });
    ({ files, faceSeeds } = await pickEvalSet({ configFile: sr.config, count: 4, seed: 0, outDir: path.join(dir, 'set'), runsRoot: dir }));
  });

  it('super-resolution: one row per factor, the identity PSNR falling as the factor grows (x1 an exact copy, capped)', async () => {
    const { rows } = await restorationLevels(loadConfig(sr.config), sr.checkpoint, files, { configFile: sr.config, ssimWindow: 'gaussian', runsRoot: dir, lpips: msd, faceSeeds });
    expect(rows.map((r) => r.level)).toEqual(['x1', 'x2', 'x4', 'x8', 'x16', 'drawn per image (as in training and the tables)']);
    for (const r of rows) {
      expect(r.n).toBe(4);
      expect(r.failed).toEqual([]);
      expect(Number.isFinite(r.restored.psnr) && Number.isFinite(r.restored.ssim) && Number.isFinite(r.restored.lpips!), r.level).toBe(true);
      expect(r.beats).toBe(r.restored.psnr > r.identity.psnr);
    }
    const [x1, ...scaled] = rows.slice(0, 5);
    expect(x1!.identity).toEqual({ psnr: PSNR_CAP, ssim: 1, lpips: 0 });
    expect(x1!.beats).toBe(false);
    for (let i = 1; i < scaled.length; i++) {
      expect(scaled[i]!.identity.psnr, scaled[i]!.level).toBeLessThan(scaled[i - 1]!.identity.psnr);
      expect(scaled[i]!.identity.ssim, scaled[i]!.level).toBeLessThan(scaled[i - 1]!.identity.ssim);
    }
    // the restored output of one encoder is scored at every level: it changes with the input
    expect(new Set(rows.map((r) => r.restored.psnr.toFixed(6))).size).toBeGreaterThan(1);
  });

  it('runRestorationReport finds the run\'s checkpoint, writes table.md and results.json, one row per level', async () => {
    const out = path.join(dir, 'report');
    const r = await runRestorationReport({ configFile: sr.config, workspace: dir, runsRoot: dir, outDir: out, count: 3, seed: 0, ssimWindow: 'gaussian', log: () => {} });
    expect(r.report.checkpoint).toBe(path.relative(dir, sr.checkpoint));
    expect(r.report.evalSet.count).toBe(3);
    const lines = fs.readFileSync(path.join(out, 'table.md'), 'utf8').split('\n').filter((l) => /^\| x\d+ \|/.test(l));
    expect(lines.map((l) => l.split('|')[1]!.trim())).toEqual(['x1', 'x2', 'x4', 'x8', 'x16']);
    expect(lines[0]).toMatch(/^\| x1 \| 3 \| 100\.00 \| \d+\.\d\d \| 1\.000 \| 0\.\d{3} \| - \| - \| no \|$/);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(json.rows.length).toBe(6);
    expect(json.rows[0].identity.psnr).toBe(100);
    expect(json.rows[3].fixed).toEqual({ factor: 8 });
    expect(r.markdown).toContain('task: super-resolution (x1/2/4/8/16 box down, bilinear up)');
  });

  it('sketch on face-world images: one row, the exact paired sketches (far from the clean faces)', async () => {
    const sk = microTask(dir, 'sketch-micro', { task: { kind: 'sketch' } });
    const { rows } = await restorationLevels(loadConfig(sk.config), sk.checkpoint, files, { configFile: sk.config, ssimWindow: 'gaussian', runsRoot: dir, faceSeeds });
    expect(rows.map((r) => [r.level, r.n])).toEqual([['sketch', 4]]);
    expect(rows[0]!.identity.psnr).toBeLessThan(15);
  });

  it('clear errors naming the file: a config without a task, an invalid config, no checkpoint; a level the task cannot take', async () => {
    const plain = microTask(dir, 'plain-micro', {});
    const opts = { workspace: dir, runsRoot: dir, outDir: path.join(dir, 'x'), seed: 0, ssimWindow: 'gaussian' as const, log: () => {} };
    await expect(runRestorationReport({ ...opts, configFile: plain.config })).rejects.toThrow(`${plain.config}: no task section: the restoration report scores a restoration/translation config (task.kind one of colorization, inpainting, super_resolution, denoise, sketch, segmentation)`);
    await expect(restorationLevels(loadConfig(plain.config), plain.checkpoint, files, { configFile: plain.config, ssimWindow: 'gaussian', runsRoot: dir })).rejects.toThrow(`${plain.config}: no task section`);
    const odd = path.join(dir, 'odd.yaml');
    fs.writeFileSync(odd, fs.readFileSync(sr.config, 'utf8').replace('name: sr-micro', 'name: odd\nkind: restoration'));
    await expect(runRestorationReport({ ...opts, configFile: odd })).rejects.toThrow(new RegExp(`^${odd.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid config\\n  - kind: `));
    const badTask = path.join(dir, 'bad-task.yaml');
    fs.writeFileSync(badTask, fs.readFileSync(sr.config, 'utf8').replace('kind: super_resolution', 'kind: deblur'));
    await expect(runRestorationReport({ ...opts, configFile: badTask })).rejects.toThrow(`${badTask}: invalid config\n  - task.kind`);
    const srOpts = { configFile: sr.config, ssimWindow: 'gaussian' as const, runsRoot: dir };
    await expect(restorationLevels(loadConfig(sr.config), sr.checkpoint, files, { ...srOpts, levels: [{ label: 'x3', fixed: { factor: 3 } }] })).rejects.toThrow('super-resolution factor 3 does not divide the image size 32');
    await expect(restorationLevels(loadConfig(sr.config), sr.checkpoint, files, { ...srOpts, levels: [{ label: 'noise', fixed: { sigma: 0.1 } }] })).rejects.toThrow('a fixed sigma is a level of denoise, not of super_resolution');
    const untrained = microTask(dir, 'untrained-micro', { task: { kind: 'colorization' } });
    fs.rmSync(untrained.checkpoint);
    await expect(runRestorationReport({ ...opts, configFile: untrained.config })).rejects.toThrow(`${untrained.config}: no checkpoint in ${path.join(dir, 'runs', 'untrained-micro')}`);
  });
});
