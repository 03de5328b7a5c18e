// Every native kernel family on CUDA against the CPU backend, as one table of cases that runs
// anywhere both devices exist: on a GPU, or on the CUDA emulator build (SGI_CUDA_EMU=ON). The test
// suite (test/cuda_parity.test.ts) and the GPU check (scripts/gpu-check.mjs, which runs without
// vitest) both run this table; a case throws on the first mismatch, naming it.
import { native, type Storage } from './native.js';
import { Tensor, type Device } from './tensor.js';
import { tidy } from './scope.js';
import * as ops from './ops/index.js';

export interface ParityCase {
  /** The kernel family, as in the file names of src/cpu and src/cuda. */
  family: string;
  what: string;
  run: () => void;
}

/** Largest |a - b| over max(1, max |b|), the fixtures' relative metric. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let d = 0, m = 1;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i]! - b[i]!);
    d = Number.isNaN(e) ? Infinity : Math.max(d, e);
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

function expectClose(actual: Float32Array, expected: Float32Array, tol: number, label: string): void {
  const err = relativeError(actual, expected);
  if (!(err <= tol)) throw new Error(`${label}: relative error ${err.toExponential(2)} > ${tol}`);
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), for tests and the parity table. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded uniform values in [lo, hi) as a CPU tensor that requires grad. */
export function randTensor(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  const r = mulberry32(seed);
  const data = new Float32Array(shape.reduce((x, y) => x * y, 1));
  for (let i = 0; i < data.length; i++) data[i] = lo + (hi - lo) * r();
  return Tensor.fromArray(data, shape).requireGrad();
}

/**
 * f on CPU inputs and on CUDA copies of them: outputs within 1e-4 and, for a random upstream
 * gradient, the gradients of every input that requires grad within 1e-3 (relative).
 */
export function matchesOnCuda(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], label: string): void {
  for (const t of inputs) { t.grad?.release(); t.grad = null; }
  const gpu = inputs.map((t) => { const g = t.detach().to('cuda'); g.requiresGrad = t.requiresGrad; return g; });
  const outC = f(...inputs), outG = f(...gpu);
  if (outG.device !== 'cuda') throw new Error(`${label}: the output of CUDA inputs is on ${outG.device}`);
  expectClose(outG.to('cpu').toArray(), outC.toArray(), 1e-4, `${label}: out`);
  const g = randTensor([...outC.shape], 99).detach();
  outC.backward(g);
  outG.backward(g.to('cuda'));
  inputs.forEach((t, i) => {
    if (!t.requiresGrad) return;
    expectClose(gpu[i]!.grad!.to('cpu').toArray(), t.grad!.toArray(), 1e-3, `${label}: grad ${i}`);
  });
}

const positive = (shape: number[], seed: number) => randTensor(shape, seed, 0.2, 2);
const on = (t: Tensor, d: Device) => (t.device === d ? t : t.to(d));


/** The optimizer family's native function (declared by @sgi/trainer, which uses it). */
const optimizerNative = native as unknown as {
  optimizerStep(p: Storage, g: Storage, m: Storage, v: Storage, slow: Storage | null, rows: number, centralize: boolean, mode: number,
    beta1: number, beta2: number, oneMinusBeta1: number, oneMinusBeta2: number, eps: number, step: number, denomDiv: number, l2: number,
    decay: number, sync: boolean, alpha: number): void;
};

