// Matrix products and fully connected layers with their gradients, on the native GEMM.
// Native kernels: src/cpu/gemm.cc (+ gemm_avx512.cc, gemm_avx2.cc), src/cuda/gemm.cu, glue src/napi/gemm.cc.
import { native, type Storage } from '../native.js';
import { Tensor } from '../tensor.js';
import { attachGrad } from '../autograd.js';
import { shapeStr } from '../shape.js';

declare module '../native.js' {
  interface Native {
    // GEMM family (src/napi/gemm.cc). c[M,N] = alpha op(a) op(b) + beta c; op(a) [M,K] (a stored
    // [K,M] when transA), op(b) [K,N] (b stored [N,K] when transB).
    gemm(a: Storage, b: Storage, c: Storage, M: number, N: number, K: number, transA: boolean, transB: boolean, alpha: number, beta: number): void;
    /** `count` GEMMs over consecutive matrices; a or b may hold one matrix shared by all. */
    gemmBatched(a: Storage, b: Storage, c: Storage, count: number, M: number, N: number, K: number, transA: boolean, transB: boolean,
      alpha: number, beta: number): void;
    addBiasRows(c: Storage, bias: Storage, M: number, N: number): void;
    sumRows(g: Storage, out: Storage, M: number, N: number): void;
    /** The CPU micro-kernel in use: 'avx512-14x32', 'avx2-6x16' or 'generic-4x8'. */
    gemmKernel(): string;
  }
}

const flows = (t: Tensor | null | undefined): t is Tensor => !!t && (t.requiresGrad || t.gradNode !== null);

function checkDevices(op: string, ts: readonly (Tensor | null)[]): void {
  const d = ts[0]!.device;
  for (const t of ts) {
    if (t && t.device !== d) throw new Error(`${op}: tensors are on different devices (${d} and ${t.device})`);
  }
}

/** c = op(a) op(b) as a new [M, N] tensor (no autograd). */
function gemmRaw(a: Tensor, b: Tensor, M: number, N: number, K: number, ta: boolean, tb: boolean, shape: readonly number[]): Tensor {
  const c = Tensor.empty(shape, a.device);
  native.gemm(a.storage, b.storage, c.storage, M, N, K, ta, tb, 1, 0);
  return c;
}

function batchedRaw(a: Tensor, b: Tensor, count: number, M: number, N: number, K: number, ta: boolean, tb: boolean, shape: readonly number[]): Tensor {
  const c = Tensor.empty(shape, a.device);
  native.gemmBatched(a.storage, b.storage, c.storage, count, M, N, K, ta, tb, 1, 0);
  return c;
}

/**
 * Matrix product: a [M, K] x b [K, N] -> [M, N], or batched a [B, M, K] x b [B, K, N] -> [B, M, N].
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const op = 'matmul';
  checkDevices(op, [a, b]);
  if (a.ndim === 2 && b.ndim === 2) {
    const [M, K] = a.shape as [number, number];
    const [K2, N] = b.shape as [number, number];
    if (K !== K2) throw new Error(`${op}: inner dimensions differ: a ${shapeStr(a.shape)} and b ${shapeStr(b.shape)}`);
    const c = gemmRaw(a, b, M, N, K, false, false, [M, N]);
    return attachGrad(c, op, [a, b], (g) => [
      flows(a) ? gemmRaw(g, b, M, K, N, false, true, a.shape) : null, // g b^T
      flows(b) ? gemmRaw(a, g, K, N, M, true, false, b.shape) : null, // a^T g
    ]);
  }
  if (a.ndim === 3 && b.ndim === 3) {
    const [B, M, K] = a.shape as [number, number, number];
    const [B2, K2, N] = b.shape as [number, number, number];
    if (B !== B2 || K !== K2) throw new Error(`${op}: batched shapes do not match: a ${shapeStr(a.shape)} and b ${shapeStr(b.shape)} (expected [B, M, K] and [B, K, N])`);
    const c = batchedRaw(a, b, B, M, N, K, false, false, [B, M, N]);
    return attachGrad(c, op, [a, b], (g) => [
      flows(a) ? batchedRaw(g, b, B, M, K, N, false, true, a.shape) : null,
      flows(b) ? batchedRaw(a, g, B, K, N, M, true, false, b.shape) : null,
    ]);
  }
  throw new Error(`${op}: expected two 2-d [M, K] x [K, N] or two 3-d [B, M, K] x [B, K, N] tensors, got a ${shapeStr(a.shape)} and b ${shapeStr(b.shape)}`);
}

/**
 * Fully connected layer (PyTorch layout): x [..., in], w [out, in], b [out] or null;
 * y [..., out] = x w^T + b.
 */
export function linear(x: Tensor, w: Tensor, b: Tensor | null = null): Tensor {
  const op = 'linear';
  checkDevices(op, [x, w, b]);
  if (w.ndim !== 2) throw new Error(`${op}: weight must be 2-d [out, in], got ${shapeStr(w.shape)}`);
  if (x.ndim < 1) throw new Error(`${op}: input must have at least 1 dimension, got ${shapeStr(x.shape)}`);
  const [out, inF] = w.shape as [number, number];
  const features = x.shape[x.ndim - 1]!;
  if (features !== inF) throw new Error(`${op}: input ${shapeStr(x.shape)} has ${features} features but weight ${shapeStr(w.shape)} expects ${inF}`);
  if (b && (b.ndim !== 1 || b.shape[0] !== out)) throw new Error(`${op}: bias ${shapeStr(b.shape)} does not match weight ${shapeStr(w.shape)} (expected [${out}])`);
  const R = x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const yShape = [...x.shape.slice(0, -1), out];
  const y = gemmRaw(x, w, R, out, inF, false, true, yShape);
  if (b && R > 0) native.addBiasRows(y.storage, b.storage, R, out);
  return attachGrad(y, op, [x, w, b], (g) => {
    const gx = flows(x) ? gemmRaw(g, w, R, inF, out, false, false, x.shape) : null; // g w
    const gw = flows(w) ? gemmRaw(g, x, out, inF, R, true, false, w.shape) : null; // g^T x
    let gb: Tensor | null = null;
    if (b && flows(b)) {
      gb = Tensor.empty([out], b.device);
      native.sumRows(g.storage, gb.storage, R, out);
    }
    return [gx, gw, gb];
  });
}
