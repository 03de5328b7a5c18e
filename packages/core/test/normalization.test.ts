import { describe, it, expect } from 'vitest';
import { Tensor, ops, tidy, noGrad, native } from '../src/index.js';
import { loadFixture, fixtureCases, get, toTensor, expectClose, gradcheck, randTensor } from './helpers.js';

type Case = { op: string; inputs: string[]; params: string[]; training?: boolean; momentum?: number; eps?: number; running_mean?: string; running_var?: string };

const f = loadFixture('ops.safetensors');
const cases = Object.entries(fixtureCases<Record<string, Case>>(f));
const has = (key: string) => f.tensors.has(key);

/** Compares every `<case>.grad_<name>` stored for the given tensors after backward(grad_out). */
function checkGrads(name: string, byName: Record<string, Tensor | null>): void {
  for (const [n, t] of Object.entries(byName)) {
    const key = `${name}.grad_${n}`;
    if (!has(key) || !t) continue;
    expect(t.grad, `${key}: no gradient`).not.toBeNull();
    expectClose(t.grad!, get(f, key), 1e-3, key);
  }
}

describe('batchNorm: fixture parity', () => {
  const bn = cases.filter(([, c]) => c.op === 'batch_norm');
  it('has the batch_norm cases', () => expect(bn.length).toBeGreaterThanOrEqual(3));
  for (const [name, c] of bn) {
    it(name, () => {
      const x = toTensor(get(f, `${name}.x`), true);
      const params: Record<string, Tensor | null> = {};
      for (const p of c.params) params[p] = toTensor(get(f, `${name}.${p}`), true);
      // running statistics: a referenced key (eval), the stored "before" values (train), or none
      const rmKey = c.running_mean ?? (has(`${name}.running_mean_before`) ? `${name}.running_mean_before` : null);
      const rvKey = c.running_var ?? (has(`${name}.running_var_before`) ? `${name}.running_var_before` : null);
      const rm = rmKey ? toTensor(get(f, rmKey)) : null;
      const rv = rvKey ? toTensor(get(f, rvKey)) : null;
      const out = ops.batchNorm(x, params.weight ?? null, params.bias ?? null, rm, rv, {
        training: c.training ?? false, momentum: c.momentum, eps: c.eps,
      });
      expectClose(out, get(f, `${name}.out`), 1e-4, `${name}.out`);
      out.backward(toTensor(get(f, `${name}.grad_out`)));
      checkGrads(name, { x, ...params });
      if (has(`${name}.running_mean_after`)) expectClose(rm!, get(f, `${name}.running_mean_after`), 1e-4, `${name}.running_mean_after`);
      if (has(`${name}.running_var_after`)) expectClose(rv!, get(f, `${name}.running_var_after`), 1e-4, `${name}.running_var_after`);
      if (!c.training && rm) {
        // evaluation leaves the running statistics untouched
        expectClose(rm, get(f, rmKey!), 0, 'running mean unchanged');
        expectClose(rv!, get(f, rvKey!), 0, 'running var unchanged');
      }
    });
  }
});

describe('pixelNorm: fixture parity', () => {
  const pn = cases.filter(([, c]) => c.op === 'pixel_norm');
  it('has the pixel_norm cases', () => expect(pn.length).toBeGreaterThanOrEqual(1));
  for (const [name, c] of pn) {
    it(name, () => {
      const x = toTensor(get(f, `${name}.x`), true);
      const out = c.eps === undefined ? ops.pixelNorm(x) : ops.pixelNorm(x, c.eps);
      expectClose(out, get(f, `${name}.out`), 1e-4, `${name}.out`);
      out.backward(toTensor(get(f, `${name}.grad_out`)));
      checkGrads(name, { x });
    });
  }
});