/** The table: one row per kernel family (several per family where the paths differ). */
export const CUDA_PARITY_CASES: ParityCase[] = [
  {
    family: 'element-wise', what: 'binary ops with broadcasting (contiguous and strided walks)',
    run: () => {
      const a = randTensor([3, 4, 5], 1), b = randTensor([4, 1], 2), c = randTensor([3, 4, 5], 3);
      for (const op of [ops.add, ops.sub, ops.mul, ops.minimum, ops.maximum]) {
        matchesOnCuda((x, y) => op(x, y), [a, b], `${op.name} broadcast`);
        matchesOnCuda((x, y) => op(x, y), [a, c], `${op.name} same shape`);
      }
      matchesOnCuda((x, y) => ops.div(x, y), [a, positive([4, 1], 4)], 'div');
    },
  },
  {
    family: 'element-wise', what: 'every unary op and its gradient',
    run: () => {
      const x = randTensor([6, 7, 9], 5), p = positive([6, 7, 9], 6);
      const unary: [string, (t: Tensor) => Tensor, Tensor][] = [
        ['neg', ops.neg, x], ['exp', ops.exp, x], ['log', ops.log, p], ['sqrt', ops.sqrt, p], ['rsqrt', ops.rsqrt, p],
        ['abs', ops.abs, x], ['relu', ops.relu, x], ['sigmoid', ops.sigmoid, x], ['tanh', ops.tanh, x],
        ['leakyRelu', (t) => ops.leakyRelu(t, 0.2), x], ['scale', (t) => ops.scale(t, -1.5), x],
        ['addScalar', (t) => ops.addScalar(t, 0.25), x], ['pow', (t) => ops.pow(t, 1.7), p], ['square', ops.square, x],
        ['reciprocal', ops.reciprocal, p],
      ];
      for (const [name, f, input] of unary) matchesOnCuda(f, [input], name);
    },
  },
  {
    family: 'element-wise', what: 'strided copies (permute, slice, cat, expand) and sums over dims',
    run: () => {
      const x = randTensor([4, 5, 6, 3], 7), y = randTensor([4, 2, 6, 3], 8);
      matchesOnCuda((t) => ops.mul(ops.permute(t, [2, 0, 3, 1]), 1), [x], 'permute');
      matchesOnCuda((t) => ops.mul(ops.slice(t, 1, 1, 4), 1), [x], 'slice');
      matchesOnCuda((t, u) => ops.cat([t, u], 1), [x, y], 'cat');
      matchesOnCuda((t) => ops.expand(ops.sum(t, [1], true), [4, 5, 6, 3]), [x], 'expand');
      for (const dims of [[0], [1], [3], [0, 2], [1, 3], [0, 1, 2, 3]]) matchesOnCuda((t) => ops.sum(t, dims), [x], `sum ${dims}`);
      matchesOnCuda((t) => ops.mean(t, [2, 3]), [randTensor([2, 3, 70, 90], 9)], 'mean over a long reduction');
    },
  },
  {
    family: 'element-wise', what: 'fill and copies between devices',
    run: () => {
      const z = Tensor.full([5, 130], 0.75, 'cuda');
      const values = new Set(z.to('cpu').toArray());
      if (values.size !== 1 || !values.has(0.75)) throw new Error(`fill: got values ${[...values].slice(0, 4).join(', ')}, expected 0.75`);
      const x = randTensor([3, 33], 10).detach();
      expectClose(x.to('cuda').clone().to('cpu').toArray(), x.toArray(), 0, 'round trip');
    },
  },
  {
    family: 'GEMM', what: 'matmul (every transpose), batched matmul, linear with bias',
    run: () => {
      matchesOnCuda((a, b) => ops.matmul(a, b), [randTensor([37, 70], 11), randTensor([70, 45], 12)], 'matmul');
      matchesOnCuda((a, b) => ops.matmul(ops.transpose(a, 0, 1), b), [randTensor([70, 37], 13), randTensor([70, 45], 14)], 'matmul At B');
      matchesOnCuda((a, b) => ops.matmul(a, ops.transpose(b, 0, 1)), [randTensor([37, 70], 15), randTensor([45, 70], 16)], 'matmul A Bt');
      matchesOnCuda((a, b) => ops.matmul(a, b), [randTensor([3, 17, 20], 17), randTensor([3, 20, 9], 18)], 'batched matmul');
      matchesOnCuda((x, w, b) => ops.linear(x, w, b), [randTensor([6, 130], 19), randTensor([66, 130], 20), randTensor([66], 21)], 'linear');
    },
  },
  {
    family: 'conv', what: 'conv2d forward and backward: 3x3 stride 1, stride 2, 1x1, grouped, transposed',
    run: () => {
      const x = randTensor([2, 6, 11, 13], 22);
      matchesOnCuda((a, w, b) => ops.conv2d(a, w, b, { padding: 1 }), [x, randTensor([8, 6, 3, 3], 23), randTensor([8], 24)], 'conv 3x3');
      matchesOnCuda((a, w) => ops.conv2d(a, w, null, { stride: 2, padding: 1 }), [x, randTensor([5, 6, 3, 3], 25)], 'conv stride 2');
      matchesOnCuda((a, w) => ops.conv2d(a, w), [x, randTensor([4, 6, 1, 1], 26)], 'conv 1x1');
      matchesOnCuda((a, w) => ops.conv2d(a, w, null, { padding: 1, groups: 3 }), [x, randTensor([9, 2, 3, 3], 27)], 'grouped conv');
      matchesOnCuda((a, w, b) => ops.convTranspose2d(a, w, b, { stride: 2, padding: 1, outputPadding: 1 }),
        [x, randTensor([6, 4, 3, 3], 28), randTensor([4], 29)], 'transposed conv');
    },
  },
  {
    family: 'modulated conv', what: 'StyleGAN2 modulated conv with demodulation, noise and activation; upsampling',
    run: () => {
      const x = randTensor([2, 4, 8, 8], 30), w = randTensor([1, 5, 4, 3, 3], 31), s = positive([2, 4], 32);
      matchesOnCuda((a, ww, ss) => ops.modulatedConv2d(a, ww, ss, {
        noise: on(randTensor([2, 1, 8, 8], 33).detach(), a.device), noiseWeight: on(Tensor.fromArray([0.3], [1]), a.device),
        activation: { bias: on(randTensor([5], 34).detach(), a.device) },
      }), [x, w, s], 'modulated conv + noise + activation');
      matchesOnCuda((a, ww, ss) => ops.modulatedConv2d(a, ww, ss, { upsample: true, blurKernel: ops.makeBlurKernel([1, 3, 3, 1], 2, a.device) }),
        [x, w, s], 'modulated conv upsample');
      matchesOnCuda((a, ww, ss) => ops.modulatedConv2d(a, ww, ss, { demodulate: false }), [x, randTensor([1, 3, 4, 1, 1], 35), s], 'toRGB');
    },
  },
  {
    family: 'pooling', what: 'adaptive average (dividing and not), max and average pooling',
    run: () => {
      const x = randTensor([2, 3, 14, 15], 36);
      matchesOnCuda((t) => ops.adaptiveAvgPool2d(t, [7, 5]), [x], 'adaptive dividing');
      matchesOnCuda((t) => ops.adaptiveAvgPool2d(t, [4, 6]), [x], 'adaptive non-dividing');
      matchesOnCuda((t) => ops.maxPool2d(t, { kernel: 3, stride: 2, padding: 1 }), [x], 'max pool');
      matchesOnCuda((t) => ops.avgPool2d(t, { kernel: 2 }), [x], 'avg pool');
    },
  },
  {
    family: 'resampling', what: 'upfirdn2d (up, down, pad) and bilinear interpolation',
    run: () => {
      const x = randTensor([2, 3, 9, 10], 37);
      matchesOnCuda((t) => ops.upfirdn2d(t, ops.firKernel2d([1, 3, 3, 1], 4, t.device), { up: 2, pad: [2, 1] }), [x], 'upfirdn up 2');
      matchesOnCuda((t) => ops.upfirdn2d(t, ops.firKernel2d([1, 3, 3, 1], 1, t.device), { down: 2, pad: [1, 1] }), [x], 'upfirdn down 2');
      matchesOnCuda((t) => ops.interpolateBilinear(t, [17, 23]), [x], 'bilinear up');
      matchesOnCuda((t) => ops.interpolateBilinear(t, [5, 4], { alignCorners: false }), [x], 'bilinear down');
    },
  },
  {
    family: 'normalization', what: 'batch norm (training with running stats, eval) and pixel norm',
    run: () => {
      for (const shape of [[4, 6], [3, 5, 7, 9], [2, 3, 130, 70]]) {
        const c = shape[1]!;
        const x = randTensor(shape, 61), w = randTensor([c], 62), b = randTensor([c], 63);
        const rmC = Tensor.zeros([c]), rvC = Tensor.ones([c]);
        const rmG = rmC.to('cuda'), rvG = rvC.to('cuda');
        const stats = (t: Tensor) => (t.device === 'cuda' ? [rmG, rvG] : [rmC, rvC]) as [Tensor, Tensor];
        matchesOnCuda((a, ww, bb) => ops.batchNorm(a, ww, bb, ...stats(a), { training: true }), [x, w, b], `batchNorm train ${shape}`);
        expectClose(rmG.to('cpu').toArray(), rmC.toArray(), 1e-5, 'running mean');
        expectClose(rvG.to('cpu').toArray(), rvC.toArray(), 1e-5, 'running var');
        matchesOnCuda((a, ww, bb) => ops.batchNorm(a, ww, bb, ...stats(a), { training: false }), [x, w, b], `batchNorm eval ${shape}`);
        matchesOnCuda((a) => ops.pixelNorm(a), [x], `pixelNorm ${shape}`);
      }
    },
  },
  {
    family: 'activation', what: 'PReLU (per channel and shared) and fused leaky ReLU',
    run: () => {
      for (const shape of [[4, 6], [3, 5, 7, 9], [2, 3, 130, 70]]) {
        const c = shape[1]!;
        const x = randTensor(shape, 71), w = randTensor([c], 72), b = randTensor([c], 73);
        matchesOnCuda((a, ww) => ops.prelu(a, ww), [x, w], `prelu ${shape}`);
        matchesOnCuda((a, ww) => ops.prelu(a, ww), [x, randTensor([1], 74)], `prelu shared ${shape}`);
        matchesOnCuda((a, bb) => ops.fusedLeakyRelu(a, bb), [x, b], `fusedLeakyRelu ${shape}`);
      }
    },
  },
  {
    family: 'loss', what: 'MSE and cosine losses',
    run: () => {
      for (const shape of [[4, 6], [3, 5, 7, 9], [2, 3, 130, 70]]) {
        const a = randTensor(shape, 81), b = randTensor(shape, 82);
        matchesOnCuda((x, y) => ops.mseLoss(x, y), [a, b], `mseLoss ${shape}`);
        matchesOnCuda((x, y) => ops.cosineLoss(x, y), [a.detach(), b], `cosineLoss ${shape}`);
      }
    },
  },
  {
    family: 'optimizer', what: 'the fused Ranger / Adam step (adaptive and momentum modes, centralised rows, lookahead)',
    run: () => {
      for (const [mode, centralize, slow] of [[0, true, true], [1, false, true], [0, false, false]] as const) {
        const state = [randTensor([12, 9], 91), randTensor([12, 9], 92), randTensor([12, 9], 93), positive([12, 9], 94), randTensor([12, 9], 95)]
          .map((t) => t.detach());
        const run = (d: Device) => {
          const [p, g, m, v, s] = state.map((t) => t.to(d).clone());
          for (let step = 1; step <= 3; step++) {
            optimizerNative.optimizerStep(p!.storage, g!.storage, m!.storage, v!.storage, slow ? s!.storage : null, centralize ? 12 : 1, centralize, mode,
              0.9, 0.999, 0.1, 0.001, 1e-5, 0.01 * step, 1.3, 1e-4, 1e-3, slow && step === 3, 0.5);
          }
          return [p, m, v, s].map((t) => t!.to('cpu').toArray());
        };
        const [a, b] = [run('cpu'), run('cuda')];
        a.forEach((t, i) => expectClose(b[i]!, t, 1e-5, `optimizer mode ${mode} tensor ${i}`));
      }
    },
  },
];

