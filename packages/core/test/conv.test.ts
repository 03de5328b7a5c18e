import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { Tensor, ops, native, tidy } from '../src/index.js';
import { expectClose, fixtureCases, get, gradcheck, loadFixture, randTensor, relError, toTensor } from './helpers.js';

interface ConvCase {
  op: string;
  inputs: string[];
  params: string[];
  stride: number | number[];
  padding: number | number[];
  groups?: number;
  output_padding?: number | number[];
}

type P2 = [number, number];
const p2 = (v: number | number[] | undefined, d: number): P2 => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [v[0]!, v[1]!]);

// ---- naive references (float64 accumulation) --------------------------------------------------

interface Geo { n: number; c: number; h: number; w: number; k: number; kh: number; kw: number; s: P2; p: P2; g: number; oh: number; ow: number }

function geo(xs: readonly number[], ws: readonly number[], s: P2, p: P2, g: number): Geo {
  const [n, c, h, w] = xs as number[];
  const [k, , kh, kw] = ws as number[];
  return { n: n!, c: c!, h: h!, w: w!, k: k!, kh: kh!, kw: kw!, s, p, g,
    oh: Math.floor((h! + 2 * p[0] - kh!) / s[0]) + 1, ow: Math.floor((w! + 2 * p[1] - kw!) / s[1]) + 1 };
}

/** Calls f(n, co, oy, ox, ci, iy, ix, wIndex) for every in-bounds tap of conv2d. */
function eachTap(G: Geo, f: (yi: number, xi: number, wi: number) => void): void {
  const cg = G.c / G.g, kg = G.k / G.g;
  for (let n = 0; n < G.n; n++)
    for (let co = 0; co < G.k; co++) {
      const grp = Math.floor(co / kg);
      for (let oy = 0; oy < G.oh; oy++)
        for (let ox = 0; ox < G.ow; ox++) {
          const yi = ((n * G.k + co) * G.oh + oy) * G.ow + ox;
          for (let ci = 0; ci < cg; ci++)
            for (let ky = 0; ky < G.kh; ky++) {
              const iy = oy * G.s[0] - G.p[0] + ky;
              if (iy < 0 || iy >= G.h) continue;
              for (let kx = 0; kx < G.kw; kx++) {
                const ix = ox * G.s[1] - G.p[1] + kx;
                if (ix < 0 || ix >= G.w) continue;
                const xi = ((n * G.c + grp * cg + ci) * G.h + iy) * G.w + ix;
                const wi = ((co * cg + ci) * G.kh + ky) * G.kw + kx;
                f(yi, xi, wi);
              }
            }
        }
    }
}

function naiveConv(G: Geo, x: Float32Array, w: Float32Array, b: Float32Array | null): Float32Array {
  const y = new Float64Array(G.n * G.k * G.oh * G.ow);
  eachTap(G, (yi, xi, wi) => { y[yi]! += x[xi]! * w[wi]!; });
  if (b) for (let i = 0; i < y.length; i++) y[i]! += b[Math.floor(i / (G.oh * G.ow)) % G.k]!;
  return Float32Array.from(y);
}

function naiveConvGrads(G: Geo, x: Float32Array, w: Float32Array, gy: Float32Array): { gx: Float32Array; gw: Float32Array; gb: Float32Array } {
  const gx = new Float64Array(x.length), gw = new Float64Array(w.length), gb = new Float64Array(G.k);
  eachTap(G, (yi, xi, wi) => { gx[xi]! += gy[yi]! * w[wi]!; gw[wi]! += gy[yi]! * x[xi]!; });
  for (let i = 0; i < gy.length; i++) gb[Math.floor(i / (G.oh * G.ow)) % G.k]! += gy[i]!;
  return { gx: Float32Array.from(gx), gw: Float32Array.from(gw), gb: Float32Array.from(gb) };
}

const data = (shape: number[], seed: number) => randTensor(shape, seed).detach().toArray();

// ---- fixtures ---------------------------------------------------------------------------------

