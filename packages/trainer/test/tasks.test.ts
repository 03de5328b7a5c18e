// Training on restoration/translation tasks: the face world's paired inputs are the exact sketches
// and label maps of each batch's faces, the degradations follow the step (resume-exact), each task
// trains on the micro config and its validation scores the restored output against the clean
// face; evaluation degrades the same way and reports the identity baseline; the tiny task configs load.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, meanImageScores, noGrad, psnr, tensorToImages } from '@sgi/core';
import { renderSegmentation, renderSketch, sampleFace, segmentationColours } from '@sgi/faces';
import {
  FACE_SEEDS, TASK_KINDS, buildExperiment, degradeSeeds, evalDegradeSeeds, listImages, loadConfig, loadImage, renderedFaces, taskInput, writeImageGrid, type Config,
} from '@sgi/experiment';
import { evaluateMethod } from '@sgi/eval';
import { FolderLoader, facesSource, flipHorizontal, inversionTask, splitFiles, train } from '../src/index.js';
import { microConfig, tempDir } from '../../experiment/test/micro.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const S = 32;
const B = 2;
const quiet = () => {};
const same = (a: Float32Array, b: Float32Array) => a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

const TASKS: Record<string, Record<string, unknown>> = {
  colorization: { kind: 'colorization' },
  inpainting: { kind: 'inpainting', minSize: 0.3, maxSize: 0.5 },
  super_resolution: { kind: 'super_resolution', factors: [2, 4, 8] },
  denoise: { kind: 'denoise', sigma: [0.1, 0.2] },
  sketch: { kind: 'sketch' },
  segmentation: { kind: 'segmentation' },
};

function microTask(dir: string, kind: string, train: Record<string, unknown> = {}): Config {
  return loadConfig(microConfig(dir, `task-${kind}`, {
    data: { kind: 'facesjs' },
    task: TASKS[kind],
    train: { optimizer: 'adam', lr: 0.002, batchSize: B, steps: 3, logEvery: 1, valEvery: 3, valImages: 2, checkpointEvery: 3, keepLast: 1, sampleEvery: 3, ...train },
  }));
}

/** 8-bit gray or RGB HWC as CHW floats in [-1, 1], three channels. */
function chw(pixels: Uint8Array, channels: 1 | 3): Float32Array {
  const out = new Float32Array(3 * S * S);
  for (let i = 0; i < S * S; i++) for (let c = 0; c < 3; c++) out[c * S * S + i] = pixels[i * channels + (channels === 3 ? c : 0)]! / 127.5 - 1;
  return out;
}

