// Deterministic CUDA reductions, on the CUDA emulator build (vitest project cuda-emu): the kernels
// that used to add float partial sums with atomicAdd (PReLU / bias gradients, mse and cosine
// losses, bilinear backward, strided accumulation) must give bit-identical results run after run.
// The emulator runs the blocks of every launch in an order shuffled with a per-launch seed (and
// on several OpenMP threads), so an order-dependent sum shows up here as it would on a GPU.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { native } from '../src/index.js';
import { relativeError } from '../src/cuda_parity.js';

type Results = Record<string, Float32Array>;
const require = createRequire(import.meta.url);
const { runOps, differing } = require('./cuda_determinism_ops.cjs') as {
  runOps(n: typeof native, device: 0 | 1): Results;
  differing(a: Results, b: Results): string[];
};
const opsFile = fileURLToPath(new URL('./cuda_determinism_ops.cjs', import.meta.url));
const cudaSources = fileURLToPath(new URL('../../native-cuda/src/cuda/', import.meta.url));

describe.skipIf(!native.info().cuda.available)('CUDA reductions are deterministic', () => {
  it('the same ops on the same inputs give bit-identical results, run after run', () => {
    const first = runOps(native, 1);
    for (let run = 1; run < 4; run++) expect(differing(first, runOps(native, 1)), `run ${run + 1} differs from run 1`).toEqual([]);
  });

  it('and agree with the CPU backend', () => {
    const gpu = runOps(native, 1), cpu = runOps(native, 0);
    for (const name of Object.keys(cpu)) expect(relativeError(gpu[name]!, cpu[name]!), name).toBeLessThan(1e-5);
  });

  it('with the blocks spread over 3 OpenMP threads (SGI_CUDA_EMU_THREADS), too', () => {
    const code = `
      const n = require('@sgi/native-cuda');
      const { runOps, differing } = require(${JSON.stringify(opsFile)});
      console.log(n.info().cuda.deviceName);
      const first = runOps(n, 1);
      for (let run = 1; run < 4; run++) console.log(JSON.stringify(differing(first, runOps(n, 1))));`;
    const r = spawnSync(process.execPath, ['-e', code], {
      env: { ...process.env, SGI_CUDA_EMU_THREADS: '3' }, encoding: 'utf8', timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^sgi CUDA emulator .*blocks on 3 threads.*\n(\[\]\n){3}$/);
  });

  it('no float atomicAdd is left in the CUDA kernels', () => {
    const uses = readdirSync(cudaSources).filter((f) => /\.cuh?$/.test(f))
      .filter((f) => /\batomicAdd\s*\(/.test(readFileSync(cudaSources + f, 'utf8')));
    expect(uses).toEqual([]);
  });
});
