// cuDNN failures fall back to the built-in CUDA convolution (src/cuda/conv2d.cu), on the CUDA
// emulator build (vitest project cuda-emu). The emulator has no cuDNN; SGI_CUDA_EMU_CUDNN_FAIL
// makes it act as if cuDNN were loaded and every call failed (a cuDNN status error, or a
// workspace larger than the device). Every pass must still give the CPU's result, print one
// warning for the whole process, and never throw.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { native } from '../src/index.js';

// Forward, backward-data and backward-filter of two shapes, twice each, on cuda and on cpu; prints
// the largest relative difference of each pass.
const convolutions = `
const n = require('@sgi/native-cuda');
function values(count, seed) {
  const out = new Float32Array(count);
  let a = seed >>> 0;
  for (let i = 0; i < count; i++) { a = (Math.imul(a, 1664525) + 1013904223) >>> 0; out[i] = a / 2147483648 - 1; }
  return out;
}
function run(device, p, seed) {
  const [N, C, H, W, K, kh, kw, sh, sw, ph, pw, g] = p;
  const oh = Math.floor((H + 2 * ph - kh) / sh) + 1, ow = Math.floor((W + 2 * pw - kw) / sw) + 1;
  const put = (count, s) => n.fromArray(values(count, seed + s), device);
  const x = put(N * C * H * W, 1), w = put(K * (C / g) * kh * kw, 2), b = put(K, 3), gy = put(N * K * oh * ow, 4);
  const y = new n.Storage(N * K * oh * ow, device), gx = new n.Storage(N * C * H * W, device), gw = new n.Storage(K * (C / g) * kh * kw, device);
  n.conv2dForward(x, w, b, y, p);
  n.conv2dBackwardInput(w, gy, gx, p);
  n.conv2dBackwardWeight(x, gy, gw, p);
  return [y, gx, gw].map((s) => n.toArray(s));
}
function rel(a, b) {
  let d = 0, m = 1;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i]) || (a[i] === b[i] ? 0 : Infinity)); m = Math.max(m, Math.abs(b[i])); }
  return d / m;
}
for (const p of [[2, 3, 9, 9, 4, 3, 3, 1, 1, 1, 1, 1], [1, 4, 12, 10, 6, 3, 3, 2, 2, 1, 1, 2]])
  for (let round = 0; round < 2; round++) {
    const gpu = run(1, p, 10 * round), cpu = run(0, p, 10 * round);
    console.log(p.join(','), gpu.map((t, i) => rel(t, cpu[i]) < 1e-4 ? 'ok' : 'differs ' + rel(t, cpu[i])).join(' '));
  }
`;

function runChild(failure: string) {
  return spawnSync(process.execPath, ['-e', convolutions], {
    env: { ...process.env, SGI_CUDA_EMU_CUDNN_FAIL: failure }, encoding: 'utf8', timeout: 120_000,
  });
}

const expectedStdout = /^(2,3,9,9,4,3,3,1,1,1,1,1 ok ok ok\n){2}(1,4,12,10,6,3,3,2,2,1,1,2 ok ok ok\n){2}$/;
const warningLines = (stderr: string) => stderr.split('\n').filter((l) => /warning/.test(l));

describe.skipIf(!native.info().cuda.available)('a failing cuDNN falls back to the built-in CUDA convolution', () => {
  it('a cuDNN status error: every pass still matches the CPU, one warning for the process', () => {
    const r = runChild('status');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(expectedStdout);
    const warnings = warningLines(r.stderr);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^sgi: warning: cuDNN cudnnConvolutionForward failed: .*\(status 8\); the forward pass of this convolution \(input \[2, 3, 9, 9\], 4 filters 3x3, stride 1x1, padding 1x1, groups 1\) and any other that cuDNN fails on run on the built-in CUDA kernels \(this warning is printed once\)$/);
  });

  it('a cuDNN workspace the device cannot hold: the same', () => {
    const r = runChild('workspace');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(expectedStdout);
    const warnings = warningLines(r.stderr);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^sgi: warning: cuDNN workspace: cannot allocate \d+ bytes \(CUDA error: out of memory at .*\); the forward pass/);
  });

  it('without a failure nothing is printed', () => {
    const r = spawnSync(process.execPath, ['-e', convolutions], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(expectedStdout);
    expect(r.stderr).toBe('');
  });
});
