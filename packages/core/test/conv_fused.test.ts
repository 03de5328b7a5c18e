// The fused inference convolution (ops.conv2dFused, native conv2dForwardFused / conv2dWinogradWeights):
// prelu(conv(pad(x * inScale + inShift), w) + b, slope) against a float64 reference of the same
// formula, on every CPU algorithm and micro-kernel, with and without prepared Winograd weights.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Tensor, ops, native, tidy } from '../src/index.js';
import { expectClose, randTensor } from './helpers.js';

interface Shape { x: number[]; w: number[]; s: number; p: number; g: number }
const shapes: Shape[] = [
  { x: [2, 20, 40, 36], w: [24, 20, 3, 3], s: 1, p: 1, g: 1 },   // Winograd, tile blocks
  { x: [1, 32, 16, 16], w: [96, 32, 3, 3], s: 1, p: 1, g: 1 },   // Winograd, channel panels (more channels than tiles)
  { x: [2, 32, 18, 14], w: [32, 16, 3, 3], s: 1, p: 1, g: 2 },   // Winograd, groups
  { x: [1, 16, 21, 19], w: [20, 16, 3, 3], s: 2, p: 1, g: 1 },   // stride 2 (shifted GEMM)
  { x: [1, 16, 12, 12], w: [24, 16, 1, 1], s: 2, p: 0, g: 1 },   // 1x1 stride 2
  { x: [1, 3, 20, 20], w: [16, 3, 3, 3], s: 1, p: 1, g: 1 },     // few input channels (GEMM)
];

/** float64 reference: prelu(conv(pad(x*a + t), w) + b, slope). */
function reference(sh: Shape, x: Float32Array, w: Float32Array, b: Float32Array, a: Float32Array, t: Float32Array, slope: Float32Array): Float32Array {
  const [n, c, h, wd] = sh.x as [number, number, number, number];
  const [k, cg, kh, kw] = sh.w as [number, number, number, number];
  const oh = Math.floor((h + 2 * sh.p - kh) / sh.s) + 1, ow = Math.floor((wd + 2 * sh.p - kw) / sh.s) + 1, kg = k / sh.g;
  const y = new Float32Array(n * k * oh * ow);
  for (let ni = 0; ni < n; ni++)
    for (let co = 0; co < k; co++) {
      const grp = Math.floor(co / kg);
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          let acc = b[co]!;
          for (let ci = 0; ci < cg; ci++) {
            const cin = grp * cg + ci;
            for (let ky = 0; ky < kh; ky++) {
              const iy = oy * sh.s - sh.p + ky;
              if (iy < 0 || iy >= h) continue;
              for (let kx = 0; kx < kw; kx++) {
                const ix = ox * sh.s - sh.p + kx;
                if (ix < 0 || ix >= wd) continue;
                const xv = x[((ni * c + cin) * h + iy) * wd + ix]! * a[cin]! + t[cin]!;
                acc += xv * w[((co * cg + ci) * kh + ky) * kw + kx]!;
              }
            }
          }
          y[((ni * k + co) * oh + oy) * ow + ox] = acc > 0 ? acc : acc * slope[co]!;
        }
    }
  return y;
}

const data = (shape: number[], seed: number) => randTensor(shape, seed).detach().toArray();

