// Pooling family: fixture parity (ops.safetensors), finite-difference gradchecks, naive
// reference implementations for the options the fixtures do not cover, and bad input.
import { describe, it, expect } from 'vitest';
import { Tensor, ops, tidy, native } from '../src/index.js';
import { loadFixture, fixtureCases, get, toTensor, expectClose, gradcheck, randTensor, rng, expectSameWithThreads } from './helpers.js';

type Case = Record<string, any> & { op: string; inputs: string[] };

const POOL_OPS = ['adaptive_avg_pool2d', 'id_crop', 'max_pool2d', 'avg_pool2d'];

function runCase(meta: Case, x: Tensor): Tensor {
  switch (meta.op) {
    case 'adaptive_avg_pool2d':
      return ops.adaptiveAvgPool2d(x, meta.output_size);
    case 'id_crop':
      return ops.cropAndPool(x, meta.crop, meta.output_size);
    case 'max_pool2d':
      return ops.maxPool2d(x, { kernel: meta.kernel, stride: meta.stride, padding: meta.padding ?? 0, ceilMode: meta.ceil_mode ?? false });
    case 'avg_pool2d':
      return ops.avgPool2d(x, {
        kernel: meta.kernel, stride: meta.stride, padding: meta.padding ?? 0,
        ceilMode: meta.ceil_mode ?? false, countIncludePad: meta.count_include_pad ?? true,
      });
    default:
      throw new Error(`unexpected op ${meta.op}`);
  }
}

/** Distinct, well-separated values (spacing 0.05) so max-pool argmaxes are stable under +-1e-2 probes. */
function separated(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const r = rng(seed);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return Tensor.fromArray(perm.map((p) => (p - n / 2) * 0.05), shape).requireGrad();
}

/** Naive PyTorch-semantics pooling (dilation 1) on host arrays, for cross-checks. */
function naivePool(kind: 'max' | 'avg', x: Tensor, k: number[], s: number[], p: number[], ceil: boolean, includePad: boolean): { shape: number[]; data: Float32Array } {
  const [n, c, h, w] = x.shape as number[];
  const xs = x.toArray();
  const outDim = (size: number, kk: number, ss: number, pp: number) => {
    let o = Math.floor((size + 2 * pp - kk + (ceil ? ss - 1 : 0)) / ss) + 1;
    if (ceil && (o - 1) * ss >= size + pp) o--;
    return o;
  };
  const oh = outDim(h!, k[0]!, s[0]!, p[0]!), ow = outDim(w!, k[1]!, s[1]!, p[1]!);
  const out = new Float32Array(n! * c! * oh * ow);
  for (let pl = 0; pl < n! * c!; pl++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const hs = i * s[0]! - p[0]!, ws = j * s[1]! - p[1]!;
        const he = Math.min(hs + k[0]!, h! + p[0]!), we = Math.min(ws + k[1]!, w! + p[1]!);
        let acc = kind === 'max' ? -Infinity : 0, count = 0;
        for (let a = Math.max(hs, 0); a < Math.min(he, h!); a++) {
          for (let b = Math.max(ws, 0); b < Math.min(we, w!); b++) {
            const v = xs[pl * h! * w! + a * w! + b]!;
            acc = kind === 'max' ? Math.max(acc, v) : acc + v;
            count++;
          }
        }
        out[pl * oh * ow + i * ow + j] = kind === 'max' ? acc : acc / (includePad ? (he - hs) * (we - ws) : count);
      }
    }
  }
  return { shape: [n!, c!, oh, ow], data: out };
}

describe('pooling: fixture parity (ops.safetensors)', () => {
  const f = loadFixture('ops.safetensors');
  const cases = Object.entries(fixtureCases<Record<string, Case>>(f)).filter(([, m]) => POOL_OPS.includes(m.op));

  it('has cases for every pooling op', () => {
    for (const op of POOL_OPS) expect(cases.some(([, m]) => m.op === op), op).toBe(true);
  });

  for (const [name, meta] of cases) {
    it(`${name} (${meta.op}) forward and grad_x`, () => {
      tidy(() => {
        const x = toTensor(get(f, `${name}.x`), true);
        const y = runCase(meta, x);
        expectClose(y, get(f, `${name}.out`), 1e-4, `${name} out`);
        y.backward(toTensor(get(f, `${name}.grad_out`)));
        expectClose(x.grad!, get(f, `${name}.grad_x`), 1e-3, `${name} grad_x`);
        x.grad!.release();
      });
    });
  }

  it('idCrop() uses the crop and size of the fixture case', () => {
    const [name, meta] = cases.find(([, m]) => m.op === 'id_crop')!;
    expect([...ops.ID_CROP]).toEqual(meta.crop);
    expect([...ops.ID_CROP_SIZE]).toEqual(meta.output_size);
    tidy(() => expectClose(ops.idCrop(toTensor(get(f, `${name}.x`))), get(f, `${name}.out`), 1e-4, 'idCrop'));
  });
});

