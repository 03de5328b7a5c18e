import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));
const alias = {
  '@sgi/core': src('core'),
  '@sgi/losses': src('losses'),
  '@sgi/experiment': src('experiment'),
  '@sgi/faces': src('faces'),
  '@sgi/apps': src('apps'),
  '@sgi/trainer': src('trainer'),
  '@sgi/eval': src('eval'),
};
/** Tests of the CUDA path: run on the CUDA emulator build (SGI_CUDA_EMU=ON, build-emu) by the 'cuda-emu' project. */
const cudaTests = ['packages/core/test/cuda_parity.test.ts', 'packages/core/test/cuda_emulator.test.ts', 'packages/core/test/cuda_determinism.test.ts', 'packages/core/test/cuda_allocator.test.ts', 'packages/core/test/cuda_cudnn_fallback.test.ts', 'packages/core/test/cuda_vendor.test.ts', 'packages/trainer/test/train_cuda.test.ts'];
const project = (name: string) => ({
  resolve: { alias },
  test: {
    name,
    include: [`packages/${name}/test/**/*.test.ts`],
    exclude: cudaTests,
    pool: 'forks' as const,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});

const cudaEmu = {
  resolve: { alias },
  test: {
    name: 'cuda-emu',
    include: cudaTests,
    pool: 'forks' as const,
    testTimeout: 300_000,
    hookTimeout: 120_000,
    env: { SGI_NATIVE_PATH: fileURLToPath(new URL('./packages/native-cuda/build-emu/Release/sgi_native.node', import.meta.url)) },
  },
};

export default defineConfig({
  test: {
    projects: [cudaEmu, project('core'), project('losses'), project('faces'), project('experiment'), project('trainer'), project('eval'), project('apps'), project('cli')],
  },
});
