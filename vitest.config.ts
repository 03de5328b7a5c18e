import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';
import { asanEnv } from './scripts/asan-env.js';

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
const cudaTests = ['packages/core/test/cuda_parity.test.ts', 'packages/core/test/cuda_emulator.test.ts', 'packages/core/test/cuda_determinism.test.ts', 'packages/core/test/cuda_allocator.test.ts', 'packages/core/test/cuda_cudnn_fallback.test.ts', 'packages/core/test/cuda_vendor.test.ts', 'packages/core/test/cuda_fused.test.ts', 'packages/trainer/test/train_cuda.test.ts'];
/**
 * The CUDA tests run on the sanitizer build (cuda-emu-asan): all but the 20 training steps, which
 * take ~3 minutes there on 2 cores (~30 s on build-emu), too long for npm test.
 */
const cudaAsanTests = cudaTests.filter((f) => !f.endsWith('/train_cuda.test.ts'));
const cpuAsanTests = ['conv_fused', 'irse_fused', 'precision'].map((n) => `packages/core/test/${n}.test.ts`);
const project = (name: string) => ({
  resolve: { alias },
  test: {
    name,
    include: [`packages/${name}/test/**/*.test.ts`],
    exclude: [...cudaTests, 'packages/core/test/cuda_asan.test.ts'],
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

/**
 * The same CUDA tests on the emulator built with AddressSanitizer and UBSan (build-emu-asan,
 * native-cuda:build-emu-asan), plus cuda_asan.test.ts, which proves the sanitizer is live, and the
 * tests of the CPU's fused inference and bf16 kernels (their buffers and partial sums). The
 * project's env reaches the forked workers when they are spawned (vitest passes it to fork()), so
 * LD_PRELOAD is in place before node starts; their child processes inherit it.
 */
const cudaEmuAsan = {
  resolve: { alias },
  test: {
    name: 'cuda-emu-asan',
    include: [...cudaAsanTests, 'packages/core/test/cuda_asan.test.ts', ...cpuAsanTests],
    pool: 'forks' as const,
    testTimeout: 300_000,
    hookTimeout: 120_000,
    env: { ...asanEnv(), SGI_NATIVE_PATH: fileURLToPath(new URL('./packages/native-cuda/build-emu-asan/Release/sgi_native.node', import.meta.url)) },
  },
};

export default defineConfig({
  test: {
    projects: [cudaEmu, cudaEmuAsan, project('core'), project('losses'), project('faces'), project('experiment'), project('trainer'), project('eval'), project('apps'), project('cli')],
  },
});
