import { describe, it, expect } from 'vitest';
import { Tensor, ops, native, tidy } from '../src/index.js';
import { expectClose, fixtureCases, get, gradcheck, loadFixture, randTensor, toTensor } from './helpers.js';

interface LinearCase { op: string; inputs: string[]; params: string[] }

const data = (shape: number[], seed: number) => randTensor(shape, seed).detach().toArray();

/** C = alpha op(A) op(B) + beta C0 in float64. */
function naiveGemm(ta: boolean, tb: boolean, M: number, N: number, K: number, alpha: number, A: Float32Array, B: Float32Array, beta: number, C0: Float32Array): Float32Array {
  const out = new Float32Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (ta ? A[k * M + i]! : A[i * K + k]!) * (tb ? B[j * K + k]! : B[k * N + j]!);
      out[i * N + j] = alpha * s + (beta === 0 ? 0 : beta * C0[i * N + j]!);
    }
  return out;
}

describe('linear: fixtures (PyTorch)', () => {
  const f = loadFixture('ops.safetensors');
  const cases = Object.entries(fixtureCases<Record<string, LinearCase>>(f)).filter(([, c]) => c.op === 'linear');
  it('has linear cases', () => expect(cases.length).toBeGreaterThan(0));
  for (const [name, c] of cases) {
    it(`${name} matches`, () => {
      tidy(() => {
        const t: Record<string, Tensor> = {};
        for (const k of [...c.inputs, ...c.params]) t[k] = toTensor(get(f, `${name}.${k}`), true);
        const out = ops.linear(t.x!, t.weight!, t.bias ?? null);
        expectClose(out, get(f, `${name}.out`), 1e-4, `${name} out`);
        out.backward(toTensor(get(f, `${name}.grad_out`)));
        for (const k of [...c.inputs, ...c.params]) {
          expect(t[k]!.grad, `${name} grad_${k} exists`).not.toBeNull();
          expectClose(t[k]!.grad!, get(f, `${name}.grad_${k}`), 1e-3, `${name} grad_${k}`);
        }
      });
    });
  }
});

describe('native gemm', () => {
  // Sizes cover the small-M path (M <= 4), edge tiles of every micro-kernel, several K blocks,
  // and the row / column / depth thread splits.
  const sizes: [number, number, number][] = [
    [1, 1, 1], [1, 37, 19], [4, 300, 70], [5, 7, 3], [13, 33, 17], [14, 32, 256], [29, 65, 513],
    [100, 37, 1000], [64, 27, 3000], [200, 150, 40], [3, 2000, 5], [0, 5, 3], [5, 4, 0], [2, 6, 33], [3, 5, 40], [1, 4609, 161],
  ];
  for (const [M, N, K] of sizes) {
    it(`M ${M} N ${N} K ${K}, every transpose, alpha/beta`, () => {
      tidy(() => {
        for (const ta of [false, true])
          for (const tb of [false, true])
            for (const [alpha, beta] of [[1, 0], [0.5, 1], [-1.5, 0.25]] as const) {
              const A = data([M * K], M + 3 * K + 1), B = data([K * N], N + 5 * K + 2), C0 = data([M * N], M + N + 7);
              const a = Tensor.fromArray(A, [M * K]), b = Tensor.fromArray(B, [K * N]), c = Tensor.fromArray(C0, [M * N]);
              native.gemm(a.storage, b.storage, c.storage, M, N, K, ta, tb, alpha, beta);
              expectClose(c.toArray(), naiveGemm(ta, tb, M, N, K, alpha, A, B, beta, C0), 1e-5, `ta ${ta} tb ${tb} alpha ${alpha} beta ${beta}`);
            }
      });
    });
  }

  it('beta = 0 ignores NaN in C', () => {
    tidy(() => {
      const a = Tensor.ones([6, 5]), b = Tensor.ones([5, 40]), c = Tensor.full([6, 40], NaN);
      native.gemm(a.storage, b.storage, c.storage, 6, 40, 5, false, false, 1, 0);
      expect([...c.toArray()].every((v) => v === 5)).toBe(true);
    });
  });

  it('batched gemm with a shared operand', () => {
    tidy(() => {
      const [B, M, N, K] = [3, 9, 20, 11];
      const A = data([B * M * K], 1), W = data([K * N], 2);
      const c = Tensor.empty([B * M * N]);
      native.gemmBatched(Tensor.fromArray(A, [B * M * K]).storage, Tensor.fromArray(W, [K * N]).storage, c.storage, B, M, N, K, false, false, 1, 0);
      expectClose(c.toArray(), naiveGemm(false, false, B * M, N, K, 1, A, W, 0, new Float32Array(B * M * N)), 1e-5, 'shared b');
    });
  });
});

