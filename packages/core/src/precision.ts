// The arithmetic precision of the CPU backend (process-wide). 'float32' (the default, what every
// test checks) or 'bf16' on CPUs with AVX-512 BF16: GEMM-based convolutions (strided, 1x1,
// transposed, few channels) and linear layers multiply bf16-rounded operands with float32 sums,
// about twice the multiply-add rate (GEMM 1024^3: 380 vs 208 GFLOP/s on a Zen 4). Winograd
// convolutions stay float32: their transforms amplify bf16 rounding about 30x (6% measured, far
// beyond the ~0.3% of a plain bf16 product); so do matrix-vector products (at most 4 rows), bound
// by reading the matrix rather than by multiplies.
// CUDA tensors are not affected. `npx nx run core:bench` prints each network's time and its
// largest difference from float32 in both precisions.
import { native } from './native.js';

export type Precision = 'float32' | 'bf16';
export const PRECISIONS: readonly Precision[] = ['float32', 'bf16'];

declare module './native.js' {
  interface Native {
    /** The CPU precision in force; with a name, sets it first (throws for bf16 without AVX-512 BF16). */
    precision(name?: Precision): Precision;
  }
}

/** The CPU backend's precision now. */
export function precision(): Precision {
  return native.precision();
}

/** Sets the CPU backend's precision; bf16 without AVX-512 BF16 throws, naming what the CPU has. */
export function setPrecision(p: Precision): void {
  if (!PRECISIONS.includes(p)) throw new Error(`unknown precision '${String(p)}' (expected ${PRECISIONS.join(' or ')})`);
  native.precision(p);
}

/** Runs fn at precision p and restores the previous one. */
export function withPrecision<T>(p: Precision, fn: () => T): T {
  const before = precision();
  setPrecision(p);
  try {
    return fn();
  } finally {
    setPrecision(before);
  }
}
