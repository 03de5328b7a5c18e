// Backends: the addon loads everywhere, reports its CPU ISA and whether CUDA is compiled in and
// usable (with the reason when not), picks the default device, refuses CUDA tensors where no
// device exists, and runs the element-wise family identically on every available backend
// (checked against plain-JavaScript references and against the CPU kernels).
//
// Builds with CUDA off: when the addon under test was built with SGI_CUDA=OFF the checks below
// cover it directly; a CUDA-on run also loads a CUDA-off build in a child process when
// SGI_NATIVE_CPU_ONLY_PATH points at one (CI builds both; see the report in the commit).
import { describe, it, expect, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, ops, native, backends, availableDevices, broadcastShapes, defaultDevice, type Device } from '../src/index.js';
import { forEachBackend, relError, rng } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const addonPath = process.env.SGI_NATIVE_PATH ?? path.resolve(here, '../../native-cuda/build/Release/sgi_native.node');
const info = native.info();

describe('native addon', () => {
  it('loads and exposes the core functions', () => {
    for (const fn of ['fromArray', 'toArray', 'copyInto', 'info', 'memory', 'binaryForward', 'unaryForward', 'unaryBackward', 'stridedCopy', 'sumReduce', 'fill'] as const) {
      expect(typeof native[fn], fn).toBe('function');
    }
    expect(typeof native.Storage).toBe('function');
  });

  it('reports the CPU ISA and thread count', () => {
    expect(['avx512', 'avx2', 'generic']).toContain(info.cpu.isa);
    expect(Number.isInteger(info.cpu.threads)).toBe(true);
    expect(info.cpu.threads).toBeGreaterThanOrEqual(1);
  });

  it('reports whether CUDA is compiled and available, with a reason when it is not', () => {
    const c = info.cuda;
    expect(typeof c.compiled).toBe('boolean');
    expect(typeof c.available).toBe('boolean');
    expect(typeof c.cudnn).toBe('boolean');
    if (!c.compiled) {
      expect(c.available).toBe(false);
      expect(c.reason).toMatch(/built without CUDA/);
    } else if (!c.available) {
      expect(c.deviceCount).toBe(0);
      expect(c.reason).toMatch(/^no CUDA device: \S/);
      expect(c.cudnn).toBe(false);
      expect(c.cudnnReason).toMatch(/no CUDA device/);
    } else {
      expect(c.deviceCount).toBeGreaterThanOrEqual(1);
      expect(c.reason).toBeUndefined();
      expect(typeof c.deviceName).toBe('string');
      // cuDNN is optional: when missing, the reason says the built-in kernels are used.
      if (!c.cudnn) expect(c.cudnnReason).toMatch(/built-in CUDA kernels/);
    }
  });

  // Only a CUDA build links a CUDA runtime; the addon under test must exist and ldd must run.
  it.runIf(process.platform === 'linux' && info.cuda.compiled)(
    'links the CUDA runtime statically: no libcudart, libcuda or libcudnn dependency',
    () => {
      expect(fs.existsSync(addonPath), `${addonPath} not found (set SGI_NATIVE_PATH to the addon under test)`).toBe(true);
      const r = spawnSync('ldd', [addonPath], { encoding: 'utf8' });
      expect(r.error, 'ldd could not be run').toBeUndefined();
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/=>|statically linked/);
      expect(r.stdout).not.toMatch(/libcudart|libcuda\.|libcudnn/);
    },
  );

  // `npm test` builds the CPU-only variant too (nx target native-cuda:build-cpu-only): a missing
  // build is a failure, not a skip.
  const defaultCpuOnly = path.resolve(here, '../../native-cuda/build-cpu-only/Release/sgi_native.node');
  const cpuOnly = process.env.SGI_NATIVE_CPU_ONLY_PATH || defaultCpuOnly;
  it('a build with CUDA off (SGI_NATIVE_CPU_ONLY_PATH) loads and reports compiled: false', () => {
    expect(fs.existsSync(cpuOnly), `${cpuOnly} not found: build it with \`npx nx run native-cuda:build-cpu-only\` (npm test does) or set SGI_NATIVE_CPU_ONLY_PATH`).toBe(true);
    const script = `const n = require(${JSON.stringify(cpuOnly)}); process.stdout.write(JSON.stringify(n.info()));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const other = JSON.parse(r.stdout);
    expect(other.cuda.compiled).toBe(false);
    expect(other.cuda.available).toBe(false);
    expect(other.cuda.reason).toMatch(/built without CUDA/);
  });
});

describe('backends and the default device', () => {
  const saved = process.env.SGI_DEVICE;
  afterEach(() => {
    if (saved === undefined) delete process.env.SGI_DEVICE;
    else process.env.SGI_DEVICE = saved;
  });

  it('lists cpu (always available) and cuda (with the reason when unavailable)', () => {
    const list = backends();
    expect(list.map((b) => b.name)).toEqual(['cpu', 'cuda']);
    expect(list[0]).toEqual({ name: 'cpu', available: true });
    expect(list[1]!.available).toBe(info.cuda.available);
    if (!info.cuda.available) expect(list[1]!.reason).toBe(info.cuda.reason);
    expect(availableDevices()).toEqual(info.cuda.available ? ['cpu', 'cuda'] : ['cpu']);
  });

  it('defaults to cuda when available, else cpu; SGI_DEVICE=cpu forces the CPU', () => {
    delete process.env.SGI_DEVICE;
    expect(defaultDevice()).toBe(info.cuda.available ? 'cuda' : 'cpu');
    process.env.SGI_DEVICE = 'auto';
    expect(defaultDevice()).toBe(info.cuda.available ? 'cuda' : 'cpu');
    process.env.SGI_DEVICE = 'cpu';
    expect(defaultDevice()).toBe('cpu');
    process.env.SGI_DEVICE = 'CPU';
    expect(defaultDevice()).toBe('cpu');
  });

  it('SGI_DEVICE=cuda without a usable CUDA backend throws with the reason', () => {
    process.env.SGI_DEVICE = 'cuda';
    if (info.cuda.available) expect(defaultDevice()).toBe('cuda');
    else expect(() => defaultDevice()).toThrow(/SGI_DEVICE=cuda but the CUDA backend cannot be used: (no CUDA device|built without CUDA)/);
  });

  it('rejects an unknown SGI_DEVICE', () => {
    process.env.SGI_DEVICE = 'tpu';
    expect(() => defaultDevice()).toThrow(/SGI_DEVICE must be 'cpu', 'cuda' or 'auto' \(got 'tpu'\)/);
  });

  it.skipIf(info.cuda.available)('creating a CUDA tensor without a CUDA device throws and leaks nothing', () => {
    const host = Tensor.ones([4]);
    const before = native.memory();
    const expected = /no CUDA device|no CUDA backend/;
    expect(() => Tensor.zeros([2, 3], 'cuda')).toThrow(expected);
    expect(() => Tensor.fromArray([1, 2, 3], [3], 'cuda')).toThrow(expected);
    expect(() => host.to('cuda')).toThrow(expected);
    expect(() => new native.Storage(8, 1)).toThrow(expected);
    if (info.cuda.compiled) expect(() => Tensor.zeros([1], 'cuda')).toThrow(/^CUDA tensor requested but no CUDA device: /);
    const after = native.memory();
    expect(after.liveStorages).toBe(before.liveStorages);
    expect(after.cudaBytes).toBe(before.cudaBytes);
    host.release();
  });
});

// ---- element-wise family on every backend ----

function randArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}
const numelOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Compares with a float64 reference using the fixtures' relative metric. */
function expectNear(actual: Float32Array, expected: ArrayLike<number>, tol: number, label: string): void {
  expect(actual.length, `${label}: element count`).toBe(expected.length);
  const err = relError(actual, Float32Array.from(expected));
  expect(err, `${label}: relative error ${err.toExponential(2)} > ${tol}`).toBeLessThanOrEqual(tol);
}

/** Row-major index -> value of `data` (shape `from`) broadcast to `to`. */
function broadcastRef(data: Float32Array, from: readonly number[], to: readonly number[]): Float64Array {
  const out = new Float64Array(numelOf(to));
  const off = to.length - from.length;
  for (let i = 0; i < out.length; i++) {
    let rem = i, src = 0, stride = 1;
    for (let d = to.length - 1; d >= 0; d--) {
      const k = rem % to[d]!;
      rem = Math.floor(rem / to[d]!);
      const fd = d - off;
      if (fd >= 0) {
        if (from[fd] !== 1) src += k * stride;
        stride *= from[fd]!;
      }
    }
    out[i] = data[src]!;
  }
  return out;
}

const BINARY: Record<string, [(a: Tensor, b: Tensor) => Tensor, (a: number, b: number) => number]> = {
  add: [ops.add, (a, b) => a + b],
  sub: [ops.sub, (a, b) => a - b],
  mul: [ops.mul, (a, b) => a * b],
  div: [ops.div, (a, b) => a / b],
  maximum: [ops.maximum, (a, b) => Math.max(a, b)],
  minimum: [ops.minimum, (a, b) => Math.min(a, b)],
};

const sig = (x: number) => 1 / (1 + Math.exp(-x));
// op, forward, derivative, whether the input must be positive
const UNARY: [string, (x: Tensor) => Tensor, (x: number) => number, (x: number) => number, boolean][] = [
  ['neg', ops.neg, (x) => -x, () => -1, false],
  ['exp', ops.exp, Math.exp, Math.exp, false],
  ['log', ops.log, Math.log, (x) => 1 / x, true],
  ['sqrt', ops.sqrt, Math.sqrt, (x) => 0.5 / Math.sqrt(x), true],
  ['rsqrt', ops.rsqrt, (x) => 1 / Math.sqrt(x), (x) => -0.5 * x ** -1.5, true],
  ['abs', ops.abs, Math.abs, (x) => Math.sign(x), false],
  ['relu', ops.relu, (x) => Math.max(x, 0), (x) => (x > 0 ? 1 : 0), false],
  ['sigmoid', ops.sigmoid, sig, (x) => sig(x) * (1 - sig(x)), false],
  ['tanh', ops.tanh, Math.tanh, (x) => 1 - Math.tanh(x) ** 2, false],
  ['leakyRelu', (x) => ops.leakyRelu(x, 0.2), (x) => (x >= 0 ? x : 0.2 * x), (x) => (x >= 0 ? 1 : 0.2), false],
  ['scale', (x) => ops.scale(x, 3), (x) => 3 * x, () => 3, false],
  ['addScalar', (x) => ops.addScalar(x, 0.5), (x) => x + 0.5, () => 1, false],
  ['powScalar', (x) => ops.pow(x, 1.7), (x) => x ** 1.7, (x) => 1.7 * x ** 0.7, true],
  ['square', ops.square, (x) => x * x, (x) => 2 * x, false],
  ['reciprocal', ops.reciprocal, (x) => 1 / x, (x) => -1 / (x * x), true],
];

/** Runs f on copies of the inputs on `device` and returns the outputs on the host. */
function runOn(device: Device, f: (...xs: Tensor[]) => Tensor, inputs: { data: Float32Array; shape: number[] }[]): Float32Array {
  const xs = inputs.map((i) => Tensor.fromArray(i.data, i.shape, device));
  const y = f(...xs);
  const out = y.toArray();
  y.release();
  for (const x of xs) x.release();
  return out;
}

forEachBackend((device) => {
  it('moves data to the device and back unchanged', () => {
    const data = randArray(1000, 1);
    const t = Tensor.fromArray(data, [10, 100]).to(device);
    expect(t.device).toBe(device);
    expect(t.to('cpu').toArray()).toEqual(data);
    expect(Tensor.fromArray(data, [1000], device).toArray()).toEqual(data);
    expect(t.clone().toArray()).toEqual(data);
  });

  it('fills', () => {
    expect([...Tensor.full([3, 5], 2.5, device).toArray()]).toEqual(new Array(15).fill(2.5));
    expect(Tensor.zeros([100_003], device).toArray().every((v) => v === 0)).toBe(true);
  });

  it('binary ops broadcast like NumPy', () => {
    const pairs: [number[], number[]][] = [
      [[2, 3, 4], [2, 3, 4]], [[2, 3, 4], []], [[2, 3, 4], [4]], [[2, 3, 4], [3, 1]], [[2, 1, 4], [1, 3, 1]],
      [[1], [7]], [[5, 1, 1, 6], [5, 1, 6]], [[3, 1000], [1000]], [[1000, 3], [1000, 1]],
    ];
    let seed = 10;
    for (const [sa, sb] of pairs) {
      const a = randArray(numelOf(sa), seed++);
      const b = randArray(numelOf(sb), seed++, 0.5, 2); // b away from 0 for div
      const shape = broadcastShapes('test', sa, sb);
      const ra = broadcastRef(a, sa, shape), rb = broadcastRef(b, sb, shape);
      for (const [name, [f, ref]] of Object.entries(BINARY)) {
        const got = runOn(device, f, [{ data: a, shape: sa }, { data: b, shape: sb }]);
        expectNear(got, Array.from(ra, (v, i) => ref(v, rb[i]!)), 1e-6, `${name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`);
        // and the other way round (the broadcast operand first)
        const back = runOn(device, f, [{ data: b, shape: sb }, { data: a, shape: sa }]);
        expectNear(back, Array.from(rb, (v, i) => ref(v, ra[i]!)), 1e-6, `${name} ${JSON.stringify(sb)} ${JSON.stringify(sa)}`);
      }
    }
  });

  it('unary ops and their derivatives', () => {
    const shape = [7, 129];
    const any = randArray(numelOf(shape), 40, -3, 3);
    const pos = randArray(numelOf(shape), 41, 0.2, 3);
    const w = randArray(numelOf(shape), 42);
    for (const [name, f, ref, dref, positive] of UNARY) {
      const data = positive ? pos : any;
      const x = Tensor.fromArray(data, shape, device).requireGrad();
      const y = f(x);
      expectNear(y.toArray(), Array.from(data, ref), 1e-5, `${name} forward`);
      y.backward(Tensor.fromArray(w, shape, device));
      expect(x.grad!.device).toBe(device);
      expectNear(x.grad!.toArray(), Array.from(data, (v, i) => dref(v) * w[i]!), 1e-5, `${name} backward`);
    }
  });

  it('sums over every subset of dims, with and without keepDim', () => {
    const shape = [2, 3, 4, 5];
    const data = randArray(numelOf(shape), 50);
    for (let mask = 0; mask < 16; mask++) {
      const dims = [0, 1, 2, 3].filter((d) => mask & (1 << d));
      const outShape = shape.map((s, d) => (dims.includes(d) ? 1 : s));
      const ref = new Float64Array(numelOf(outShape));
      for (let i = 0; i < data.length; i++) {
        let rem = i, o = 0, stride = 1;
        for (let d = 3; d >= 0; d--) {
          const k = rem % shape[d]!;
          rem = Math.floor(rem / shape[d]!);
          if (!dims.includes(d)) o += k * stride;
          stride *= outShape[d]!;
        }
        ref[o] += data[i]!;
      }
      const x = Tensor.fromArray(data, shape, device);
      const s = ops.sum(x, dims, true);
      expect(s.shape).toEqual(outShape);
      expectNear(s.toArray(), ref, 1e-6, `sum over ${JSON.stringify(dims)}`);
      expectNear(ops.sum(x, dims).toArray(), ref, 1e-6, `sum over ${JSON.stringify(dims)} (no keepDim)`);
    }
  });

  it('long and short reductions (split into partial sums on CUDA), size-1 and empty dims', () => {
    const cases: [number[], number[]][] = [
      [[3, 70_001], [1]], // few long rows
      [[70_001, 3], [0]], // few long columns
      [[1 << 20], [0]], // one long sum
      [[4, 1, 3], [1]], // only a size-1 dim: a copy
      [[257, 33, 2], [0, 2]], // reduced dims on both sides
      [[2, 0, 3], [1]], // an empty reduced dim: zeros
    ];
    let seed = 60;
    for (const [shape, dims] of cases) {
      const data = randArray(numelOf(shape), seed++, 0, 1);
      const kept = shape.map((s, d) => (dims.includes(d) ? 1 : s));
      const ref = new Float64Array(numelOf(kept));
      for (let i = 0; i < data.length; i++) {
        let rem = i, o = 0, stride = 1;
        for (let d = shape.length - 1; d >= 0; d--) {
          const k = rem % shape[d]!;
          rem = Math.floor(rem / shape[d]!);
          if (!dims.includes(d)) o += k * stride;
          stride *= kept[d]!;
        }
        ref[o] += data[i]!;
      }
      const got = ops.sum(Tensor.fromArray(data, shape, device), dims, true).toArray();
      expectNear(got, ref, 1e-6, `sum ${JSON.stringify(shape)} over ${JSON.stringify(dims)}`);
    }
  });

  it('strided copies: permute, slice, cat, expand, and accumulate into overlapping destinations', () => {
    const shape = [2, 3, 4];
    const data = randArray(24, 70);
    const x = Tensor.fromArray(data, shape, device);
    const at = (i: number, j: number, k: number) => data[i * 12 + j * 4 + k]!;
    const perm: number[] = [];
    for (let k = 0; k < 4; k++) for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) perm.push(at(i, j, k));
    expect(ops.permute(x, [2, 0, 1]).toArray()).toEqual(Float32Array.from(perm));
    const sl: number[] = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 1; k < 3; k++) sl.push(at(i, j, k));
    expect(ops.slice(x, 2, 1, 3).toArray()).toEqual(Float32Array.from(sl));
    const y = Tensor.fromArray(randArray(2 * 5 * 4, 71), [2, 5, 4], device);
    const c = ops.cat([x, y], 1);
    const yd = y.toArray(), cat: number[] = [];
    for (let i = 0; i < 2; i++) cat.push(...data.slice(i * 12, i * 12 + 12), ...yd.slice(i * 20, i * 20 + 20));
    expect(c.toArray()).toEqual(Float32Array.from(cat));
    const e = ops.expand(Tensor.fromArray([1, 2, 3], [3, 1], device), [2, 3, 4]);
    expect([...e.toArray()]).toEqual([0, 1].flatMap(() => [1, 2, 3].flatMap((v) => [v, v, v, v])));
    // accumulate: dst[j] += sum_i src[i, j] (dst stride 0 over i: several writers per element)
    const src = Tensor.fromArray(randArray(400 * 3, 72), [400, 3], device);
    const dst = Tensor.ones([3], device);
    native.stridedCopy(src.storage, 0, dst.storage, 0, [400, 3], [3, 1], [0, 1], true);
    const s = src.toArray(), ref = [1, 1, 1];
    for (let i = 0; i < 400; i++) for (let j = 0; j < 3; j++) ref[j]! += s[i * 3 + j]!;
    expectNear(dst.toArray(), ref, 1e-5, 'accumulate into a broadcast destination');
    // accumulate into distinct elements, with offsets
    const big = Tensor.full([10], 2, device);
    native.stridedCopy(src.storage, 3, big.storage, 1, [4], [3], [2], true);
    const refBig = Array.from({ length: 10 }, (_, i) => (i >= 1 && i < 9 && (i - 1) % 2 === 0 ? 2 + s[3 + ((i - 1) / 2) * 3]! : 2));
    expectNear(big.toArray(), refBig, 1e-6, 'accumulate with offsets and strides');
  });

  it('agrees with the CPU kernels on a chain of ops with gradients', () => {
    const a = randArray(6 * 32, 80), b = randArray(32, 81, 0.5, 1.5);
    const f = (dev: Device) => {
      const x = Tensor.fromArray(a, [6, 32], dev).requireGrad();
      const w = Tensor.fromArray(b, [32], dev).requireGrad();
      const y = ops.mean(ops.square(ops.tanh(ops.div(ops.mul(x, w), ops.addScalar(ops.abs(w), 0.1)))), 1);
      ops.sum(y).backward();
      return [y.toArray(), x.grad!.toArray(), w.grad!.toArray()];
    };
    const ref = f('cpu'), got = f(device);
    for (let k = 0; k < 3; k++) expectNear(got[k]!, ref[k]!, 1e-5, `output ${k}`);
  });

  it.skipIf(device === 'cpu')('refuses to mix devices', () => {
    const a = Tensor.ones([3], device), b = Tensor.ones([3]);
    expect(() => ops.add(a, b)).toThrow(/different devices/);
  });
});