/** Float64 reference of batch norm in training mode over [N, C, S]. */
function bnReference(x: Float32Array, n: number, c: number, s: number, w: Float32Array, b: Float32Array, eps: number) {
  const y = new Float64Array(x.length), mean = new Float64Array(c), varb = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let i = 0; i < n; i++) for (let k = 0; k < s; k++) sum += x[(i * c + ch) * s + k]!;
    const m = sum / (n * s);
    let sq = 0;
    for (let i = 0; i < n; i++) for (let k = 0; k < s; k++) sq += (x[(i * c + ch) * s + k]! - m) ** 2;
    const v = sq / (n * s);
    mean[ch] = m; varb[ch] = v;
    for (let i = 0; i < n; i++) for (let k = 0; k < s; k++) {
      const j = (i * c + ch) * s + k;
      y[j] = ((x[j]! - m) / Math.sqrt(v + eps)) * w[ch]! + b[ch]!;
    }
  }
  return { y: Float32Array.from(y), mean, varb };
}

describe('batchNorm: kernels', () => {
  it('matches a float64 reference on a multi-threaded size (long rows, running-stat update)', () => {
    const [n, c, h, w] = [4, 8, 64, 64];
    const x = randTensor([n, c, h, w], 11, -2, 3);
    const wt = randTensor([c], 12, 0.5, 1.5), bs = randTensor([c], 13);
    const rm = randTensor([c], 14).detach(), rv = randTensor([c], 15, 0.5, 2).detach();
    const rm0 = rm.toArray(), rv0 = rv.toArray();
    const ref = bnReference(x.toArray(), n, c, h * w, wt.toArray(), bs.toArray(), 1e-5);
    const y = ops.batchNorm(x, wt, bs, rm, rv, { training: true, momentum: 0.3 });
    expectClose(y, ref.y, 1e-4, 'out');
    const m = n * h * w;
    const expRm = rm0.map((v, i) => 0.7 * v + 0.3 * ref.mean[i]!);
    const expRv = rv0.map((v, i) => 0.7 * v + (0.3 * ref.varb[i]! * m) / (m - 1));
    expectClose(rm.toArray(), expRm, 1e-5, 'running mean');
    expectClose(rv.toArray(), expRv, 1e-5, 'running var');
  });

  it('gradients match finite differences (2-d, 3-d and 4-d, training and eval, with and without affine)', () => {
    for (const shape of [[3, 4], [2, 3, 5], [2, 3, 4, 5]]) {
      const c = shape[1]!;
      const x = randTensor(shape, 21);
      const w = randTensor([c], 22, 0.5, 1.5), b = randTensor([c], 23);
      gradcheck((a, ww, bb) => ops.batchNorm(a, ww, bb, null, null, { training: true }), [x, w, b], { eps: 1e-3 });
      const rm = randTensor([c], 24).detach(), rv = randTensor([c], 25, 0.5, 2).detach();
      gradcheck((a, ww, bb) => ops.batchNorm(a, ww, bb, rm, rv, { training: false }), [x, w, b], { eps: 1e-3 });
      gradcheck((a) => ops.batchNorm(a, null, null, null, null, { training: true, eps: 1e-3 }), [x], { eps: 1e-3 });
    }
  });

  it('computes only the gradients that are needed', () => {
    const x = randTensor([2, 3, 4], 31).detach();
    const w = randTensor([3], 32, 0.5, 1.5);
    const b = Tensor.zeros([3]);
    const y = ops.batchNorm(x, w, b, null, null, { training: true });
    ops.sum(ops.square(y)).backward();
    expect(w.grad).not.toBeNull();
    expect(x.grad).toBeNull();
    expect(b.grad).toBeNull();
  });

  it('releases its saved statistics: no live storages left behind', () => {
    const x = randTensor([2, 4, 3, 3], 33);
    const w = randTensor([4], 34);
    x.persistent = true; w.persistent = true;
    const rm = Tensor.zeros([4]), rv = Tensor.ones([4]);
    const before = native.memory().liveStorages;
    for (let i = 0; i < 200; i++) {
      tidy(() => {
        ops.sum(ops.batchNorm(x, w, null, rm, rv, { training: true })).backward();
        x.grad?.release(); x.grad = null;
        w.grad?.release(); w.grad = null;
      });
    }
    const y = noGrad(() => ops.batchNorm(x, w, null, rm, rv, { training: false }));
    y.release();
    expect(native.memory().liveStorages).toBe(before);
  });
});