describe('conv2dFused: input affine, bias and PReLU in one pass', () => {
  for (const algo of ['gemm', 'winograd', 'auto'] as const) {
    for (const [i, sh] of shapes.entries()) {
      it(`x ${JSON.stringify(sh.x)} w ${JSON.stringify(sh.w)} stride ${sh.s} groups ${sh.g} (${algo})`, () => {
        ops.conv2dAlgorithm(algo);
        try {
          tidy(() => {
            const c = sh.x[1]!, k = sh.w[0]!;
            const xa = data(sh.x, 10 + i), wa = data(sh.w, 20 + i), ba = data([k], 30 + i);
            const a = data([c], 40 + i).map((v) => 0.5 + Math.abs(v)), t = data([c], 50 + i), sl = data([k], 60 + i).map((v) => v * 0.3);
            const T = (d: Float32Array, s: number[]) => Tensor.fromArray(d, s);
            const x = T(xa, sh.x), w = T(wa, sh.w), b = T(ba, [k]);
            const fusion = { inScale: T(a, [c]), inShift: T(t, [c]), slope: T(sl, [k]) };
            const opts = { stride: sh.s, padding: sh.p, groups: sh.g };
            const want = reference(sh, xa, wa, ba, a, t, sl);
            expectClose(ops.conv2dFused(x, w, b, fusion, opts), want, 1e-4, 'fused');
            // the output channels' sums, gathered as the output is stored
            const n = sh.x[0]!, plane = want.length / (n * k);
            const sums = Tensor.empty([n, k]);
            const y = ops.conv2dFused(x, w, b, { ...fusion, channelSums: sums }, opts);
            expectClose(y, want, 1e-4, 'fused, with channel sums');
            const wantSums = new Float32Array(n * k);
            for (let i = 0; i < want.length; i++) wantSums[Math.floor(i / plane)]! += want[i]!;
            expectClose(sums, wantSums, 1e-5, 'channel sums');
            const prepared = ops.conv2dPrepare(sh.x, w, opts);
            // Prepared weights exactly where the forward pass runs Winograd.
            const winograd = sh.s === 1 && sh.w[2] === 3 && (algo === 'winograd' || (algo === 'auto' && c / sh.g >= 16));
            expect(prepared !== null).toBe(winograd);
            expect(ops.conv2dUsesWinograd(sh.x, w, opts)).toBe(winograd);
            if (prepared) {
              expectClose(ops.conv2dFused(x, w, b, fusion, opts, prepared), want, 1e-4, 'fused, prepared weights');
              prepared.release();
            }
            // Each part alone (the others null) is the plain formula with identities.
            const ones = new Float32Array(c).fill(1), zeros = new Float32Array(c), unit = new Float32Array(k).fill(1);
            expectClose(ops.conv2dFused(x, w, null, { slope: fusion.slope }, opts), reference(sh, xa, wa, new Float32Array(k), ones, zeros, sl), 1e-4, 'slope only');
            expectClose(ops.conv2dFused(x, w, b, { inShift: fusion.inShift }, opts), reference(sh, xa, wa, ba, ones, t, unit), 1e-4, 'shift only');
          });
        } finally {
          ops.conv2dAlgorithm('auto');
        }
      });
    }
  }

  it('AVX2 and generic micro-kernels give the same fused results (prepared weights of their own layout)', () => {
    const indexJs = createRequire(import.meta.url).resolve('@sgi/native-cuda');
    const script = `
      const native = require(${JSON.stringify(indexJs)});
      const r = (n, seed) => { const a = new Float32Array(n); let s = seed; for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; a[i] = s / 1073741824 - 1; } return a; };
      const out = [];
      for (const sh of ${JSON.stringify(shapes.slice(0, 3))}) {
        const [n, c, h, w] = sh.x, k = sh.w[0];
        const params = [n, c, h, w, k, 3, 3, 1, 1, 1, 1, sh.g];
        const x = native.fromArray(r(n * c * h * w, 1), 0), wt = native.fromArray(r(k * (c / sh.g) * 9, 2), 0);
        const a = native.fromArray(r(c, 3).map((v) => 1 + v * 0.5), 0), t = native.fromArray(r(c, 4), 0), s = native.fromArray(r(k, 5), 0);
        const y = new native.Storage(n * k * h * w, 0);
        const u = native.conv2dWinogradWeights(wt, params);
        native.conv2dForwardFused(x, wt, u, null, a, t, s, y, params);
        out.push(Array.from(native.toArray(y)));
      }
      process.stdout.write(JSON.stringify({ isa: native.info().cpu.isa, out }));`;
    const run = (isa: string | null) => {
      const env = { ...process.env };
      delete env.SGI_ISA;
      if (isa) env.SGI_ISA = isa;
      const res = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
      expect(res.status, res.stderr).toBe(0);
      return JSON.parse(res.stdout) as { isa: string; out: number[][] };
    };
    const best = run(null), generic = run('generic'), avx2 = run('avx2');
    expect(generic.isa).toBe('generic');
    for (const other of [avx2, generic]) {
      other.out.forEach((o, i) => expectClose(Float32Array.from(o), Float32Array.from(best.out[i]!), 1e-5, `${other.isa} vs ${best.isa}, shape ${i}`));
    }
  }, 60_000);

  it('weights prepared for one input shape serve every shape that runs Winograd', () => {
    tidy(() => {
      const w = data([24, 16, 3, 3], 80), b = data([24], 81);
      const prepared = ops.conv2dPrepare([1, 16, 16, 16], Tensor.fromArray(w, [24, 16, 3, 3]), { padding: 1 })!;
      for (const shape of [[1, 16, 16, 16], [3, 16, 21, 17], [1, 16, 40, 8]]) {
        const x = Tensor.fromArray(data(shape, 82), shape), wt = Tensor.fromArray(w, [24, 16, 3, 3]), bt = Tensor.fromArray(b, [24]);
        expect(ops.conv2dUsesWinograd(shape, wt, { padding: 1 })).toBe(true);
        expectClose(ops.conv2dFused(x, wt, bt, {}, { padding: 1 }, prepared), ops.conv2d(x, wt, bt, { padding: 1 }).toArray(), 1e-6, `shape ${shape}`);
      }
      prepared.release();
    });
  });

  it('refuses to run where a gradient is needed, and checks its vectors and prepared weights', () => {
    tidy(() => {
      const r = (shape: number[], seed: number) => randTensor(shape, seed).detach();
      const w = r([16, 16, 3, 3], 2);
      expect(() => ops.conv2dFused(randTensor([1, 16, 8, 8], 1).requireGrad(), w, null, {}, { padding: 1 })).toThrow(/conv2dFused: inference only, but a gradient is needed/);
      const y = r([1, 16, 8, 8], 3);
      expect(() => ops.conv2dFused(y, w, null, { inScale: r([8], 4) }, { padding: 1 })).toThrow(/conv2dFused: inScale \[8\] on cpu must hold 16 values/);
      // 8x8 has 4 tiles: the forward pass would not use Winograd, so there is nothing to prepare ...
      expect(ops.conv2dPrepare([1, 16, 8, 8], w, { padding: 1 })).toBeNull();
      // ... and weights prepared for another shape are refused by name.
      const big = ops.conv2dPrepare([1, 16, 32, 32], w, { padding: 1 })!;
      expect(big).not.toBeNull();
      expect(() => ops.conv2dFused(y, w, null, {}, { padding: 1 }, big)).toThrow(/conv2dForwardFused: 'prepared' was given but this convolution .* does not run Winograd/);
      const other = r([1, 16, 32, 32], 5), w8 = r([8, 16, 3, 3], 6);
      expect(() => ops.conv2dFused(other, w8, null, {}, { padding: 1 }, big)).toThrow(/conv2dForwardFused.*prepared/);
      big.release();
    });
  });

  it('scaleChannelsAdd: x * scale[n, c] + residual in one pass, inference only', () => {
    tidy(() => {
      const r = (shape: number[], seed: number) => randTensor(shape, seed).detach();
      const x = r([2, 5, 3, 4], 1), s = r([2, 5], 2), res = r([2, 5, 3, 4], 3);
      expectClose(ops.scaleChannelsAdd(x, s, res), ops.add(ops.mul(x, ops.reshape(s, [2, 5, 1, 1])), res).toArray(), 0, 'scaleChannelsAdd');
      expect(() => ops.scaleChannelsAdd(x, r([5], 4), res)).toThrow(/scaleChannelsAdd: x \[2, 5, 3, 4\], scale \[5\]/);
      expect(() => ops.scaleChannelsAdd(randTensor([2, 5, 3, 4], 5), s, res)).toThrow(/scaleChannelsAdd: inference only/);
    });
  });

  it('is not among the kernels CUDA must run (the fused path is CPU only; CUDA runs the unfused ops)', () => {
    expect(typeof native.conv2dForwardFused).toBe('function');
    expect(typeof native.conv2dWinogradWeights).toBe('function');
  });
});