describe('matmul / linear', () => {
  it('matmul 2-d and 3-d match the naive product and pass gradchecks', () => {
    tidy(() => {
      const a = randTensor([5, 7], 1), b = randTensor([7, 3], 2);
      expectClose(ops.matmul(a, b), naiveGemm(false, false, 5, 3, 7, 1, a.toArray(), b.toArray(), 0, new Float32Array(15)), 1e-5, 'matmul');
      gradcheck((x, y) => ops.matmul(x, y), [a, b]);
      const a3 = randTensor([2, 4, 6], 3), b3 = randTensor([2, 6, 5], 4);
      const c3 = ops.matmul(a3, b3).toArray();
      for (let i = 0; i < 2; i++) {
        const ref = naiveGemm(false, false, 4, 5, 6, 1, a3.toArray().subarray(i * 24, i * 24 + 24), b3.toArray().subarray(i * 30, i * 30 + 30), 0, new Float32Array(20));
        expectClose(c3.subarray(i * 20, i * 20 + 20), ref, 1e-5, `batch ${i}`);
      }
      gradcheck((x, y) => ops.matmul(x, y), [a3, b3]);
    });
  });

  it('linear over leading dims, with and without bias, gradchecks', () => {
    tidy(() => {
      for (const rows of [[3], [2, 3], [1], [6, 1]]) {
        const x = randTensor([...rows, 9], 10 + rows.length), w = randTensor([4, 9], 11), b = randTensor([4], 12);
        const y = ops.linear(x, w, b);
        expect(y.shape).toEqual([...rows, 4]);
        const R = rows.reduce((p, d) => p * d, 1);
        const ref = naiveGemm(false, true, R, 4, 9, 1, x.toArray(), w.toArray(), 0, new Float32Array(R * 4));
        const ba = b.toArray();
        for (let i = 0; i < ref.length; i++) ref[i]! += ba[i % 4]!;
        expectClose(y, ref, 1e-5, `rows ${rows}`);
        gradcheck((p, q, r) => ops.linear(p, q, r), [x, w, b]);
        gradcheck((p, q) => ops.linear(p, q, null), [x, w]);
      }
    });
  });

  it('large linear layers (packed path, every thread) match the naive product', () => {
    tidy(() => {
      const x = randTensor([37, 300], 20), w = randTensor([130, 300], 21), b = randTensor([130], 22);
      const y = ops.linear(x, w, b);
      const ref = naiveGemm(false, true, 37, 130, 300, 1, x.toArray(), w.toArray(), 0, new Float32Array(37 * 130));
      const ba = b.toArray();
      for (let i = 0; i < ref.length; i++) ref[i]! += ba[i % 130]!;
      expectClose(y, ref, 1e-5, 'y');
      const gy = randTensor([37, 130], 23).detach();
      y.backward(gy);
      expectClose(x.grad!, naiveGemm(false, false, 37, 300, 130, 1, gy.toArray(), w.toArray(), 0, new Float32Array(37 * 300)), 1e-5, 'gx');
      expectClose(w.grad!, naiveGemm(true, false, 130, 300, 37, 1, gy.toArray(), x.toArray(), 0, new Float32Array(130 * 300)), 1e-5, 'gw');
    });
  });

  it('bad input names the op and the shapes', () => {
    const x = Tensor.zeros([3, 10]);
    expect(() => ops.linear(x, Tensor.zeros([6, 9]))).toThrow(/linear: input \[3, 10\] has 10 features but weight \[6, 9\] expects 9/);
    expect(() => ops.linear(x, Tensor.zeros([6, 10]), Tensor.zeros([5]))).toThrow(/linear: bias \[5\] does not match weight \[6, 10\]/);
    expect(() => ops.linear(x, Tensor.zeros([6, 10, 1]))).toThrow(/linear: weight must be 2-d \[out, in\], got \[6, 10, 1\]/);
    expect(() => ops.matmul(x, Tensor.zeros([4, 2]))).toThrow(/matmul: inner dimensions differ: a \[3, 10\] and b \[4, 2\]/);
    expect(() => ops.matmul(Tensor.zeros([2, 3, 4]), Tensor.zeros([3, 4, 5]))).toThrow(/matmul: batched shapes do not match/);
    expect(() => ops.matmul(x, Tensor.zeros([10]))).toThrow(/matmul: expected two 2-d/);
    const fake = { ndim: 2, shape: [6, 10], device: 'cuda' } as unknown as Tensor;
    expect(() => ops.linear(x, fake)).toThrow(/linear: tensors are on different devices \(cpu and cuda\)/);
    expect(() => native.gemm(x.storage, x.storage, x.storage, 3, 3, 10, false, false, 1, 0)).toThrow(/gemm: c has 30 elements, expected \[3, 3\]/);
  });
});
