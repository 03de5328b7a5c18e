import { describe, it, expect } from 'vitest';
import { Tensor, ops, tidy, native } from '../src/index.js';
import { loadFixture, fixtureCases, get, toTensor, expectClose, gradcheck, randTensor } from './helpers.js';

type Case = { op: string; inputs: string[]; params: string[]; slope?: number; gain?: number };

const f = loadFixture('ops.safetensors');
const cases = Object.entries(fixtureCases<Record<string, Case>>(f));

/** The op of a fixture case applied to its inputs and params (in metadata order). */
const apply: Record<string, (t: Record<string, Tensor>, c: Case) => Tensor> = {
  prelu: (t) => ops.prelu(t.x!, t.weight!),
  fused_leaky_relu: (t, c) => ops.fusedLeakyRelu(t.x!, t.bias!, { slope: c.slope, gain: c.gain }),
  relu: (t) => ops.relu(t.x!),
  sigmoid: (t) => ops.sigmoid(t.x!),
  leaky_relu: (t, c) => ops.leakyRelu(t.x!, c.slope),
};

describe('activations: fixture parity', () => {
  const mine = cases.filter(([, c]) => c.op in apply);
  it('has the activation cases', () => {
    for (const op of Object.keys(apply)) expect(mine.some(([, c]) => c.op === op), op).toBe(true);
  });
  for (const [name, c] of mine) {
    it(name, () => {
      const t: Record<string, Tensor> = {};
      for (const k of [...c.inputs, ...c.params]) t[k] = toTensor(get(f, `${name}.${k}`), true);
      const out = apply[c.op]!(t, c);
      expectClose(out, get(f, `${name}.out`), 1e-4, `${name}.out`);
      out.backward(toTensor(get(f, `${name}.grad_out`)));
      for (const [k, v] of Object.entries(t)) {
        const key = `${name}.grad_${k}`;
        if (!f.tensors.has(key)) continue;
        expect(v.grad, `${key}: no gradient`).not.toBeNull();
        expectClose(v.grad!, get(f, key), 1e-3, key);
      }
    });
  }
});

/** Random values with |v| >= 0.1 so finite differences never straddle the kink at 0. */
function awayFromZero(shape: number[], seed: number): Tensor {
  const d = randTensor(shape, seed).toArray().map((v) => Math.sign(v || 1) * (0.1 + Math.abs(v)));
  return Tensor.fromArray(d, shape).requireGrad();
}

describe('prelu: kernels', () => {
  it('matches the formula on large [N, C, H, W] and [N, C] inputs (parallel paths)', () => {
    for (const shape of [[4, 16, 40, 40], [1024, 64]]) {
      const x = randTensor(shape, 1);
      const w = randTensor([shape[1]!], 2);
      const s = shape.slice(2).reduce((a, v) => a * v, 1), c = shape[1]!;
      const xd = x.toArray(), wd = w.toArray();
      const ref = xd.map((v, i) => (v > 0 ? v : wd[Math.floor(i / s) % c]! * v));
      expectClose(ops.prelu(x, w).toArray(), ref, 1e-6, `prelu ${shape}`);
      // weight gradient = sum over x <= 0 of gy * x, per channel
      const y = ops.prelu(x, w);
      const g = randTensor(shape, 3).detach();
      y.backward(g);
      const gd = g.toArray(), gw = new Float64Array(c);
      xd.forEach((v, i) => { if (v <= 0) gw[Math.floor(i / s) % c] += gd[i]! * v; });
      expectClose(w.grad!.toArray(), Float32Array.from(gw), 1e-4, `prelu grad weight ${shape}`);
    }
  });

  it('gradients match finite differences (4-d, 2-d, shared weight, 1-d input)', () => {
    gradcheck((x, w) => ops.prelu(x, w), [awayFromZero([2, 3, 4, 5], 11), randTensor([3], 12)]);
    gradcheck((x, w) => ops.prelu(x, w), [awayFromZero([5, 6], 13), randTensor([6], 14)]);
    gradcheck((x, w) => ops.prelu(x, w), [awayFromZero([2, 3, 4], 15), randTensor([1], 16)]);
    gradcheck((x, w) => ops.prelu(x, w), [awayFromZero([7], 17), randTensor([1], 18)]);
  });
});

