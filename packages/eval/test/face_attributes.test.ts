// The face-world attribute classifier: its loss (BCE on logits) against the formula and finite
// differences, its optimizer, a short training run, and the shipped weights
// (pretrained/faces/attributes.safetensors) on held-out faces.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, Scope, Tensor, noGrad, ops, writeSafetensors } from '@sgi/core';
import { ATTRIBUTES, SEEDS, renderBatch, sampleFaces } from '@sgi/faces';
import {
  ATTRIBUTE_ACCURACY_TARGETS, ATTRIBUTE_NET_FILE, DEFAULT_ATTRIBUTE_NET_CONFIG, FaceAttributeNet, HostAdam, bceWithLogits,
  attributeTargets, evaluateAttributeNet, loadAttributeNet, predictAttributes, renderAttributeBatch, saveAttributeNet, trainAttributeNet, trainingSeed,
} from '../src/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const shipped = path.join(repoRoot, 'pretrained', ATTRIBUTE_NET_FILE);

/** Binary cross-entropy of one logit, in double: log(1 + e^x) - x y, computed without overflow. */
function bceRef(x: number, y: number): number {
  const softplus = x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
  return softplus - x * y;
}
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('bceWithLogits', () => {
  it('matches the direct formula, also for large logits and soft targets', () => {
    const xs = [-40, -12.5, -3, -1, -0.25, 0, 0.3, 1, 2.5, 7, 15, 40];
    const ys = xs.map((_, i) => [0, 1, 0.3][i % 3]!);
    const loss = bceWithLogits(Tensor.fromArray(xs, [3, 4]), Tensor.fromArray(ys, [3, 4])).item();
    const ref = xs.reduce((s, x, i) => s + bceRef(x, ys[i]!), 0) / xs.length;
    expect(Number.isFinite(loss)).toBe(true);
    expect(Math.abs(loss - ref) / ref).toBeLessThan(1e-5);
    // and -[y log p + (1 - y) log(1 - p)] where p is representable
    const mid = [-2, -0.5, 0.1, 1.5, 3];
    const t = [1, 0, 1, 0, 1];
    const direct = mid.reduce((s, x, i) => s - (t[i]! * Math.log(sigmoid(x)) + (1 - t[i]!) * Math.log(1 - sigmoid(x))), 0) / mid.length;
    expect(bceWithLogits(Tensor.fromArray(mid, [5]), Tensor.fromArray(t, [5])).item()).toBeCloseTo(direct, 5);
  });

  it('has the gradient (sigmoid(x) - y) / N, and it matches finite differences', () => {
    const rng = new Rng(3);
    const n = 4 * 7;
    // logits away from 0 (the |x| kink) by more than the finite-difference step
    const xs = Float32Array.from({ length: n }, () => { const u = rng.next() * 8 - 4; return Math.abs(u) < 0.1 ? u + 0.3 : u; });
    const ys = Float32Array.from({ length: n }, () => (rng.next() < 0.4 ? 1 : 0));
    const y = Tensor.fromArray(ys, [4, 7]);
    const x = Tensor.fromArray(xs, [4, 7]).requireGrad();
    bceWithLogits(x, y).backward();
    const g = x.grad!.toArray();
    const lossAt = (arr: Float32Array) => noGrad(() => bceWithLogits(Tensor.fromArray(arr, [4, 7]), y).item());
    const eps = 1e-2;
    let maxRel = 0;
    for (let i = 0; i < n; i++) {
      const exact = (sigmoid(xs[i]!) - ys[i]!) / n;
      expect(Math.abs(g[i]! - exact)).toBeLessThan(1e-6);
      const plus = xs.slice(); plus[i]! += eps;
      const minus = xs.slice(); minus[i]! -= eps;
      const numeric = (lossAt(plus) - lossAt(minus)) / (2 * eps);
      maxRel = Math.max(maxRel, Math.abs(numeric - g[i]!) / Math.max(1e-3, Math.abs(g[i]!)));
    }
    expect(maxRel).toBeLessThan(2e-2);
  });

  it('gives no gradient to the targets and refuses mismatched shapes', () => {
    const x = Tensor.fromArray([0.5, -1], [1, 2]).requireGrad();
    const y = Tensor.fromArray([1, 0], [1, 2]).requireGrad();
    bceWithLogits(x, y).backward();
    expect(x.grad).not.toBeNull();
    expect(y.grad).toBeNull();
    expect(() => bceWithLogits(Tensor.zeros([2, 7]), Tensor.zeros([2, 6]))).toThrow(/differ in shape/);
  });
});

describe('HostAdam', () => {
  it('takes PyTorch Adam steps (first step: lr * sign(g))', () => {
    const p = Tensor.fromArray([1, 2, -3], [3]).requireGrad();
    const adam = new HostAdam([p], 0.1);
    ops.sum(ops.mul(p, Tensor.fromArray([3, -4, 0.5], [3]))).backward();
    adam.step();
    const a = p.toArray();
    expect(a[0]).toBeCloseTo(0.9, 5);
    expect(a[1]).toBeCloseTo(2.1, 5);
    expect(a[2]).toBeCloseTo(-3.1, 5);
    expect(p.grad).toBeNull();
    // second step with the same gradient: m / sqrt(v) stays 1 after bias correction
    ops.sum(ops.mul(p, Tensor.fromArray([3, -4, 0.5], [3]))).backward();
    adam.step();
    expect(p.toArray()[0]).toBeCloseTo(0.8, 5);
  });
});