describe('training on tasks', () => {
  it('covers every task kind', () => {
    expect(Object.keys(TASKS).sort()).toEqual([...TASK_KINDS].sort());
  });

  it('face-world sketch and segmentation inputs are renderSketch / renderSegmentation of the batch\'s own seeds; targets are the clean faces', async () => {
    const dir = tempDir('task-pairs');
    for (const kind of ['sketch', 'segmentation']) {
      const c = microTask(dir, kind);
      const t = await inversionTask(c, dir, quiet);
      const step = 5;
      const batch = await t.batch(step);
      const first = facesSource(c, S).first(step);
      expect(same(batch.target, await renderedFaces(first, B, S)), `${kind}: target`).toBe(true);
      for (let i = 0; i < B; i++) {
        const face = sampleFace(first + i);
        const expected = kind === 'sketch' ? chw(await renderSketch(face, S), 1) : chw(segmentationColours(await renderSegmentation(face, S), S), 3);
        expect(same(batch.input.subarray(i * 3 * S * S, (i + 1) * 3 * S * S), expected), `${kind}: image ${i} of step ${step}`).toBe(true);
      }
      // another step: other faces, other pairs
      const next = await t.batch(step + 1);
      expect(same(next.input, batch.input)).toBe(false);
    }
  });

  it('the degraded batches depend only on the step (a resumed run sees the same inputs) and change with it', async () => {
    const dir = tempDir('task-steps');
    const c = microTask(dir, 'inpainting');
    const a = await inversionTask(c, dir, quiet);
    const b = await inversionTask(c, dir, quiet);
    const [a7, b7, a8] = [await a.batch(7), await b.batch(7), await a.batch(8)];
    expect(same(a7.input, b7.input)).toBe(true);
    expect(same(a7.input, a7.target)).toBe(false);
    // seeded by (run seed, step, index): the same faces under step 8's rectangles differ
    expect(same(await taskInput(c.task!, a7.target, S, degradeSeeds(c.seed, 7, B)), a7.input)).toBe(true);
    expect(same(await taskInput(c.task!, a7.target, S, degradeSeeds(c.seed, 8, B)), a7.input)).toBe(false);
    expect(same(a8.input, a7.input)).toBe(false);
  });

  it('image folders: the paired file of the same name is the input, flipped with its image, in training and validation', async () => {
    const dir = tempDir('task-folder');
    for (const sub of ['imgs', 'sketches']) fs.mkdirSync(path.join(dir, sub));
    const faces = await renderedFaces(FACE_SEEDS.demo, 6, S);
    for (let i = 0; i < 6; i++) {
      const img = faces.subarray(i * 3 * S * S, (i + 1) * 3 * S * S);
      await writeImageGrid(path.join(dir, 'imgs', `f${i}.png`), [{ data: img, offset: 0 }], S, 1);
      // the "sketch": the face's negative, so a pair is told from its image
      await writeImageGrid(path.join(dir, 'sketches', `f${i}.jpg`), [{ data: img.map((v) => -v), offset: 0 }], S, 1);
    }
    const c = loadConfig(microConfig(dir, 'folder-sketch', {
      data: { kind: 'folder', path: 'imgs', val: 2, flip: true },
      task: { kind: 'sketch', pairedPath: 'sketches' },
      train: { batchSize: B, steps: 2, valImages: 2, valEvery: 2, logEvery: 1, checkpointEvery: 2 },
    }));
    const t = await inversionTask(c, dir, quiet);
    const split = splitFiles(listImages(path.join(dir, 'imgs')), c.data.val, c.seed);
    const loader = new FolderLoader(split.train, S, B, c.seed, true);
    let flipped = 0;
    for (let step = 0; step < 6; step++) {
      const batch = await t.batch(step);
      const { files, flips } = loader.filesAt(step);
      for (let i = 0; i < B; i++) {
        const pair = await loadImage(path.join(dir, 'sketches', path.basename(files[i]!).replace('.png', '.jpg')), S);
        const target = await loadImage(files[i]!, S);
        const plane = 3 * S * S;
        if (flips[i]) {
          flipped++;
          flipHorizontal(pair, 0, S, S);
          flipHorizontal(target, 0, S, S);
        }
        expect(same(batch.input.subarray(i * plane, (i + 1) * plane), pair), `step ${step} image ${i}`).toBe(true);
        expect(same(batch.target.subarray(i * plane, (i + 1) * plane), target), `step ${step} image ${i}`).toBe(true);
      }
    }
    expect(flipped).toBeGreaterThan(0);
    const v = t.validate();
    expect(same(v.grid[0]!.data.subarray(0, 3 * S * S), await loadImage(path.join(dir, 'sketches', path.basename(split.val[0]!).replace('.png', '.jpg')), S))).toBe(true);
    expect(same(v.grid[2]!.data.subarray(0, 3 * S * S), await loadImage(split.val[0]!, S))).toBe(true);
  });

  for (const kind of Object.keys(TASKS)) {
    it(`${kind}: a micro run trains, and its validation scores the restored output against the clean face`, async () => {
      const dir = tempDir(`task-${kind}`);
      const c = microTask(dir, kind);
      const r = await train(c, { runsRoot: dir, quiet: true, tty: false });
      expect(r.step).toBe(3);
      expect(r.history.map((h) => h.step)).toEqual([0, 3]);
      for (const h of r.history) expect(Number.isFinite(h.psnr), `${kind}: ${JSON.stringify(h)}`).toBe(true);
      const lines = fs.readFileSync(path.join(r.runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.filter((l) => l.kind === 'train').length).toBe(3);
      expect(fs.existsSync(path.join(r.runDir, 'checkpoints', 'best.safetensors'))).toBe(true);

      // validation: the model on the degraded held-out faces, scored against the clean ones
      const t = await inversionTask(c, dir, quiet);
      expect(t.describe).toMatch(/identity baseline on validation: PSNR \d+\.\d+ dB/);
      const v = t.validate();
      const n = c.train.valImages;
      const clean = await renderedFaces(FACE_SEEDS.heldOut, n, S);
      const seeds = Array.from({ length: n }, (_, i) => FACE_SEEDS.heldOut + i);
      const input = await taskInput(c.task!, clean, S, evalDegradeSeeds(n), { faceSeeds: seeds });
      const exp = buildExperiment(c, { runsRoot: dir });
      exp.model.eval();
      const { expected, againstInput } = noGrad(() => {
        const x = Tensor.fromArray(input, [n, 3, S, S]);
        const out = exp.model.forward(x, { withImages: true });
        const y = out.images[out.images.length - 1]!;
        return { expected: meanImageScores(Tensor.fromArray(clean, [n, 3, S, S]), y), againstInput: meanImageScores(x, y) };
      });
      expect(v.psnr).toBeCloseTo(expected.psnr, 4);
      expect(v.ssim).toBeCloseTo(expected.ssim, 4);
      expect(Math.abs(v.psnr - againstInput.psnr), 'scored against the clean face, not the input').toBeGreaterThan(1e-3);
      // grid: degraded input | the stage's output | clean target
      expect(v.cols).toBe(3);
      expect(same(v.grid[0]!.data.subarray(0, 3 * S * S), input.subarray(0, 3 * S * S))).toBe(true);
      expect(same(v.grid[2]!.data.subarray(0, 3 * S * S), clean.subarray(0, 3 * S * S))).toBe(true);
      exp.model.release();
      exp.generator.release();
    });
  }

  it('evaluation degrades the same way (by image index, exact face-world pairs) and reports the identity baseline', async () => {
    const dir = tempDir('task-eval');
    const c = microTask(dir, 'segmentation');
    const r = await train(c, { runsRoot: dir, quiet: true, tty: false });
    const n = 3;
    const rendered = await renderedFaces(FACE_SEEDS.heldOut + 100, n, S);
    const files: string[] = [];
    const clean = new Float32Array(rendered.length);
    for (let i = 0; i < n; i++) {
      files.push(path.join(dir, `face${i}.png`));
      await writeImageGrid(files[i]!, [{ data: rendered, offset: i * 3 * S * S }], S, 1);
      clean.set(await loadImage(files[i]!, S), i * 3 * S * S); // the clean images as evaluation reads them
    }
    const faceSeeds = files.map((_, i) => FACE_SEEDS.heldOut + 100 + i);
    const res = await evaluateMethod('seg', 'seg.yaml', c, r.bestCheckpoint!, files, { ssimWindow: 'gaussian', runsRoot: dir, timingRuns: 0, previews: 1, faceSeeds });
    expect(res.failed).toEqual([]);
    expect(res.task?.kind).toBe('segmentation');
    // the baseline: the label maps themselves scored against the faces
    const maps = await taskInput(c.task!, clean, S, evalDegradeSeeds(n), { faceSeeds });
    const a = tensorToImages(Tensor.fromArray(clean, [n, 3, S, S])), m = tensorToImages(Tensor.fromArray(maps, [n, 3, S, S]));
    const base = a.map((img, i) => psnr(img, m[i]!)).reduce((s, p) => s + p, 0) / n;
    expect(res.task!.baseline.psnr).toBeCloseTo(base, 6);
    // each image: the model's output on its label map, scored against the clean face
    const exp = buildExperiment(c, { runsRoot: dir, checkpoint: r.bestCheckpoint! });
    exp.model.eval();
    const expected = noGrad(() => {
      const out = exp.model.forward(Tensor.fromArray(maps.subarray(0, 3 * S * S), [1, 3, S, S]), { withImages: true });
      return psnr(a[0]!, tensorToImages(out.images[out.images.length - 1]!)[0]!);
    });
    expect(res.images[0]!.psnr).toBeCloseTo(expected, 6);
    exp.model.release();
    exp.generator.release();
  });
});

describe('the tiny task configs', () => {
  const files = fs.readdirSync(path.join(repo, 'configs/tiny/tasks')).filter((f) => f.endsWith('.yaml')).map((f) => path.join(repo, 'configs/tiny/tasks', f));

  it('one per task kind, each a face-world stage-1 run that loads with its files', () => {
    const kinds = files.map((f) => {
      const c = loadConfig(f);
      expect(c.data.kind, f).toBe('facesjs');
      expect(c.stages, f).toBe(1);
      expect(c.name, f).toBe(`tiny-tasks-${path.basename(f, '.yaml').replace(/_/g, '-')}`);
      return c.task!.kind;
    });
    expect(kinds.sort()).toEqual([...TASK_KINDS].sort());
    for (const f of fs.readdirSync(path.join(repo, 'configs/paper/tasks'))) {
      expect(loadConfig(path.join(repo, 'configs/paper/tasks', f), { checkFiles: false }).task, f).toBeDefined();
    }
  });

  it('the segmentation one trains 2 steps (in a temporary run folder)', async () => {
    const dir = tempDir('tiny-task');
    const c = loadConfig(path.join(repo, 'configs/tiny/tasks/segmentation.yaml'));
    c.runDir = path.join(dir, 'run');
    c.train.valImages = 4;
    const r = await train(c, { runsRoot: dir, quiet: true, tty: false, stopAfter: 2 });
    expect(r.step).toBe(2);
    expect(Number.isFinite(r.history[0]!.psnr)).toBe(true);
    expect(fs.existsSync(path.join(dir, 'run', 'checkpoints'))).toBe(true);
  });
});