describe('conv2d / convTranspose2d: fixtures (PyTorch)', () => {
  const f = loadFixture('ops.safetensors');
  const cases = Object.entries(fixtureCases<Record<string, ConvCase>>(f)).filter(([, c]) => c.op === 'conv2d' || c.op === 'conv_transpose2d');

  it('has conv2d and conv_transpose2d cases', () => {
    expect(cases.some(([, c]) => c.op === 'conv2d')).toBe(true);
    expect(cases.some(([, c]) => c.op === 'conv_transpose2d')).toBe(true);
  });

  for (const algo of ['auto', 'gemm', 'winograd'] as const) {
    for (const [name, c] of cases) {
      it(`${name} (stride ${JSON.stringify(c.stride)}, padding ${JSON.stringify(c.padding)}, groups ${c.groups ?? 1}) matches: forward ${algo}`, () => {
        ops.conv2dAlgorithm(algo);
        try {
          tidy(() => {
            const t: Record<string, Tensor> = {};
            for (const k of [...c.inputs, ...c.params]) t[k] = toTensor(get(f, `${name}.${k}`), true);
            const opts = { stride: p2(c.stride, 1), padding: p2(c.padding, 0), groups: c.groups ?? 1 };
            const out = c.op === 'conv2d'
              ? ops.conv2d(t.x!, t.weight!, t.bias ?? null, opts)
              : ops.convTranspose2d(t.x!, t.weight!, t.bias ?? null, { ...opts, outputPadding: p2(c.output_padding, 0) });
            expectClose(out, get(f, `${name}.out`), 1e-4, `${name} out`);
            out.backward(toTensor(get(f, `${name}.grad_out`)));
            for (const k of [...c.inputs, ...c.params]) {
              expect(t[k]!.grad, `${name} grad_${k} exists`).not.toBeNull();
              expectClose(t[k]!.grad!, get(f, `${name}.grad_${k}`), 1e-3, `${name} grad_${k}`);
            }
          });
        } finally {
          ops.conv2dAlgorithm('auto');
        }
      });
    }
  }
});

// ---- random shapes against the naive reference ------------------------------------------------

const shapes: { x: number[]; w: number[]; s: P2; p: P2; g: number }[] = [
  { x: [2, 3, 7, 9], w: [5, 3, 3, 3], s: [1, 1], p: [1, 1], g: 1 },
  { x: [1, 4, 9, 8], w: [6, 2, 3, 3], s: [2, 2], p: [1, 1], g: 2 },
  { x: [3, 5, 6, 7], w: [4, 5, 1, 1], s: [1, 1], p: [0, 0], g: 1 },
  { x: [2, 6, 11, 10], w: [8, 6, 1, 1], s: [2, 2], p: [0, 0], g: 1 },
  { x: [1, 4, 10, 9], w: [3, 4, 5, 5], s: [1, 1], p: [2, 2], g: 1 },
  { x: [2, 2, 13, 12], w: [4, 2, 5, 5], s: [2, 3], p: [2, 1], g: 1 },
  { x: [1, 3, 23, 21], w: [8, 3, 11, 11], s: [4, 4], p: [2, 2], g: 1 },
  { x: [2, 6, 9, 9], w: [6, 2, 3, 3], s: [1, 1], p: [0, 0], g: 3 },
  { x: [1, 4, 8, 8], w: [4, 1, 3, 3], s: [1, 1], p: [2, 2], g: 4 },
  { x: [1, 40, 19, 21], w: [33, 40, 3, 3], s: [1, 1], p: [1, 1], g: 1 },
  { x: [2, 17, 15, 13], w: [30, 17, 3, 3], s: [2, 2], p: [1, 1], g: 1 },
  { x: [1, 64, 6, 6], w: [70, 64, 3, 3], s: [1, 1], p: [1, 1], g: 1 },
  { x: [5, 8, 4, 4], w: [16, 8, 3, 3], s: [1, 1], p: [1, 1], g: 1 },
  { x: [5, 20, 40, 36], w: [24, 20, 3, 3], s: [1, 1], p: [1, 1], g: 1 },
  { x: [4, 16, 33, 31], w: [20, 16, 3, 3], s: [2, 2], p: [1, 1], g: 1 },
  { x: [2, 12, 20, 18], w: [12, 6, 3, 3], s: [1, 1], p: [1, 1], g: 2 },
];