describe('FaceAttributeNet', () => {
  it('maps [B, 3, 64, 64] to 7 probabilities and round-trips through its weight file', () => {
    const net = new FaceAttributeNet(DEFAULT_ATTRIBUTE_NET_CONFIG, new Rng(1)).eval();
    expect(net.numParameters()).toBeLessThan(250_000); // < 1 MB as float32
    const x = new Rng(2).uniform([2, 3, 64, 64], -1, 1);
    const p = predictAttributes(net, x);
    expect(p.length).toBe(2 * ATTRIBUTES.length);
    expect(p.every((v) => v > 0 && v < 1)).toBe(true);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-attr-')), 'net.safetensors');
    saveAttributeNet(net, file, { note: 'test' });
    const { net: back, metadata } = loadAttributeNet(file);
    expect(metadata.note).toBe('test');
    expect(Array.from(predictAttributes(back, x))).toEqual(Array.from(p));
    expect(() => net.forward(Tensor.zeros([1, 3, 32, 32]))).toThrow(/expected images \[B, 3, 64, 64\]/);
    // a file without the architecture in its metadata is refused with a reason
    const bare = path.join(path.dirname(file), 'bare.safetensors');
    writeSafetensors(bare, [...net.stateDict()].map(([k, t]) => [k, { shape: t.shape, data: t.toArray() }]));
    expect(() => loadAttributeNet(bare)).toThrow(/no valid FaceAttributeNet architecture/);
  });

  it('trains on training seeds only, and a few steps lower the loss on held-out faces', async () => {
    expect(trainingSeed(0, 0, 32)).toBe(SEEDS.train);
    expect(trainingSeed(63, 2 ** 19 - 1, 32) + 32).toBeLessThanOrEqual(SEEDS.heldOut);
    const probe = await renderAttributeBatch(SEEDS.heldOut + 5000, 64);
    const x = Tensor.fromArray(probe.images, [64, 3, 64, 64]);
    const y = Tensor.fromArray(probe.targets, [64, ATTRIBUTES.length]);
    const lossOf = (net: FaceAttributeNet) => {
      const scope = new Scope();
      try {
        return scope.run(() => noGrad(() => bceWithLogits(net.forward(x), y).item()));
      } finally {
        scope.dispose();
      }
    };
    const net = new FaceAttributeNet(DEFAULT_ATTRIBUTE_NET_CONFIG, new Rng(5));
    const before = lossOf(net);
    const { losses } = await trainAttributeNet({ steps: 30, batchSize: 16, lr: 3e-3, seed: 5, net, minLrFactor: 1 });
    const after = lossOf(net);
    expect(losses.length).toBe(30);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(after).toBeLessThan(before - 0.05);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)));
  });
});

describe('the shipped attribute classifier', () => {
  it('pretrained/faces/attributes.safetensors loads and reaches its accuracy targets on 200 held-out faces', async () => {
    if (!fs.existsSync(shipped)) {
      throw new Error(`${shipped} is missing: it ships with the repository; train it with \`npx tsc -b packages/eval && node packages/eval/dist/bin/train_attributes.js\``);
    }
    expect(fs.statSync(shipped).size).toBeLessThan(1_000_000);
    const { net, metadata } = loadAttributeNet(shipped);
    expect(JSON.parse(metadata.attributes!)).toEqual([...ATTRIBUTES]);
    const ev = await evaluateAttributeNet(net, 200);
    expect(ev.firstSeed).toBe(SEEDS.heldOut);
    const report = ATTRIBUTES.map((a) => `${a} ${ev.accuracy[a].toFixed(3)}`).join(', ');
    console.log(`held-out accuracy (200 faces): ${report}`);
    for (const [a, target] of Object.entries(ATTRIBUTE_ACCURACY_TARGETS)) {
      expect(ev.accuracy[a as keyof typeof ev.accuracy], `${a} (${report})`).toBeGreaterThanOrEqual(target);
    }
    // smile and hat have no target; they must still beat always answering the majority class
    for (const a of ['smile', 'hat'] as const) {
      expect(ev.accuracy[a], `${a} (${report})`).toBeGreaterThan(Math.max(ev.positives[a], 1 - ev.positives[a]));
    }
    // 128x128 renders (a larger generator's output) are area-downsampled to 64 first
    const faces = sampleFaces(SEEDS.heldOut + 300, 50);
    const p = predictAttributes(net, Tensor.fromArray(await renderBatch(faces, 128), [50, 3, 128, 128]));
    const t = attributeTargets(faces);
    const right = Array.from(p).filter((v, i) => (v > 0.5 ? 1 : 0) === t[i]).length;
    expect(right / p.length).toBeGreaterThanOrEqual(0.95);
  });
});
