// The face-world generator trained as a renderer: it learns to draw held-out faces from their
// codes, its export loads as a generator checkpoint (with latent_avg and editing directions), and
// an inversion config can use it on rendered faces.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readNpy } from '@sgi/core';
import { FACE_CODE_DIM } from '@sgi/faces';
import { buildExperiment, loadConfig, readGeneratorWeights, sampleGeneratorImages } from '@sgi/experiment';
import { GENERATOR_EXPORT, exportRun, train } from '../src/index.js';
import { microConfig, tempDir } from '../../experiment/test/micro.js';

const micro = {
  kind: 'renderer',
  generator: { size: 16, styleDim: 16, nMlp: 2, lrMlp: 0.1, input: 'facesjs', channels: { 4: 32, 8: 32, 16: 16 }, randomInit: true, meanLatentSamples: 256 },
  encoder: { widths: [8, 8, 16], units: [1, 1, 1], head: '3E', pools: [3, 3, 3], inputSize: 16 },
  loss: { l2: 1, lpips: 0, id: 0, parsing: 0 },
  data: { kind: 'facesjs' },
  train: { optimizer: 'adam', lr: 0.005, betas: [0, 0.99], batchSize: 8, steps: 60, logEvery: 10, valEvery: 30, valImages: 8, checkpointEvery: 30, keepLast: 2 },
};

describe('the face-world generator (renderer runs)', () => {
  it('learns to draw held-out faces from their codes and exports a generator with editing directions', async () => {
    const dir = tempDir('renderer');
    const c = loadConfig(microConfig(dir, 'render', micro));
    const r = await train(c, { runsRoot: dir, quiet: true, tty: false });
    expect(r.history[0]!.step).toBe(0);
    expect(r.history[r.history.length - 1]!.psnr).toBeGreaterThan(r.history[0]!.psnr + 2);
    const exported = path.join(r.runDir, GENERATOR_EXPORT);
    const w = readGeneratorWeights(exported);
    expect(w.latentAvg!.shape).toEqual([16]);
    expect(w.state.get('style.1.weight')!.shape).toEqual([16, FACE_CODE_DIM]); // the mapping reads face codes
    const glasses = readNpy(path.join(r.runDir, 'directions', 'glasses.npy'));
    expect(glasses.shape).toEqual([6, 16]); // nLatent of a 16x16 generator
    const summary = JSON.parse(fs.readFileSync(path.join(r.runDir, 'directions', 'directions.json'), 'utf8'));
    expect(Object.keys(summary.directions)).toEqual(expect.arrayContaining(['glasses', 'female']));
    // an inversion config uses the exported generator on rendered faces
    const inv = loadConfig(microConfig(dir, 'invert', {
      generator: { ...micro.generator, randomInit: false, checkpoint: exported }, encoder: micro.encoder, data: { kind: 'facesjs' },
      train: { steps: 4, batchSize: 2, logEvery: 2, valEvery: 4, valImages: 2, checkpointEvery: 4 },
    }));
    const exp = buildExperiment(inv, { runsRoot: dir });
    expect(exp.randomInit).toEqual([]);
    const imgs = sampleGeneratorImages(exp, 2, 1);
    expect(imgs.shape).toEqual([2, 3, 16, 16]);
    const trained = await train(inv, { runsRoot: dir, quiet: true, tty: false });
    expect(trained.step).toBe(4);
    // --export writes the best generator of a run wherever asked; inversion runs have none
    const copy = path.join(dir, 'shipped', 'generator.safetensors');
    exportRun(c, dir, copy);
    expect(fs.existsSync(path.join(dir, 'shipped', 'directions', 'female.npy'))).toBe(true);
    expect(() => exportRun(inv, dir, copy)).toThrow(/--export writes generators of renderer runs/);
  });

  it('refuses a renderer config that is not in the face world', () => {
    const dir = tempDir('renderer-bad');
    expect(() => loadConfig(microConfig(dir, 'bad', { ...micro, data: { kind: 'synthetic' } }))).toThrow(/kind 'renderer' trains a generator on face-world codes/);
  });
});
