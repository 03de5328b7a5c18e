// Multi-stage inversion: W1 = E1(x) + w_avg; Wt = Et(cat(x, pool(G(W_{t-1})))) + W_{t-1}, or
// + w_avg without the residual; earlier stages frozen; gradients reach only the trained stage.
import { describe, it, expect } from 'vitest';
import { Encoder, MultiStageInversion, Rng, StyleGAN2Generator, Tensor, noGrad, ops, type EncoderConfig } from '../src/index.js';

const styleDim = 8;
function tiny(): { g: StyleGAN2Generator; stages: Encoder[]; avg: Tensor } {
  const g = new StyleGAN2Generator({ size: 16, styleDim, nMlp: 1, channels: { 4: 8, 8: 8, 16: 4 }, seed: 2 }).eval().freeze();
  const cfg = (inChannels: number): EncoderConfig => ({ inChannels, widths: [4, 4, 8], units: [1, 1, 1], latentDim: styleDim, nLatent: g.nLatent, head: '3E', pools: [2, 2, 2] });
  const stages = [new Encoder(cfg(3), { rng: new Rng(1), inputSize: 16 }), new Encoder(cfg(6), { rng: new Rng(2), inputSize: 16 })];
  const avg = noGrad(() => g.meanLatent(64, new Rng(3)));
  avg.persistent = true;
  return { g, stages, avg };
}

describe('multi-stage inversion', () => {
  it('follows the residual recursion and pools the reconstruction to the encoder input', () => {
    const { g, stages, avg } = tiny();
    const m = new MultiStageInversion(stages, g, avg, { inputSize: 16 }).eval();
    const x = new Rng(4).uniform([2, 3, 16, 16], -1, 1);
    const r = noGrad(() => m.forward(x, { withImages: true }));
    expect(r.codes.length).toBe(2);
    expect(r.images.map((i) => i.shape)).toEqual([[2, 3, 16, 16], [2, 3, 16, 16]]);
    const w1 = noGrad(() => ops.add(stages[0]!.forward(x), avg));
    expect(Math.max(...r.codes[0]!.toArray().map((v, i) => Math.abs(v - w1.toArray()[i]!)))).toBeLessThan(1e-5);
    const img1 = noGrad(() => g.synthesis(w1));
    const w2 = noGrad(() => ops.add(stages[1]!.forward(ops.cat([x, img1], 1)), w1));
    expect(Math.max(...r.codes[1]!.toArray().map((v, i) => Math.abs(v - w2.toArray()[i]!)))).toBeLessThan(1e-5);
  });

  it('without the residual, stage 2 adds the mean latent instead of W1 (2Stage*)', () => {
    const { g, stages, avg } = tiny();
    const m = new MultiStageInversion(stages, g, avg, { inputSize: 16, residual: false }).eval();
    const x = new Rng(5).uniform([1, 3, 16, 16], -1, 1);
    const r = noGrad(() => m.forward(x));
    const img1 = noGrad(() => g.synthesis(r.codes[0]!));
    const w2 = noGrad(() => ops.add(stages[1]!.forward(ops.cat([x, img1], 1)), avg));
    expect(Math.max(...r.codes[1]!.toArray().map((v, i) => Math.abs(v - w2.toArray()[i]!)))).toBeLessThan(1e-5);
  });

  it('training stage 2: gradients reach stage 2 only; stage 1 and G stay frozen', () => {
    const { g, stages, avg } = tiny();
    stages[0]!.eval().freeze();
    const m = new MultiStageInversion(stages, g, avg, { inputSize: 16 });
    stages[1]!.train();
    const x = new Rng(6).uniform([2, 3, 16, 16], -1, 1);
    const { images } = m.forward(x, { trainFrom: 2, withImages: true });
    const loss = ops.mseLoss(images[1]!, x);
    loss.backward();
    expect(stages[1]!.parameters().every((p) => p.grad !== null)).toBe(true);
    expect(stages[0]!.parameters().every((p) => p.grad === null)).toBe(true);
    expect(g.parameters().every((p) => p.grad === null)).toBe(true);
  });

  it('rejects stages with the wrong number of input channels', () => {
    const { g, stages, avg } = tiny();
    expect(() => new MultiStageInversion([stages[1]!], g, avg)).toThrow(/stage 1 must take 3 input channels/);
  });
});