describe('conv2d: random shapes against a naive reference', () => {
  for (const algo of ['gemm', 'winograd', 'auto'] as const) {
    for (const [i, sh] of shapes.entries()) {
      it(`x ${JSON.stringify(sh.x)} w ${JSON.stringify(sh.w)} stride ${sh.s} pad ${sh.p} groups ${sh.g} (${algo})`, () => {
        ops.conv2dAlgorithm(algo);
        try {
          tidy(() => {
            const G = geo(sh.x, sh.w, sh.s, sh.p, sh.g);
            const xa = data(sh.x, 100 + i), wa = data(sh.w, 200 + i), ba = data([sh.w[0]!], 300 + i);
            const x = Tensor.fromArray(xa, sh.x).requireGrad(), w = Tensor.fromArray(wa, sh.w).requireGrad(), b = Tensor.fromArray(ba, [sh.w[0]!]).requireGrad();
            const y = ops.conv2d(x, w, b, { stride: sh.s, padding: sh.p, groups: sh.g });
            expect(y.shape).toEqual([G.n, G.k, G.oh, G.ow]);
            expectClose(y, naiveConv(G, xa, wa, ba), 1e-4, 'out');
            const gya = data(y.shape as number[], 400 + i);
            y.backward(Tensor.fromArray(gya, y.shape));
            const ref = naiveConvGrads(G, xa, wa, gya);
            expectClose(x.grad!, ref.gx, 1e-4, 'grad x');
            expectClose(w.grad!, ref.gw, 1e-4, 'grad w');
            expectClose(b.grad!, ref.gb, 1e-4, 'grad b');
          });
        } finally {
          ops.conv2dAlgorithm('auto');
        }
      });
    }
  }

  it('convTranspose2d is the adjoint of conv2d (and its gradients are conv2d passes)', () => {
    tidy(() => {
      for (const [i, sh] of shapes.entries()) {
        const G = geo(sh.x, sh.w, sh.s, sh.p, sh.g);
        // conv2d maps x [n, c, h, w] -> y [n, k, oh, ow]; the transposed conv with the same weight maps back.
        const ya = data([G.n, G.k, G.oh, G.ow], 500 + i), wa = data(sh.w, 600 + i);
        const y = Tensor.fromArray(ya, [G.n, G.k, G.oh, G.ow]).requireGrad(), w = Tensor.fromArray(wa, sh.w).requireGrad();
        const extra: P2 = [(G.h + 2 * G.p[0] - G.kh) % G.s[0], (G.w + 2 * G.p[1] - G.kw) % G.s[1]];
        const xt = ops.convTranspose2d(y, w, null, { stride: sh.s, padding: sh.p, groups: sh.g, outputPadding: extra });
        expect(xt.shape).toEqual(sh.x);
        const gxa = data(sh.x, 700 + i);
        const ref = naiveConvGrads(G, gxa, wa, ya); // the transpose's forward is the conv's input gradient
        expectClose(xt, ref.gx, 1e-4, `shape ${i}: convTranspose2d out`);
        xt.backward(Tensor.fromArray(gxa, sh.x));
        expectClose(y.grad!, naiveConv(G, gxa, wa, null), 1e-4, `shape ${i}: grad input`);
        expectClose(w.grad!, ref.gw, 1e-4, `shape ${i}: grad weight`);
      }
    });
  });
});

