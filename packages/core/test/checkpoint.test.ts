// Activation checkpointing (autograd checkpoint(), StyleGAN2Generator.recomputeFrom): the same
// values and gradients as the ordinary backward (W+ and every generator parameter, with random
// noise drawn once and read again during the recomputation), and less memory held for backward.
import { describe, it, expect } from 'vitest';
import { Rng, Scope, StyleGAN2Generator, Tensor, checkpoint, native, ops } from '../src/index.js';

function run(recomputeFrom: number | null, batch = 2, size = 64) {
  const g = new StyleGAN2Generator({ size, styleDim: 16, nMlp: 1, channels: { 4: 32, 8: 32, 16: 32, 32: 16, 64: 16, 128: 8 }, seed: 5 });
  for (const p of g.parameters()) p.requireGrad();
  g.recomputeFrom = recomputeFrom;
  const wPlus = new Rng(7).randn([batch, g.nLatent, 16]).requireGrad();
  const scope = new Scope();
  native.resetPeakMemory();
  const base = native.memory().cpuBytes;
  let held = 0, out: Float32Array;
  scope.run(() => {
    const img = g.synthesis(wPlus, { noise: 'random', rng: new Rng(3) });
    held = native.memory().cpuBytes - base;
    out = img.toArray();
    ops.mean(ops.mul(img, img)).backward(undefined, { freeGraph: true });
  });
  const peak = native.memory().cpuPeakBytes - base;
  scope.dispose();
  const grads = new Map<string, Float32Array>([['wPlus', wPlus.grad!.toArray()], ...[...g.namedParameters()].filter(([, p]) => p.grad).map(([n, p]) => [n, p.grad!.toArray()] as [string, Float32Array])]);
  g.release();
  return { out: out!, grads, held, peak };
}

function maxRel(a: Float32Array, b: Float32Array): number {
  let d = 0, m = 1e-6;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  return d / m;
}

describe('activation checkpointing', () => {
  it('checkpoint() of a small function: same output and gradients, for inputs and parameters', () => {
    const scope = new Scope();
    scope.run(() => {
      const w = new Rng(1).randn([4, 3]).requireGrad();
      const f = (x: Tensor, y: Tensor) => ops.tanh(ops.add(ops.linear(x, w, null), y));
      const x1 = new Rng(2).randn([5, 3]).requireGrad(), y1 = new Rng(3).randn([5, 4]);
      ops.sum(ops.mul(f(x1, y1), f(x1, y1))).backward();
      const [gx, gw] = [x1.grad!.toArray(), w.grad!.toArray()];
      w.grad = null;
      const x2 = new Rng(2).randn([5, 3]).requireGrad();
      const c = checkpoint(f, [x2, y1], [w]);
      expect(c.gradNode?.name).toBe('checkpoint');
      ops.sum(ops.mul(c, c)).backward();
      expect(maxRel(x2.grad!.toArray(), gx)).toBeLessThan(1e-6);
      expect(maxRel(w.grad!.toArray(), gw)).toBeLessThan(1e-6);
    });
    scope.dispose();
  });

  it('a StyleGAN2 recomputing its blocks from 16 px: the same image and gradients (W+ and every parameter), less memory held for backward', () => {
    // (at 1024 x 1024, batch 2, from 256 px: 2.25 GiB held after the forward pass -> 0.91 GiB)
    const plain = run(null), again = run(16);
    expect(maxRel(again.out, plain.out)).toBe(0);
    expect([...again.grads.keys()]).toEqual([...plain.grads.keys()]);
    expect(plain.grads.size).toBeGreaterThan(20);
    for (const [k, g] of plain.grads) expect(maxRel(again.grads.get(k)!, g), k).toBeLessThan(1e-5);
    expect(again.held, 'bytes held after the forward pass').toBeLessThan(0.8 * plain.held);
  });
});

describe('backward with freeGraph', () => {
  it('releases the intermediate tensors as it passes them, keeps leaves and persistent tensors, and computes the same gradients', () => {
    const scope = new Scope();
    scope.run(() => {
      const grads = (free: boolean) => {
        const w = new Rng(1).randn([4, 3]).requireGrad();
        const x = new Rng(2).randn([5, 3]);
        const h = ops.linear(x, w, null);
        const keep = ops.tanh(h);
        keep.persistent = true;
        const y = ops.sum(ops.mul(keep, h));
        y.backward(undefined, { freeGraph: free });
        return { h, keep, y, x, w, g: w.grad!.toArray() };
      };
      const a = grads(false), b = grads(true);
      expect(maxRel(b.g, a.g)).toBe(0);
      expect([a.h.released, a.y.released]).toEqual([false, false]);
      expect([b.h.released, b.y.released, b.keep.released, b.x.released, b.w.released]).toEqual([true, true, false, false, false]);
      expect(() => b.h.toArray()).toThrow(/used after release/);
    });
    scope.dispose();
  });
});
