// Typed access to the native addon (packages/native-cuda). Every native function validates its
// arguments and throws an error naming the function and the argument.
import { createRequire } from 'node:module';

export interface Storage {
  readonly numel: number;
  readonly device: 'cpu' | 'cuda';
  readonly released: boolean;
  release(): void;
}
export interface NativeInfo {
  /** bf16: the CPU has AVX-512 BF16, so precision('bf16') is available (src/precision.ts). */
  cpu: { isa: 'avx512' | 'avx2' | 'generic'; threads: number; bf16: boolean };
  cuda: {
    compiled: boolean; available: boolean; deviceCount: number; deviceName?: string; reason?: string;
    /**
     * cuDNN and cuBLAS are loaded at run time when present (SGI_CUDNN_PATH / SGI_CUBLAS_PATH name a
     * folder; SGI_CUDNN=0 / SGI_CUBLAS=0 disable them) and probed against the host once; false with
     * the reason otherwise (cuBLAS also turns false after a failed call: GEMMs then run on the
     * built-in kernel). The library fields name the file that was loaded.
     */
    cudnn: boolean; cudnnReason?: string; cudnnLibrary?: string;
    cublas: boolean; cublasReason?: string; cublasLibrary?: string;
  };
  /** Open MPI collectives (data-parallel training): compiled in when mpi.h was found at build time. */
  mpi: { compiled: boolean; library?: string; reason?: string; rank?: number; size?: number };
  /** NCCL (collectives on CUDA tensors), loaded at run time. */
  nccl: { found: boolean; version?: number; reason?: string };
}
export interface NativeMemory {
  cpuBytes: number; cpuPeakBytes: number; cudaBytes: number; cudaPeakBytes: number;
  liveStorages: number; allocations: number;
  /** Bytes kept by the CPU caching allocator for reuse (not counted in cpuBytes). */
  cpuCachedBytes: number;
  /** Device bytes kept by the CUDA caching allocator for reuse (not counted in cudaBytes). */
  cudaCachedBytes: number;
}
/** Process-wide options of the CUDA backend (native.setCudaOptions). */
export interface CudaOptions {
  /** cuDNN runs only algorithms it reports as deterministic and cuBLAS may not use atomics (default true). */
  deterministic: boolean;
  /** cuDNN and cuBLAS may use TF32 tensor-core math (default false; SGI_CUDNN_TF32=1 sets the initial value). */
  tf32: boolean;
}
/** The algorithm cuDNN runs for one pass of a cached convolution shape (null: not chosen yet). */
export interface CudnnAlgoChoice { algo: number; deterministic: boolean; mathType: number; workspaceBytes: number }
/** What the vendor libraries are doing (native.cudaLibraries()), for tests and diagnostics. */
export interface CudaLibraries {
  cublas: { loaded: boolean; version: number; mathMode: number; atomicsMode: number; gemmCalls: number };
  cudnn: {
    loaded: boolean; version: number;
    calls: { forward: number; backwardData: number; backwardFilter: number };
    /** shape: [N, C, H, W, K, kh, kw, sh, sw, ph, pw, groups] */
    plans: { shape: number[]; forward: CudnnAlgoChoice | null; backwardData: CudnnAlgoChoice | null; backwardFilter: CudnnAlgoChoice | null }[];
  };
}
type S = Storage;
type Opt = Storage | null;
type Ints = readonly number[];

export interface Native {
  Storage: new (numel: number, device: 0 | 1) => Storage;
  fromArray(data: Float32Array, device: 0 | 1): S;
  toArray(s: S): Float32Array;
  copyInto(dst: S, src: S): void;
  memory(): NativeMemory;
  resetPeakMemory(): void;
  /** Returns the cached blocks of the CPU and CUDA caching allocators to the system and the device. */
  emptyCache(): void;
  info(): NativeInfo;
  setNumThreads(n: number): void;
  /**
   * Sets the process-wide CUDA options given (others keep their value) and returns the options in
   * force; without an argument it only reads them. A change drops the cuDNN algorithms cached per
   * convolution shape. A non-enumerable export, like cudaLibraries (not a kernel).
   */
  setCudaOptions(options?: Partial<CudaOptions>): CudaOptions;
  cudaLibraries(): CudaLibraries;
  /**
   * The float32 FMA peak of the kernel threads in GFLOP/s, measured by running independent FMAs on
   * registers for about `seconds` (default 0.5) with the ISA the GEMM uses (0 without AVX2/AVX-512).
   * A non-enumerable export (not a kernel): the yardstick of native-cuda:bench.
   */
  fmaPeak(seconds?: number): number;
  synchronize(): void;

  // element-wise family (src/cpu/elementwise.cc)
  binaryForward(op: number, a: S, b: S, out: S, shape: Ints, stridesA: Ints, stridesB: Ints): void;
  unaryForward(op: number, x: S, y: S, alpha: number): void;
  unaryBackward(op: number, x: Opt, y: Opt, gy: S, gx: S, alpha: number): void;
  stridedCopy(src: S, srcOffset: number, dst: S, dstOffset: number, shape: Ints, srcStrides: Ints, dstStrides: Ints, accumulate: boolean): void;
  sumReduce(x: S, out: S, shape: Ints, reduce: Ints): void;
  fill(out: S, value: number): void;

  // Each further kernel family adds its block below, with the same names as in src/napi/<family>.cc.
}

const require = createRequire(import.meta.url);
export const native = require('@sgi/native-cuda') as Native;