describe('pooling: gradients and references', () => {
  it('adaptiveAvgPool2d: non-divisible, up-sampling and mixed sizes match finite differences', () => {
    gradcheck((t) => ops.adaptiveAvgPool2d(t, [3, 4]), [randTensor([2, 3, 7, 9], 11)]);
    gradcheck((t) => ops.adaptiveAvgPool2d(t, [7, 6]), [randTensor([1, 2, 5, 3], 12)]);
    gradcheck((t) => ops.adaptiveAvgPool2d(t, 1), [randTensor([3, 1, 5, 7], 13)]);
  });

  it('adaptiveAvgPool2d to 1x1 is the spatial mean; same size is the identity', () => {
    const x = randTensor([2, 3, 5, 7], 14);
    expectClose(ops.adaptiveAvgPool2d(x, 1), ops.mean(x, [2, 3], true).toArray(), 1e-6, 'mean');
    expectClose(ops.adaptiveAvgPool2d(x, [5, 7]), x.toArray(), 0, 'identity');
  });

  it('cropAndPool equals slice + adaptiveAvgPool2d, forward and backward', () => {
    const x = randTensor([2, 2, 11, 13], 15);
    const ref = ops.adaptiveAvgPool2d(ops.slice(ops.slice(x, 2, 2, 9), 3, 1, 12), [4, 5]);
    expectClose(ops.cropAndPool(x, [2, 9, 1, 12], [4, 5]), ref.toArray(), 1e-6, 'crop forward');
    gradcheck((t) => ops.cropAndPool(t, [2, 9, 1, 12], [4, 5]), [x]);
    gradcheck((t) => ops.cropAndPool(t, [1, 4, 0, 13], [5, 3]), [randTensor([1, 3, 5, 13], 16)]);
  });

  it('maxPool2d matches a naive reference and finite differences (padding, ceil mode, k1 s2)', () => {
    const settings: [number[], number[], number[], boolean][] = [
      [[3, 3], [2, 2], [1, 1], false], [[3, 3], [2, 2], [1, 1], true], [[2, 3], [2, 1], [0, 1], true],
      [[1, 1], [2, 2], [0, 0], false], [[2, 2], [2, 2], [0, 0], true],
    ];
    for (const [i, [k, s, p, ceil]] of settings.entries()) {
      const x = separated([2, 3, 9, 7], 20 + i);
      const ref = naivePool('max', x, k, s, p, ceil, true);
      const opts = { kernel: k, stride: s, padding: p, ceilMode: ceil };
      expectClose(ops.maxPool2d(x, opts), ref.data, 0, `max ${k} ${s} ${p} ${ceil}`);
      expect(ops.maxPool2d(x, opts).shape).toEqual(ref.shape);
      gradcheck((t) => ops.maxPool2d(t, opts), [x], { samples: 20 });
    }
  });

  it('avgPool2d matches a naive reference and finite differences (padding, countIncludePad, ceil mode)', () => {
    const settings: [number[], number[], number[], boolean, boolean][] = [
      [[3, 3], [2, 2], [1, 1], false, true], [[3, 3], [2, 2], [1, 1], true, false], [[3, 2], [2, 3], [1, 1], true, true],
      [[4, 4], [4, 4], [0, 0], false, true], [[2, 2], [1, 1], [1, 0], false, false],
    ];
    for (const [i, [k, s, p, ceil, inc]] of settings.entries()) {
      const x = randTensor([2, 3, 9, 7], 30 + i);
      const ref = naivePool('avg', x, k, s, p, ceil, inc);
      const opts = { kernel: k, stride: s, padding: p, ceilMode: ceil, countIncludePad: inc };
      const y = ops.avgPool2d(x, opts);
      expect(y.shape).toEqual(ref.shape);
      expectClose(y, ref.data, 1e-6, `avg ${k} ${s} ${p} ${ceil} ${inc}`);
      gradcheck((t) => ops.avgPool2d(t, opts), [x]);
    }
  });

  it('maxPool2d keeps the first maximum on ties and sends the gradient there only', () => {
    const x = Tensor.fromArray([1, 1, 1, 1], [1, 1, 2, 2]).requireGrad();
    const y = ops.maxPool2d(x, { kernel: 2 });
    y.backward(Tensor.ones([1, 1, 1, 1]));
    expect([...x.grad!.toArray()]).toEqual([1, 0, 0, 0]);
  });

  it('gives the same results with 1 and 2 threads', () => {
    const x = randTensor([2, 4, 97, 101], 40);
    expectSameWithThreads(x, () => [
      ops.adaptiveAvgPool2d(x, [9, 11]), ops.maxPool2d(x, { kernel: 3, stride: 2, padding: 1 }),
      ops.avgPool2d(x, { kernel: 3, stride: 2, padding: 1 }), ops.cropAndPool(x, [3, 90, 2, 100], [13, 17]),
    ]);
  });

  it('releases everything inside a scope (max-pool indices included)', () => {
    const x = randTensor([1, 2, 8, 8], 41);
    x.persistent = true;
    const before = native.memory().liveStorages;
    for (let i = 0; i < 50; i++) {
      tidy(() => {
        const y = ops.sum(ops.maxPool2d(x, { kernel: 3, stride: 2 }));
        y.backward();
        x.grad?.release();
        x.grad = null;
        ops.maxPool2d(x.detach(), { kernel: 2 });
      });
    }
    expect(native.memory().liveStorages).toBe(before);
  });
});