/** The fused inference path of eval-mode networks on the CPU (ops/conv_inference.ts): no CUDA version. */
export const CPU_ONLY_KERNELS = ['conv2dWinogradWeights', 'conv2dForwardFused', 'scaleChannelsAdd'];

/** Native functions that are not kernels (memory, queries, collectives, test hooks, CPU-only fusions): not device-dispatched. */

export function isKernelFunction(name: string): boolean {
  return !['Storage', 'fromArray', 'toArray', 'memory', 'emptyCache', 'resetPeakMemory', 'info', 'setNumThreads', 'synchronize',
    'debugThrow', 'conv2dAlgorithm', 'gemmKernel', ...CPU_ONLY_KERNELS].includes(name) && !name.startsWith('dist');
}

/**
 * Runs `fn` while recording which native kernel functions receive a CUDA storage; returns their
 * names. The ops read `native.<fn>` at call time, so wrapping the addon's exports sees every call.
 */
export function kernelsReachedOnCuda(fn: () => void): { reached: Set<string>; kernels: string[] } {
  const table = native as unknown as Record<string, unknown>;
  const originals = new Map<string, (...args: unknown[]) => unknown>();
  const reached = new Set<string>();
  for (const [name, f] of Object.entries(table)) {
    if (typeof f !== 'function' || !isKernelFunction(name)) continue;
    const original = f as (...args: unknown[]) => unknown;
    originals.set(name, original);
    table[name] = (...args: unknown[]) => {
      if (args.some((a) => a !== null && typeof a === 'object' && (a as { device?: string }).device === 'cuda')) reached.add(name);
      return original.apply(native, args);
    };
  }
  try {
    fn();
  } finally {
    for (const [name, f] of originals) table[name] = f;
  }
  return { reached, kernels: [...originals.keys()].sort() };
}

/** Runs one case in a scope (its tensors are released after). */
export function runParityCase(c: ParityCase): void {
  tidy(c.run);
}
