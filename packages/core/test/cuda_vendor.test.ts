// cuBLAS and cuDNN loaded at run time (packages/native-cuda/src/cuda/cublas_loader.cc and
// cudnn_loader.cc), on the CUDA emulator build (vitest project cuda-emu). The emulator build also
// makes an emulated cuBLAS and cuDNN (build-emu/Release/libsgi_emu_cublas.so, libsgi_emu_cudnn.so:
// NVIDIA's documented semantics, plain loops on the emulated device memory), which the emulator
// loads only when SGI_CUBLAS_PATH / SGI_CUDNN_PATH name their folder. The loaders run once per
// process, so every case runs in a child Node process with its environment; SGI_EMU_VENDOR_FAIL
// makes the emulated libraries fail (see src/cuda_emu/vendor/emu_vendor.h), at load or, set from
// inside the child after loading, on later calls.
//
// The children that run the CUDA parity table load packages/core/src/cuda_parity.ts itself (not a
// copy, not a build of it) with Vite's runnerImport, which compiles the TypeScript on the fly.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from '../src/index.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const parityModule = fileURLToPath(new URL('../src/cuda_parity.ts', import.meta.url));
const addonPath = process.env.SGI_NATIVE_PATH ?? '';
const libDir = path.dirname(addonPath);
const vendorEnv = { SGI_CUBLAS_PATH: libDir, SGI_CUDNN_PATH: libDir };

interface ChildResult { out: Record<string, any>; stderr: string; warnings: string[] }

/**
 * Runs `body` (an ES module; `n` is the addon, `out(key, value)` reports a value, `runFamilies`
 * runs the parity table's cases of those families and returns 'family: ok' or the error) in a fresh
 * Node process, with the emulated libraries' folder in SGI_CUBLAS_PATH / SGI_CUDNN_PATH and `env`.
 */
function child(body: string, env: Record<string, string> = {}, parity = false): ChildResult {
  const prelude = `
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(repo)});
const n = require('@sgi/native-cuda');
const out = (key, value) => console.log(JSON.stringify({ [key]: value }));
${parity ? `
const { runnerImport } = await import('vite');
const parity = (await runnerImport(${JSON.stringify(parityModule)}, { configFile: false, logLevel: 'error' })).module;
const runFamilies = (families) => parity.CUDA_PARITY_CASES.filter((c) => families.includes(c.family)).map((c) => {
  try { parity.runParityCase(c); return c.family + ': ok'; } catch (e) { return c.family + ': ' + e.message; }
});` : ''}
`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `${prelude}\n${body}`], {
    cwd: repo, env: { ...process.env, ...vendorEnv, ...env }, encoding: 'utf8', timeout: 240_000,
  });
  expect(r.status, `child failed:\n${r.stderr}\n${r.stdout}`).toBe(0);
  const out: Record<string, any> = {};
  for (const line of r.stdout.split('\n').filter(Boolean)) Object.assign(out, JSON.parse(line));
  return { out, stderr: r.stderr, warnings: r.stderr.split('\n').filter((l) => /warning/.test(l)) };
}

// A convolution on cuda and on cpu (forward, backward-data, backward-filter), for the children.
const convolution = `
function values(count, seed) {
  const v = new Float32Array(count);
  let a = seed >>> 0;
  for (let i = 0; i < count; i++) { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; v[i] = a / 2147483648 - 1; }
  return v;
}
const p = [2, 6, 11, 13, 8, 3, 3, 1, 1, 1, 1, 1];
function passes(device) {
  const [N, C, H, W, K, kh, kw] = p;
  const put = (count, seed) => n.fromArray(values(count, seed), device);
  const x = put(N * C * H * W, 1), w = put(K * C * kh * kw, 2), gy = put(N * K * H * W, 3);
  const y = new n.Storage(N * K * H * W, device), gx = new n.Storage(N * C * H * W, device), gw = new n.Storage(K * C * kh * kw, device);
  n.conv2dForward(x, w, null, y, p);
  n.conv2dBackwardInput(w, gy, gx, p);
  n.conv2dBackwardWeight(x, gy, gw, p);
  return [y, gx, gw].map((s) => n.toArray(s));
}
const cpu = passes(0);
function rel(a, b) {
  let d = 0, m = 1;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Number.isNaN(a[i]) ? Infinity : Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
  return d / m;
}
const sameBits = (a, b) => a.map((t, i) => Buffer.compare(Buffer.from(t.buffer), Buffer.from(b[i].buffer)) === 0);
const plan = () => {
  const q = n.cudaLibraries().cudnn.plans.find((x) => x.shape.join() === p.join());
  return q ? [q.forward, q.backwardData, q.backwardFilter] : null;
};
`;