describe('pooling: bad input', () => {
  it('names the op and the shapes', () => {
    const x3 = Tensor.zeros([3, 8, 8]);
    const x = Tensor.zeros([1, 3, 8, 8]);
    expect(() => ops.adaptiveAvgPool2d(x3, 2)).toThrow(/adaptiveAvgPool2d: expected a 4-d input \[N, C, H, W\], got \[3, 8, 8\]/);
    expect(() => ops.adaptiveAvgPool2d(x, [0, 2])).toThrow(/adaptiveAvgPool2d: output size must be an integer >= 1/);
    expect(() => ops.maxPool2d(x3, { kernel: 2 })).toThrow(/maxPool2d: expected a 4-d input.*\[3, 8, 8\]/);
    expect(() => ops.maxPool2d(x, { kernel: 9 })).toThrow(/maxPool2d: kernel \[9, 9\] .* does not fit the input \[1, 3, 8, 8\]/);
    expect(() => ops.maxPool2d(x, { kernel: 2, padding: 2 })).toThrow(/maxPool2d: padding \[2, 2\] should be at most half the kernel \[2, 2\]/);
    expect(() => ops.avgPool2d(x, { kernel: 2, stride: 0 })).toThrow(/avgPool2d: stride must be an integer >= 1/);
    expect(() => ops.cropAndPool(x, [35, 223, 32, 220], [112, 112])).toThrow(/cropAndPool: crop \[top 35, bottom 223, left 32, right 220\] does not fit in the input \[1, 3, 8, 8\]/);
    expect(() => ops.idCrop(x)).toThrow(/cropAndPool: crop .* \[1, 3, 8, 8\]/);
  });

  it('native glue rejects wrong storages and windows, naming the function', () => {
    const x = Tensor.zeros([1, 1, 4, 4]), y = Tensor.zeros([1, 1, 2, 2]), bad = Tensor.zeros([3]);
    expect(() => native.adaptiveAvgPool2dForward(x.storage, bad.storage, 1, 4, 4, [0, 0, 4, 4], [2, 2])).toThrow(/adaptiveAvgPool2dForward: tensor 'y' has 3 elements, expected 4/);
    expect(() => native.adaptiveAvgPool2dForward(x.storage, y.storage, 1, 4, 4, [1, 0, 4, 4], [2, 2])).toThrow(/adaptiveAvgPool2dForward: crop .* does not fit in the input \[4, 4\]/);
    expect(() => native.maxPool2dForward(x.storage, y.storage, bad.storage, 1, 4, 4, 2, 2, [2, 2], [2, 2], [0, 0])).toThrow(/maxPool2dForward: tensor 'indices' has 3 elements, expected 4/);
    expect(() => native.maxPool2dBackward(y.storage, y.storage, x.storage, 1, 4, 4, 9, 2, [2, 2], [2, 2], [0, 0])).toThrow(/maxPool2dBackward: .*windows outside the input \[4, 4\]/);
    expect(() => native.avgPool2dForward(x.storage, y.storage, 1, 4, 4, 2, 2, [2, 2], [0, 2], [0, 0], true)).toThrow(/avgPool2dForward: stride \[0, 2\] must be positive/);
    expect(() => native.avgPool2dBackward(y.storage, x.storage, 1, 4, 4, 2, 2, [2, 2], [2, 2], [0, 0], 1 as never)).toThrow(/avgPool2dBackward: argument 'countIncludePad' must be a boolean/);
  });
});