describe('conv2d: large strided convolutions (several row bands) match stride-1 computations', () => {
  // y_s2 = y_s1 subsampled; the input and weight gradients of the stride-2 conv equal those of the
  // stride-1 conv with gy zero-upsampled (its adjoint).
  it('forward, input and weight gradients', () => {
    tidy(() => {
      const [n, c, k, h, w] = [1, 128, 128, 160, 200];
      const x = randTensor([n, c, h, w], 901).detach(), wt = randTensor([k, c, 3, 3], 902).detach();
      const p1 = [n, c, h, w, k, 3, 3, 1, 1, 1, 1, 1], p2 = [n, c, h, w, k, 3, 3, 2, 2, 1, 1, 1];
      const y1 = Tensor.empty([n, k, h, w]), y2 = Tensor.empty([n, k, h / 2, w / 2]);
      native.conv2dForward(x.storage, wt.storage, null, y1.storage, p1);
      native.conv2dForward(x.storage, wt.storage, null, y2.storage, p2);
      const a1 = y1.toArray(), sub = new Float32Array(n * k * (h / 2) * (w / 2));
      for (let ch = 0; ch < k; ch++)
        for (let i = 0; i < h / 2; i++)
          for (let j = 0; j < w / 2; j++) sub[(ch * h / 2 + i) * (w / 2) + j] = a1[(ch * h + 2 * i) * w + 2 * j]!;
      expectClose(y2.toArray(), sub, 1e-4, 'stride-2 forward');
      const gy2 = randTensor([n, k, h / 2, w / 2], 903).detach().toArray(), up = new Float32Array(n * k * h * w);
      for (let ch = 0; ch < k; ch++)
        for (let i = 0; i < h / 2; i++)
          for (let j = 0; j < w / 2; j++) up[(ch * h + 2 * i) * w + 2 * j] = gy2[(ch * h / 2 + i) * (w / 2) + j]!;
      const g2 = Tensor.fromArray(gy2, [n, k, h / 2, w / 2]), g1 = Tensor.fromArray(up, [n, k, h, w]);
      const gx1 = Tensor.empty([n, c, h, w]), gx2 = Tensor.empty([n, c, h, w]);
      native.conv2dBackwardInput(wt.storage, g1.storage, gx1.storage, p1);
      native.conv2dBackwardInput(wt.storage, g2.storage, gx2.storage, p2);
      expectClose(gx2.toArray(), gx1.toArray(), 1e-4, 'stride-2 input gradient');
      const gw1 = Tensor.empty([k, c, 3, 3]), gw2 = Tensor.empty([k, c, 3, 3]);
      native.conv2dBackwardWeight(x.storage, g1.storage, gw1.storage, p1);
      native.conv2dBackwardWeight(x.storage, g2.storage, gw2.storage, p2);
      expectClose(gw2.toArray(), gw1.toArray(), 1e-4, 'stride-2 weight gradient');
    });
  });
});

describe('conv2d / convTranspose2d: finite differences', () => {
  const cases: { x: number[]; w: number[]; s: number; p: number; g: number }[] = [
    { x: [2, 3, 5, 7], w: [4, 3, 3, 3], s: 1, p: 1, g: 1 },
    { x: [1, 4, 7, 6], w: [6, 2, 3, 3], s: 2, p: 0, g: 2 },
    { x: [2, 2, 6, 5], w: [3, 2, 5, 5], s: 1, p: 2, g: 1 },
    { x: [1, 3, 5, 5], w: [2, 3, 1, 1], s: 2, p: 0, g: 1 },
    { x: [1, 2, 5, 5], w: [2, 2, 3, 3], s: 1, p: 2, g: 1 },
  ];
  for (const [i, c] of cases.entries()) {
    it(`conv2d gradcheck x ${JSON.stringify(c.x)} w ${JSON.stringify(c.w)} s ${c.s} p ${c.p} g ${c.g}`, () => {
      const x = randTensor(c.x, 10 + i), w = randTensor(c.w, 20 + i), b = randTensor([c.w[0]!], 30 + i);
      gradcheck((a, bb, cc) => ops.conv2d(a, bb, cc, { stride: c.s, padding: c.p, groups: c.g }), [x, w, b]);
    });
    it(`convTranspose2d gradcheck x ${JSON.stringify(c.x)} s ${c.s} p ${c.p} g ${c.g}`, () => {
      const cin = c.x[1]!;
      const wt = randTensor([cin, c.w[0]! / c.g, c.w[2]!, c.w[3]!], 40 + i);
      const x = randTensor(c.x, 50 + i), b = randTensor([c.w[0]!], 60 + i);
      gradcheck((a, bb, cc) => ops.convTranspose2d(a, bb, cc, { stride: c.s, padding: Math.min(c.p, c.w[2]! - 1), groups: c.g, outputPadding: c.s - 1 }), [x, wt, b]);
    });
  }
});

// ---- ISA paths ----------------------------------------------------------------------------------