// A GEMM with every transpose on cuda and on cpu, for the children.
const gemms = `
function gvalues(count, seed) {
  const v = new Float32Array(count);
  let a = seed >>> 0;
  for (let i = 0; i < count; i++) { a = (Math.imul(a, 1103515245) + 12345) >>> 0; v[i] = a / 2147483648 - 1; }
  return v;
}
function gemmAll(device) {
  const M = 37, N = 45, K = 70, res = [];
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
    const a = n.fromArray(gvalues(M * K, 1), device), b = n.fromArray(gvalues(K * N, 2), device), c = new n.Storage(M * N, device);
    n.gemm(a, b, c, M, N, K, ta, tb, 1, 0);
    res.push(n.toArray(c));
  }
  return res;
}
function grel(a, b) {
  let d = 0, m = 1;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Number.isNaN(a[i]) ? Infinity : Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
  return d / m;
}
`;

describe('cuBLAS and cuDNN loaded at run time (emulated libraries on the CUDA emulator)', () => {
  it('the emulator build makes the emulated libraries; without SGI_CUBLAS_PATH / SGI_CUDNN_PATH it runs the built-in kernels', () => {
    expect(addonPath, 'run with SGI_NATIVE_PATH = the build-emu addon (npm test does)').toMatch(/build-emu/);
    expect(existsSync(path.join(libDir, 'libsgi_emu_cublas.so'))).toBe(true);
    expect(existsSync(path.join(libDir, 'libsgi_emu_cudnn.so'))).toBe(true);
    const { out } = child(`out('cuda', n.info().cuda);`, { SGI_CUBLAS_PATH: '', SGI_CUDNN_PATH: '' });
    expect(out.cuda).toMatchObject({ available: true, cublas: false, cudnn: false });
    expect(out.cuda.cublasReason).toMatch(/^cuBLAS not loaded: the emulated device runs the built-in kernels \(SGI_CUBLAS_PATH=/);
    expect(out.cuda.cudnnReason).toMatch(/^cuDNN not loaded: the emulated device runs the built-in kernels \(SGI_CUDNN_PATH=/);
  });

  it('with both loaded, info() reports them, and the GEMM and convolution parity cases match the CPU through them', () => {
    const { out, stderr } = child(`
out('cuda', n.info().cuda);
out('results', runFamilies(['GEMM', 'conv', 'modulated conv']));
out('libraries', n.cudaLibraries());`, {}, true);
    expect(out.cuda).toMatchObject({ available: true, cublas: true, cudnn: true });
    expect(out.cuda.cublasLibrary).toBe(path.join(libDir, 'libsgi_emu_cublas.so'));
    expect(out.cuda.cudnnLibrary).toBe(path.join(libDir, 'libsgi_emu_cudnn.so'));
    expect(out.cuda.cublasReason).toBeUndefined();
    expect(out.cuda.cudnnReason).toBeUndefined();
    expect(out.results).toEqual(['GEMM: ok', 'conv: ok', 'modulated conv: ok']);
    expect(stderr).toBe('');
    const lib = out.libraries;
    expect(lib.cublas).toMatchObject({ loaded: true, version: 130000, mathMode: 0, atomicsMode: 0 });
    expect(lib.cublas.gemmCalls).toBeGreaterThan(5);  // every matmul, the batched one and linear ran on cuBLAS
    expect(lib.cudnn.loaded).toBe(true);
    expect(lib.cudnn.version).toBe(90800);
    for (const pass of ['forward', 'backwardData', 'backwardFilter']) expect(lib.cudnn.calls[pass], pass).toBeGreaterThan(3);
    // deterministic is the default: every pass of every shape runs a deterministic FMA algorithm
    for (const plan of lib.cudnn.plans)
      for (const pass of ['forward', 'backwardData', 'backwardFilter'])
        if (plan[pass]) expect(plan[pass], `${plan.shape} ${pass}`).toMatchObject({ deterministic: true, mathType: 3 });
  });

  it('deterministic (the default) runs deterministic cuDNN algorithms, bit for bit; off picks the first-listed, non-deterministic one', () => {
    const { out, stderr } = child(`${convolution}
out('options', n.setCudaOptions());
const a = passes(1), b = passes(1);
out('det', { plan: plan(), same: sameBits(a, b), rel: a.map((t, i) => rel(t, cpu[i])), atomics: n.cudaLibraries().cublas.atomicsMode });
out('off', n.setCudaOptions({ deterministic: false }));
out('dropped', plan());
const c = passes(1), d = passes(1), e = passes(1);
out('nondet', { plan: plan(), same: sameBits(c, d).map((s, i) => s && sameBits(d, e)[i]), rel: c.map((t, i) => rel(t, cpu[i])),
  atomics: n.cudaLibraries().cublas.atomicsMode });
out('on', n.setCudaOptions({ deterministic: true }));
const f = passes(1);
out('det2', { plan: plan(), same: sameBits(a, f) });`);
    expect(stderr).toBe('');
    expect(out.options).toEqual({ deterministic: true, tf32: false });
    expect(out.det.plan.map((q: any) => q.deterministic)).toEqual([true, true, true]);
    expect(out.det.same).toEqual([true, true, true]);
    for (const e of out.det.rel) expect(e).toBeLessThan(1e-4);
    expect(out.det.atomics).toBe(0);  // CUBLAS_ATOMICS_NOT_ALLOWED
    expect(out.off).toEqual({ deterministic: false, tf32: false });
    expect(out.dropped).toEqual([null, null, null]);  // the cached choices were dropped
    // the emulated cuDNN lists a non-deterministic algorithm first for every pass (1, 0, 0)
    expect(out.nondet.plan.map((q: any) => [q.algo, q.deterministic])).toEqual([[1, false], [0, false], [0, false]]);
    expect(out.nondet.same).toContain(false);  // its sums change order from call to call
    for (const e of out.nondet.rel) expect(e).toBeLessThan(1e-4);
    expect(out.nondet.atomics).toBe(1);  // CUBLAS_ATOMICS_ALLOWED
    expect(out.on).toEqual({ deterministic: true, tf32: false });
    expect(out.det2.plan).toEqual(out.det.plan);
    expect(out.det2.same).toEqual([true, true, true]);
  });

  it('tf32 switches cuBLAS to TF32 tensor-op math and lets cuDNN pick a tensor-op algorithm; SGI_CUDNN_TF32=1 sets it at start', () => {
    const { out, stderr } = child(`${convolution}${gemms}
const fp32 = gemmAll(1), host = gemmAll(0);
out('fp32', { rel: fp32.map((t, i) => grel(t, host[i])), math: n.cudaLibraries().cublas.mathMode });
out('tf32', n.setCudaOptions({ tf32: true }));
const t = gemmAll(1);
passes(1);
out('with', { rel: t.map((r, i) => grel(r, host[i])), math: n.cudaLibraries().cublas.mathMode, plan: plan() });
n.setCudaOptions({ tf32: false });
const back = gemmAll(1);
out('back', { same: back.map((r, i) => Buffer.compare(Buffer.from(r.buffer), Buffer.from(fp32[i].buffer)) === 0), math: n.cudaLibraries().cublas.mathMode });`);
    expect(stderr).toBe('');
    expect(out.fp32.math).toBe(0);  // CUBLAS_DEFAULT_MATH: FP32
    for (const e of out.fp32.rel) expect(e).toBeLessThan(1e-5);
    expect(out.tf32).toEqual({ deterministic: true, tf32: true });
    expect(out.with.math).toBe(3);  // CUBLAS_TF32_TENSOR_OP_MATH
    for (const e of out.with.rel) {
      expect(e).toBeGreaterThan(1e-5);  // TF32 keeps 10 mantissa bits: visibly less exact
      expect(e).toBeLessThan(1e-2);
    }
    expect(out.with.plan.map((q: any) => [q.deterministic, q.mathType])).toEqual([[true, 1], [true, 1], [true, 1]]);
    expect(out.back).toEqual({ same: [true, true, true, true], math: 0 });

    const start = child(`out('options', n.setCudaOptions()); out('math', n.cudaLibraries().cublas.mathMode);`, { SGI_CUDNN_TF32: '1' });
    expect(start.out).toEqual({ options: { deterministic: true, tf32: true }, math: 3 });
  });

  it('setCudaOptions checks its argument and, like cudaLibraries, is not an enumerable export (not a kernel)', () => {
    const addon = native as unknown as Record<string, unknown>;
    expect(typeof native.setCudaOptions).toBe('function');
    expect(typeof native.cudaLibraries).toBe('function');
    expect(Object.keys(addon)).not.toContain('setCudaOptions');
    expect(Object.keys(addon)).not.toContain('cudaLibraries');
    expect(() => native.setCudaOptions({ fast: true } as never)).toThrow(/^setCudaOptions: unknown option 'fast' \(deterministic, tf32\)$/);
    expect(() => native.setCudaOptions({ tf32: 1 } as never)).toThrow(/^setCudaOptions: option 'tf32' must be a boolean$/);
    expect(() => native.setCudaOptions(3 as never)).toThrow(/must be an object/);
    expect(native.setCudaOptions()).toEqual({ deterministic: true, tf32: false });
  });

  it('a cuBLAS call that fails turns cuBLAS off with one warning; the GEMMs still match the CPU on the built-in kernel', () => {
    const { out, warnings } = child(`
out('before', n.info().cuda.cublas);
process.env.SGI_EMU_VENDOR_FAIL = 'cublas';  // from now on every emulated SGEMM fails
out('results', runFamilies(['GEMM', 'conv']));
out('after', n.info().cuda);
out('gemmCalls', n.cudaLibraries().cublas.gemmCalls);`, {}, true);
    expect(out.before).toBe(true);
    expect(out.results).toEqual(['GEMM: ok', 'conv: ok']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^sgi: warning: cuBLAS cublasSgemm(_v2|StridedBatched) failed: CUBLAS_STATUS_EXECUTION_FAILED .*\(status 13\); every GEMM runs on the built-in CUDA SGEMM from now on \(this warning is printed once\)$/);
    expect(out.after.cublas).toBe(false);
    expect(out.after.cublasReason).toMatch(/^cuBLAS was disabled after a failed call \(cuBLAS cublasSgemm.* failed: CUBLAS_STATUS_EXECUTION_FAILED/);
    expect(out.after.cudnn).toBe(true);
    expect(out.gemmCalls).toBe(0);
  });

  it('a cuBLAS that fails at load (failing calls, wrong numbers, no handle) is not used: the reason says why, nothing is printed', () => {
    const cases: [string, RegExp][] = [
      ['cublas', /^cuBLAS \(.*libsgi_emu_cublas\.so\) failed its load-time probe: C = 1\.00 A B \+ 0\.00 C \(M 3, N 5, K 4, lda 5, ldb 7, ldc 6\): cuBLAS cublasSgemm_v2 failed: CUBLAS_STATUS_EXECUTION_FAILED .*: GEMMs use the built-in CUDA SGEMM$/],
      ['cublas-wrong', /^cuBLAS \(.*\) failed its load-time probe: C = 1\.00 A B \+ 0\.00 C .* gave wrong results: element 0 of C is .*, expected .*: GEMMs use the built-in CUDA SGEMM$/],
      ['cublas-create', /^.*libsgi_emu_cublas\.so: cublasCreate_v2 failed: CUBLAS_STATUS_NOT_INITIALIZED .*: GEMMs use the built-in CUDA SGEMM$/],
    ];
    for (const [failure, reason] of cases) {
      const { out, stderr } = child(`${gemms}
const g = gemmAll(1), h = gemmAll(0);
out('cuda', n.info().cuda);
out('rel', g.map((t, i) => grel(t, h[i])));`, { SGI_EMU_VENDOR_FAIL: failure });
      expect(out.cuda.cublas, failure).toBe(false);
      expect(out.cuda.cublasReason, failure).toMatch(reason);
      expect(out.cuda.cudnn, failure).toBe(true);
      for (const e of out.rel) expect(e, failure).toBeLessThan(1e-5);
      expect(stderr, failure).toBe('');
    }
    const off = child(`out('cuda', n.info().cuda);`, { SGI_CUBLAS: '0', SGI_CUDNN: '0' });
    expect(off.out.cuda).toMatchObject({
      cublas: false, cublasReason: 'cuBLAS disabled by SGI_CUBLAS=0: GEMMs use the built-in CUDA SGEMM',
      cudnn: false, cudnnReason: 'cuDNN disabled by SGI_CUDNN=0: convolutions use the built-in CUDA kernels',
    });
  });

  it('a cuDNN pass that fails the load-time probe, or gives wrong numbers, disables cuDNN with a reason naming the pass and its sub-library', () => {
    const passes: [string, string][] = [['forward', 'Forward'], ['backward-data', 'BackwardData'], ['backward-filter', 'BackwardFilter']];
    for (const [pass, fn] of passes) {
      for (const wrong of [false, true]) {
        const failure = `cudnn-${pass}${wrong ? '-wrong' : ''}`;
        const { out, stderr } = child(`out('cuda', n.info().cuda);`, { SGI_EMU_VENDOR_FAIL: failure });
        expect(out.cuda.cudnn, failure).toBe(false);
        expect(out.cuda.cublas, failure).toBe(true);
        expect(out.cuda.cudnnReason, failure).toMatch(new RegExp(
          `^cuDNN \\(.*libsgi_emu_cudnn\\.so, version 90800\\) failed its load-time probe: the ${pass} pass \\(cudnnConvolution${fn}, in libcudnn_cnn\\.so\\.9\\) ` +
          `of a 3x3 convolution of input \\[1, 2, 5, 5\\] to 3 channels, stride 1, padding 1, groups 1 ` +
          (wrong ? 'gave wrong results: element 0 is .*, the host computes .*'
            : `failed: cuDNN cudnnConvolution${fn} failed: CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED \\(status 1008\\): .*libcudnn_engines_precompiled\\.so\\.9 could not be loaded.*`) +
          ': convolutions use the built-in CUDA kernels$'));
        expect(stderr, failure).toBe('');
      }
    }
    const create = child(`out('cuda', n.info().cuda);`, { SGI_EMU_VENDOR_FAIL: 'cudnn-create' });
    expect(create.out.cuda.cudnn).toBe(false);
    expect(create.out.cuda.cudnnReason).toMatch(/libsgi_emu_cudnn\.so: cuDNN cudnnCreate failed: CUDNN_STATUS_NOT_INITIALIZED \(status 1001\)/);
  });

  it('with cuDNN disabled by its probe the convolutions run on the built-in kernels and match the CPU, silently', () => {
    const { out, stderr } = child(`
out('results', runFamilies(['conv', 'modulated conv']));
out('cuda', n.info().cuda);
out('calls', n.cudaLibraries().cudnn.calls);`, { SGI_EMU_VENDOR_FAIL: 'cudnn-backward-filter-wrong' }, true);
    expect(out.cuda.cudnn).toBe(false);
    expect(out.results).toEqual(['conv: ok', 'modulated conv: ok']);
    expect(out.calls).toEqual({ forward: 0, backwardData: 0, backwardFilter: 0 });
    expect(stderr).toBe('');
  });

  it('a cuDNN pass that fails later runs on the built-in kernels, with one warning naming it', () => {
    const { out, warnings } = child(`
out('before', n.info().cuda.cudnn);
process.env.SGI_EMU_VENDOR_FAIL = 'cudnn-backward-filter';
out('results', runFamilies(['conv']));
out('calls', n.cudaLibraries().cudnn.calls);`, {}, true);
    expect(out.before).toBe(true);
    expect(out.results).toEqual(['conv: ok']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^sgi: warning: cuDNN cudnnConvolutionBackwardFilter failed: CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED \(status 1008\): .*; the backward-filter pass of this convolution .* \(this warning is printed once\)$/);
    expect(out.calls.forward).toBeGreaterThan(0);
    expect(out.calls.backwardData).toBeGreaterThan(0);
    expect(out.calls.backwardFilter).toBe(0);
  });
});
