// The caching device allocator (src/cuda/cuda_runtime.cu), on the CUDA emulator build (vitest
// project cuda-emu): a released CUDA storage keeps its block for the next allocation of its size
// (no cudaFree, which waits for the device), native.emptyCache() gives the blocks back, and an
// allocation that fails frees the cache and tries once more. (Device bytes are reported to V8
// as host bytes are, but Node 20 shows neither in process.memoryUsage() or v8 heap statistics.)
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { native } from '../src/index.js';

const cached = () => native.memory().cudaCachedBytes;

/** Runs `code` (CommonJS, with `n` = the addon) in a fresh Node process with `env` added. */
function child(code: string, env: Record<string, string>): string {
  const r = spawnSync(process.execPath, ['-e', `const n = require('@sgi/native-cuda');\n${code}`], {
    env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe.skipIf(!native.info().cuda.available)('the CUDA caching allocator', () => {
  it('keeps a released block and hands it to the next allocation of the same size', () => {
    native.emptyCache();
    expect(cached()).toBe(0);
    const a = new native.Storage(1000, 1);
    expect(cached()).toBe(0);
    a.release();
    const block = cached();
    expect(block).toBeGreaterThanOrEqual(4000);  // 4000 bytes, rounded up
    const b = new native.Storage(1000, 1);
    expect(cached()).toBe(0);  // b took the cached block
    const c = new native.Storage(1000, 1);  // nothing left to take: a new block
    b.release();
    c.release();
    expect(cached()).toBe(2 * block);
    const d = new native.Storage(500_000, 1);  // another size does not take them
    expect(cached()).toBe(2 * block);
    d.release();
    expect(cached()).toBeGreaterThanOrEqual(2 * block + 2_000_000);
  });

  it('a reused block reads as uninitialised (NaN on the emulator), not as its previous contents', () => {
    native.emptyCache();
    native.fromArray(new Float32Array(300).fill(7), 1).release();
    const s = new native.Storage(300, 1);
    expect(cached()).toBe(0);
    expect(native.toArray(s).every(Number.isNaN)).toBe(true);
    s.release();
  });

  it('native.emptyCache() gives every cached block back', () => {
    for (const n of [10, 1000, 100_000]) new native.Storage(n, 1).release();
    expect(cached()).toBeGreaterThan(400_000);
    native.emptyCache();
    expect(cached()).toBe(0);
    expect(native.memory().cudaBytes).toBe(0);
  });

  it('an allocation that fits only without the cached blocks frees the cache and succeeds', () => {
    // a device of 100000 bytes: 60000 cached + 48000 asked for do not fit, 48000 alone does
    const out = child(`
      const a = new n.Storage(15000, 1);
      a.release();
      console.log('cached', n.memory().cudaCachedBytes);
      const b = new n.Storage(12000, 1);
      console.log('allocated', b.numel, n.memory().cudaBytes, n.memory().cudaCachedBytes);
      try { new n.Storage(20000, 1); } catch (e) { console.log(e.message); }
      console.log('alive', n.toArray(n.fromArray(new Float32Array([1, 2]), 1)).join(' '));`, { SGI_CUDA_EMU_MEMORY: '100000' });
    expect(out).toMatch(/^cached 60416\nallocated 12000 48000 0\nCUDA error: out of memory at .*cuda_runtime\.cu:\d+ \(Storage of 20000 float32 elements, 80000 bytes, on cuda\)\nalive 1 2\n$/);
  });
});