describe('pixelNorm: kernels', () => {
  it('matches a float64 reference for [N, C] and [N, C, H, W] (partial spatial blocks)', () => {
    for (const shape of [[5, 512], [2, 16, 40, 40]]) {
      const [n, c] = shape as [number, number];
      const s = shape.slice(2).reduce((a, v) => a * v, 1);
      const x = randTensor(shape, 41, -3, 3);
      const xd = x.toArray();
      const ref = new Float32Array(xd.length);
      for (let i = 0; i < n; i++) for (let k = 0; k < s; k++) {
        let acc = 0;
        for (let ch = 0; ch < c; ch++) acc += xd[(i * c + ch) * s + k]! ** 2;
        const r = 1 / Math.sqrt(acc / c + 1e-8);
        for (let ch = 0; ch < c; ch++) ref[(i * c + ch) * s + k] = xd[(i * c + ch) * s + k]! * r;
      }
      expectClose(ops.pixelNorm(x).toArray(), ref, 1e-5, `pixelNorm ${shape}`);
    }
  });

  it('gradients match finite differences', () => {
    gradcheck((a) => ops.pixelNorm(a), [randTensor([3, 8], 51)], { eps: 1e-3 });
    gradcheck((a) => ops.pixelNorm(a), [randTensor([2, 5, 3, 7], 52)], { eps: 1e-3 });
    gradcheck((a) => ops.pixelNorm(a, 1e-2), [randTensor([2, 4, 300], 53)], { eps: 1e-3 });
  });
});

describe('normalization: bad input', () => {
  it('names the op and the shapes', () => {
    const x = Tensor.zeros([3, 5, 6, 7]);
    expect(() => ops.batchNorm(x, Tensor.ones([4]), null, null, null, { training: true }))
      .toThrow(/batchNorm: weight has shape \[4\], expected \[5\].*\[3, 5, 6, 7\]/);
    expect(() => ops.batchNorm(x, null, Tensor.ones([5, 1]), null, null, { training: true }))
      .toThrow(/batchNorm: bias has shape \[5, 1\], expected \[5\]/);
    expect(() => ops.batchNorm(x, null, null, Tensor.zeros([6]), Tensor.ones([5]), { training: true }))
      .toThrow(/batchNorm: runningMean has shape \[6\], expected \[5\]/);
    expect(() => ops.batchNorm(x, null, null, null, null, { training: false }))
      .toThrow(/batchNorm: evaluation mode needs runningMean and runningVar/);
    expect(() => ops.batchNorm(Tensor.zeros([1, 5]), null, null, null, null, { training: true }))
      .toThrow(/batchNorm: training needs more than one value per channel, got input \[1, 5\]/);
    expect(() => ops.batchNorm(Tensor.zeros([5]), null, null, null, null, { training: true }))
      .toThrow(/batchNorm: input must have a channel dimension.*\[5\]/);
    expect(() => ops.pixelNorm(Tensor.zeros([8]))).toThrow(/pixelNorm: input must have a channel dimension.*\[8\]/);
  });

  it('the native functions check sizes', () => {
    const x = Tensor.zeros([2, 3, 4]);
    const c = Tensor.zeros([3]);
    expect(() => native.batchNormForward(x.storage, null, null, null, null, Tensor.zeros([23]).storage, c.storage, c.storage, 2, 3, 4, true, 0.1, 1e-5))
      .toThrow(/batchNormForward: tensor 'y' has 23 elements, expected 24/);
    expect(() => native.batchNormForward(x.storage, Tensor.zeros([4]).storage, null, null, null, x.storage, c.storage, c.storage, 2, 3, 4, true, 0.1, 1e-5))
      .toThrow(/batchNormForward: tensor 'weight' has 4 elements, expected 3/);
    expect(() => native.pixelNormForward(x.storage, x.storage, Tensor.zeros([7]).storage, 2, 3, 4, 1e-8))
      .toThrow(/pixelNormForward: tensor 'inv' has 7 elements, expected 8/);
    expect(() => native.batchNormBackward(x.storage, x.storage, null, c.storage, c.storage, null, null, null, 2, -3, 4, true))
      .toThrow(/batchNormBackward: argument 'c' must be >= 0/);
  });
});