/** Runs a batch of conv and gemm computations in a child process with SGI_ISA forced. */
function runChild(isa: string | null): { isa: string; kernel: string; results: number[][] } {
  const indexJs = createRequire(import.meta.url).resolve('@sgi/native-cuda');
  const script = `
    const native = require(${JSON.stringify(indexJs)});
    function rng(seed) { let a = seed >>> 0; return () => { a = (a + 0x6d2b79f5) >>> 0; let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }; }
    const rand = (n, seed) => { const r = rng(seed); const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = r() * 2 - 1; return native.fromArray(a, 0); };
    const results = [];
    const convs = ${JSON.stringify(shapes)};
    convs.forEach((c, i) => {
      const [n, ch, h, w] = c.x, [k, , kh, kw] = c.w;
      const oh = Math.floor((h + 2 * c.p[0] - kh) / c.s[0]) + 1, ow = Math.floor((w + 2 * c.p[1] - kw) / c.s[1]) + 1;
      const params = [n, ch, h, w, k, kh, kw, c.s[0], c.s[1], c.p[0], c.p[1], c.g];
      const x = rand(n * ch * h * w, i + 1), wt = rand(k * (ch / c.g) * kh * kw, i + 2), b = rand(k, i + 3), gy = rand(n * k * oh * ow, i + 4);
      const y = new native.Storage(n * k * oh * ow, 0), gx = new native.Storage(n * ch * h * w, 0), gw = new native.Storage(k * (ch / c.g) * kh * kw, 0);
      native.conv2dForward(x, wt, b, y, params);
      native.conv2dBackwardInput(wt, gy, gx, params);
      native.conv2dBackwardWeight(x, gy, gw, params);
      results.push(Array.from(native.toArray(y)), Array.from(native.toArray(gx)), Array.from(native.toArray(gw)));
      if (kh === 3 && kw === 3 && c.s[0] === 1 && c.s[1] === 1) {
        native.conv2dAlgorithm('winograd');
        native.conv2dForward(x, wt, b, y, params);
        native.conv2dAlgorithm('auto');
        results.push(Array.from(native.toArray(y)));
      }
    });
    for (const [M, N, K] of [[1, 40, 33], [3, 70, 129], [37, 45, 300], [100, 129, 64], [15, 513, 257]]) {
      for (const ta of [false, true]) for (const tb of [false, true]) {
        const a = rand(M * K, M + K), b = rand(K * N, N + K + 7), c = rand(M * N, M + N + 3);
        native.gemm(a, b, c, M, N, K, ta, tb, 0.75, 0.5);
        results.push(Array.from(native.toArray(c)));
      }
    }
    process.stdout.write(JSON.stringify({ isa: native.info().cpu.isa, kernel: native.gemmKernel(), results }));
  `;
  const env = { ...process.env };
  delete env.SGI_ISA;
  if (isa) env.SGI_ISA = isa;
  const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`child (SGI_ISA=${isa}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('CPU ISA paths agree', () => {
  it('AVX-512, AVX2 and generic micro-kernels give the same convolutions and GEMMs', () => {
    const best = runChild(null);
    const avx2 = runChild('avx2');
    const generic = runChild('generic');
    expect(generic.isa).toBe('generic');
    expect(generic.kernel).toMatch(/^generic/);
    if (best.isa !== 'generic') expect(avx2.kernel).toMatch(/^avx2/);
    if (best.isa === 'avx512') expect(best.kernel).toMatch(/^avx512/);
    for (const other of [avx2, generic]) {
      expect(other.results.length).toBe(best.results.length);
      other.results.forEach((r, i) => {
        const err = relError(Float32Array.from(r), Float32Array.from(best.results[i]!));
        expect(err, `${other.kernel} vs ${best.kernel}: result ${i} differs by ${err}`).toBeLessThanOrEqual(1e-5);
      });
    }
  }, 120_000);
});

// ---- errors and memory --------------------------------------------------------------------------

describe('conv2d / convTranspose2d: bad input', () => {
  it('names the op and the shapes', () => {
    const x = Tensor.zeros([1, 3, 5, 5]);
    expect(() => ops.conv2d(x, Tensor.zeros([4, 2, 3, 3]))).toThrow(/conv2d: input \[1, 3, 5, 5\] has 3 channels but weight \[4, 2, 3, 3\] expects 2/);
    expect(() => ops.conv2d(x, Tensor.zeros([4, 1, 3, 3]), null, { groups: 3 })).toThrow(/conv2d: weight \[4, 1, 3, 3\] has 4 output channels, not divisible by groups 3/);
    expect(() => ops.conv2d(x, Tensor.zeros([4, 3, 3, 3]), Tensor.zeros([5]))).toThrow(/conv2d: bias \[5\] does not match 4 output channels/);
    expect(() => ops.conv2d(x, Tensor.zeros([4, 3, 7, 7]))).toThrow(/conv2d: input \[1, 3, 5, 5\] with padding \[0, 0\] is smaller than the kernel \[7, 7\]/);
    expect(() => ops.conv2d(Tensor.zeros([3, 5, 5]), Tensor.zeros([4, 3, 3, 3]))).toThrow(/conv2d: input must be 4-d \[N, C, H, W\], got \[3, 5, 5\]/);
    expect(() => ops.conv2d(x, Tensor.zeros([4, 3, 3, 3]), null, { stride: 0 })).toThrow(/conv2d: stride must be an integer >= 1/);
    expect(() => ops.conv2d(x, Tensor.zeros([4, 3, 3, 3]), null, { padding: [1, 2, 3] })).toThrow(/conv2d: padding must be an integer >= 0 or a pair/);
    expect(() => ops.convTranspose2d(x, Tensor.zeros([4, 2, 3, 3]))).toThrow(/convTranspose2d: input \[1, 3, 5, 5\] has 3 channels but weight \[4, 2, 3, 3\] expects 4/);
    expect(() => ops.convTranspose2d(x, Tensor.zeros([3, 2, 3, 3]), null, { stride: 2, outputPadding: 2 })).toThrow(/convTranspose2d: outputPadding \[2, 2\] must be smaller than the stride \[2, 2\]/);
  });

  it('rejects tensors on different devices', () => {
    const x = Tensor.zeros([1, 3, 5, 5]);
    const fakeCuda = { ndim: 4, shape: [4, 3, 3, 3], device: 'cuda' } as unknown as Tensor;
    expect(() => ops.conv2d(x, fakeCuda)).toThrow(/conv2d: tensors are on different devices \(cpu and cuda\)/);
    expect(() => ops.convTranspose2d(x, { ndim: 4, shape: [3, 3, 3, 3], device: 'cuda' } as unknown as Tensor)).toThrow(/convTranspose2d: tensors are on different devices/);
  });

  it('native functions check every storage size', () => {
    const params = [1, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1];
    const x = Tensor.zeros([1, 3, 5, 5]), w = Tensor.zeros([4, 3, 3, 3]), y = Tensor.zeros([1, 4, 5, 4]);
    expect(() => native.conv2dForward(x.storage, w.storage, null, y.storage, params)).toThrow(/conv2dForward: tensor 'y' has 80 elements, expected 100/);
    expect(() => native.conv2dBackwardWeight(x.storage, y.storage, w.storage, params)).toThrow(/conv2dBackwardWeight: tensor 'gy' has 80 elements/);
    expect(() => native.conv2dForward(x.storage, w.storage, null, y.storage, [1, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 2])).toThrow(/conv2dForward: .*3 input channels are not divisible by groups 2/);
    expect(() => native.conv2dForward(x.storage, w.storage, null, y.storage, [1, 3, 5])).toThrow(/conv2dForward: 'params' must be/);
    expect(() => native.conv2dAlgorithm('fft' as never)).toThrow(/unknown algorithm 'fft'/);
  });

  it('leaves no storages behind inside scopes', () => {
    const w = randTensor([8, 4, 3, 3], 1);
    w.persistent = true;
    const before = native.memory().liveStorages;
    for (let i = 0; i < 20; i++) {
      tidy(() => {
        const x = randTensor([2, 8, 9, 9], 2 + i).requireGrad(false);
        const y = ops.sum(ops.conv2d(ops.convTranspose2d(x, w, null, { padding: 1 }), w, null, { padding: 1 }));
        y.backward();
        w.grad?.release();
        w.grad = null;
      });
    }
    expect(native.memory().liveStorages).toBe(before);
  });

  it('reports the chosen kernel and algorithm', () => {
    expect(native.gemmKernel()).toMatch(/^(avx512-14x32|avx2-6x16|generic-4x8)$/);
    expect(ops.conv2dAlgorithm()).toBe('auto');
  });
});
