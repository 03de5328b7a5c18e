// The CUDA parity table (src/cuda_parity.ts) as tests: every native kernel family on cuda against
// the CPU backend. With a GPU this runs on it; without one, `npm test` runs this file on the CUDA
// emulator build (vitest project cuda-emu: SGI_CUDA_EMU=ON, the same .cu sources compiled as C++),
// so the CUDA kernels execute in CI. The last test checks that the table reached every native
// kernel function with CUDA tensors.
import { describe, it, expect } from 'vitest';
import { native } from '../src/index.js';
import { CUDA_PARITY_CASES, kernelsReachedOnCuda, runParityCase } from '../src/cuda_parity.js';

describe.skipIf(!native.info().cuda.available)('CUDA kernels match the CPU', () => {
  const reached = new Set<string>();
  let kernels: string[] = [];
  for (const c of CUDA_PARITY_CASES) {
    it(`${c.family} on cuda matches cpu: ${c.what}`, () => {
      const r = kernelsReachedOnCuda(() => runParityCase(c));
      for (const k of r.reached) reached.add(k);
      kernels = r.kernels;
    });
  }

  it('the table reaches every native kernel function with CUDA tensors', () => {
    expect(kernels.length).toBeGreaterThan(30);
    expect(kernels.filter((k) => !reached.has(k))).toEqual([]);
  });
});
