// Precision bf16 (src/precision.ts, native-cuda cpu/gemm_avx512bf16.cc): GEMMs multiply operands
// rounded to bfloat16 (nearest even) and sum in float32. Checked against a host emulation of
// exactly that; Winograd convolutions must stay float32. The kernel tests need AVX-512 BF16; the
// refusal elsewhere is tested on every machine (a child process forced to AVX2).
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Tensor, native, ops, precision, setPrecision, tidy, withPrecision } from '../src/index.js';
import { expectClose, randTensor } from './helpers.js';

/** float32 -> bfloat16 -> float32, round to nearest even (finite values). */
function bf16(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) >>> 16) << 16;
  return f[0]!;
}

const data = (shape: number[], seed: number) => randTensor(shape, seed).detach();

describe('precision', () => {
  it('is float32 by default and refuses unknown names', () => {
    expect(precision()).toBe('float32');
    expect(() => setPrecision('fp8' as never)).toThrow(/unknown precision 'fp8'/);
  });

  it('refuses bf16 on a CPU without AVX-512 BF16, naming what it has', () => {
    const indexJs = createRequire(import.meta.url).resolve('@sgi/native-cuda');
    const r = spawnSync(process.execPath, ['-e', `
      const n = require(${JSON.stringify(indexJs)});
      try { n.precision('bf16'); console.log('accepted'); } catch (e) { console.log(e.message); }
      console.log(n.precision(), n.info().cpu.bf16);`], { env: { ...process.env, SGI_ISA: 'avx2' }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/precision: bf16 needs a CPU with AVX-512 BF16 \(vdpbf16ps\); this one runs the avx2-6x16 kernel/);
    expect(r.stdout).toMatch(/float32 false/);
  });
});

describe.skipIf(!native.info().cpu.bf16)('precision bf16 (AVX-512 BF16)', () => {
  it('GEMMs multiply bf16-rounded operands and sum in float32 (every transpose, odd depths, partial tiles)', () => {
    for (const [M, N, K] of [[37, 45, 301], [5, 70, 129], [100, 129, 64], [15, 513, 257]] as const) {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        tidy(() => {
          const a = data(ta ? [K, M] : [M, K], M + K).toArray(), b = data(tb ? [N, K] : [K, N], N + K).toArray();
          const c0 = data([M, N], M + N).toArray();
          const want = new Float32Array(M * N);
          for (let i = 0; i < M; i++)
            for (let j = 0; j < N; j++) {
              let s = 0;
              for (let k = 0; k < K; k++) s += bf16(a[ta ? k * M + i : i * K + k]!) * bf16(b[tb ? j * K + k : k * N + j]!);
              want[i * N + j] = 0.75 * s + 0.5 * c0[i * N + j]!;
            }
          const A = native.fromArray(a, 0), B = native.fromArray(b, 0), C = native.fromArray(c0, 0), F = native.fromArray(c0, 0);
          withPrecision('bf16', () => native.gemm(A, B, C, M, N, K, ta, tb, 0.75, 0.5));
          native.gemm(A, B, F, M, N, K, ta, tb, 0.75, 0.5);
          const got = native.toArray(C), f32 = native.toArray(F);
          expectClose(got, want, 1e-5, `bf16 gemm ${M}x${N}x${K} ta ${ta} tb ${tb}`);
          // and it is not the float32 product
          let differs = false;
          for (let i = 0; i < got.length && !differs; i++) differs = got[i] !== f32[i];
          expect(differs).toBe(true);
          for (const s of [A, B, C, F]) s.release();
        });
      }
    }
    expect(precision()).toBe('float32');  // withPrecision restored it
  });

  it('matrix-vector work (at most 4 rows) stays float32: it is bound by reading the matrix, not by multiplies', () => {
    tidy(() => {
      const a = data([3, 129], 1), b = data([129, 70], 2);
      expect(withPrecision('bf16', () => ops.matmul(a, b).toArray())).toEqual(ops.matmul(a, b).toArray());
    });
  });

  it('GEMM-based convolutions follow it; Winograd convolutions stay float32', () => {
    tidy(() => {
      // stride 2: a shifted GEMM
      const x = data([1, 16, 21, 19], 1), w = data([20, 16, 3, 3], 2);
      const f32 = ops.conv2d(x, w, null, { stride: 2, padding: 1 }).toArray();
      const half = withPrecision('bf16', () => ops.conv2d(x, w, null, { stride: 2, padding: 1 }).toArray());
      const rounded = (t: Tensor) => Tensor.fromArray(t.toArray().map(bf16), t.shape);
      expectClose(half, ops.conv2d(rounded(x), rounded(w), null, { stride: 2, padding: 1 }).toArray(), 1e-5, 'stride-2 conv = conv of rounded operands');
      expectClose(half, f32, 2e-2, 'stride-2 conv near float32');
      // 3x3 stride 1 on 32x32: Winograd, identical in both precisions
      const xw = data([1, 32, 32, 32], 3), ww = data([32, 32, 3, 3], 4);
      const a = ops.conv2d(xw, ww, null, { padding: 1 }).toArray();
      const b = withPrecision('bf16', () => ops.conv2d(xw, ww, null, { padding: 1 }).toArray());
      expect(b).toEqual(a);
    });
  });
});