describe('fusedLeakyRelu: kernels', () => {
  it('defaults to slope 0.2 and gain sqrt 2, and works without a bias', () => {
    const x = Tensor.fromArray([-1, 2, -3, 4], [2, 2]);
    const b = Tensor.fromArray([0.5, -0.5], [2]);
    const expected = [-0.5 * 0.2, 1.5, -2.5 * 0.2, 3.5].map((v) => v * Math.SQRT2);
    expectClose(ops.fusedLeakyRelu(x, b).toArray(), Float32Array.from(expected), 1e-6, 'defaults');
    expectClose(ops.fusedLeakyRelu(x, null, { slope: 0.1, gain: 2 }).toArray(), Float32Array.from([-0.2, 4, -0.6, 8]), 1e-6, 'no bias');
  });

  it('matches the formula on a large input with its bias gradient (parallel, long rows)', () => {
    const shape = [2, 8, 64, 64];
    const x = randTensor(shape, 21), b = randTensor([8], 22);
    const y = ops.fusedLeakyRelu(x, b, { slope: 0.2, gain: Math.SQRT2 });
    const xd = x.toArray(), bd = b.toArray(), s = 64 * 64;
    const ref = xd.map((v, i) => { const z = v + bd[Math.floor(i / s) % 8]!; return (z > 0 ? z : 0.2 * z) * Math.SQRT2; });
    expectClose(y.toArray(), ref, 1e-6, 'forward');
    const g = randTensor(shape, 23).detach();
    y.backward(g);
    const gd = g.toArray(), gb = new Float64Array(8);
    xd.forEach((v, i) => { const ch = Math.floor(i / s) % 8; const z = v + bd[ch]!; gb[ch] += gd[i]! * (z > 0 ? 1 : 0.2) * Math.SQRT2; });
    expectClose(b.grad!.toArray(), Float32Array.from(gb), 1e-4, 'bias gradient');
  });

  it('gradients match finite differences (4-d and 2-d)', () => {
    const small = () => Tensor.fromArray(randTensor([3], 31).toArray().map((v) => v * 0.02), [3]).requireGrad();
    gradcheck((x, b) => ops.fusedLeakyRelu(x, b), [awayFromZero([2, 3, 4, 4], 32), small()]);
    gradcheck((x, b) => ops.fusedLeakyRelu(x, b, { slope: 0.1, gain: 3 }), [awayFromZero([4, 3], 33), small()]);
  });

  it('leaves no live storages behind', () => {
    const x = randTensor([2, 4, 3, 3], 41), b = randTensor([4], 42), w = randTensor([4], 43);
    for (const t of [x, b, w]) t.persistent = true;
    const before = native.memory().liveStorages;
    for (let i = 0; i < 200; i++) {
      tidy(() => {
        ops.sum(ops.prelu(ops.fusedLeakyRelu(x, b), w)).backward();
        for (const t of [x, b, w]) { t.grad?.release(); t.grad = null; }
      });
    }
    expect(native.memory().liveStorages).toBe(before);
  });
});

describe('activations: bad input', () => {
  it('names the op and the shapes', () => {
    const x = Tensor.zeros([2, 4, 5, 5]);
    expect(() => ops.prelu(x, Tensor.ones([3]))).toThrow(/prelu: weight has shape \[3\], expected \[4\] or \[1\].*\[2, 4, 5, 5\]/);
    expect(() => ops.prelu(x, Tensor.ones([4, 1]))).toThrow(/prelu: weight has shape \[4, 1\]/);
    expect(() => ops.fusedLeakyRelu(x, Tensor.ones([5]))).toThrow(/fusedLeakyRelu: bias has shape \[5\], expected \[4\].*\[2, 4, 5, 5\]/);
    expect(() => ops.fusedLeakyRelu(Tensor.zeros([4]), Tensor.ones([4]))).toThrow(/fusedLeakyRelu: input must have a channel dimension.*\[4\]/);
  });

  it('the native functions check sizes', () => {
    const x = Tensor.zeros([2, 3, 4]);
    expect(() => native.preluForward(x.storage, Tensor.zeros([2]).storage, x.storage, 2, 3, 4))
      .toThrow(/preluForward: tensor 'weight' has 2 elements, expected 3/);
    expect(() => native.fusedLeakyReluBackward(x.storage, null, x.storage, Tensor.zeros([5]).storage, null, 2, 3, 4, 0.2, 1))
      .toThrow(/fusedLeakyReluBackward: tensor 'gx' has 5 elements, expected 24/);
  });
});
