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
  cpu: { isa: 'avx512' | 'avx2' | 'generic'; threads: number };
  cuda: {
    compiled: boolean; available: boolean; deviceCount: number; deviceName?: string; reason?: string;
    cudnn: boolean; cudnnReason?: string;
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
