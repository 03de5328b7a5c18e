// Losses reduced to a scalar: mean squared error and 1 - cosine similarity (multi-layer ID and
// parsing losses), with their gradients.
// Native kernels: src/cpu/loss.cc, src/cuda/loss.cu (napi/loss.cc).
import { native, type Storage } from '../native.js';
import { Tensor } from '../tensor.js';
import { attachGrad } from '../autograd.js';
import { sameShape, shapeStr } from '../shape.js';

declare module '../native.js' {
  interface Native {
    // loss family (src/napi/loss.cc); out and g are one-element storages
    mseForward(a: Storage, b: Storage, out: Storage): void;
    mseBackward(a: Storage, b: Storage, g: Storage, ga: Storage | null, gb: Storage | null): void;
    cosineLossForward(a: Storage, b: Storage, stats: Storage, out: Storage, rows: number, d: number): void;
    cosineLossBackward(a: Storage, b: Storage, stats: Storage, g: Storage, gb: Storage, rows: number, d: number): void;
  }
}

const flows = (t: Tensor): boolean => t.requiresGrad || t.gradNode !== null;

function checkPair(op: string, a: Tensor, b: Tensor): void {
  if (!sameShape(a.shape, b.shape)) throw new Error(`${op}: inputs have shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)}, expected equal shapes`);
  if (a.device !== b.device) throw new Error(`${op}: inputs are on different devices (${a.device} and ${b.device})`);
}

/** mean((a - b)^2) over all elements (torch.nn.functional.mse_loss, reduction 'mean'): a scalar []. */
export function mseLoss(a: Tensor, b: Tensor): Tensor {
  const op = 'mseLoss';
  checkPair(op, a, b);
  if (a.numel === 0) throw new Error(`${op}: inputs are empty (shape ${shapeStr(a.shape)})`);
  const out = Tensor.empty([], a.device);
  native.mseForward(a.storage, b.storage, out.storage);
  return attachGrad(out, 'mseLoss', [a, b], (g) => {
    const ga = flows(a) ? Tensor.empty(a.shape, a.device) : null;
    const gb = flows(b) ? Tensor.empty(b.shape, b.device) : null;
    native.mseBackward(a.storage, b.storage, g.storage, ga?.storage ?? null, gb?.storage ?? null);
    return [ga, gb];
  });
}

/**
 * Mean over the batch of 1 - cos(flatten(a_i), flatten(b_i)) for a, b [B, ...]; each norm is
 * clamped to at least 1e-8 (torch.cosine_similarity). `a` is the target side: it is treated as
 * detached and gets no gradient; the gradient flows to `b` only. Returns a scalar [].
 */
export function cosineLoss(a: Tensor, b: Tensor): Tensor {
  const op = 'cosineLoss';
  checkPair(op, a, b);
  if (a.ndim < 2) throw new Error(`${op}: inputs must be [batch, ...] (at least 2-d), got shape ${shapeStr(a.shape)}`);
  const rows = a.shape[0]!;
  const d = rows > 0 ? a.numel / rows : 0;
  if (rows === 0 || d === 0) throw new Error(`${op}: inputs are empty (shape ${shapeStr(a.shape)})`);
  const stats = Tensor.empty([rows, 3], a.device);
  const out = Tensor.empty([], a.device);
  native.cosineLossForward(a.storage, b.storage, stats.storage, out.storage, rows, d);
  attachGrad(out, 'cosineLoss', [b], (g) => {
    const gb = Tensor.empty(b.shape, b.device);
    native.cosineLossBackward(a.storage, b.storage, stats.storage, g.storage, gb.storage, rows, d);
    return [gb];
  });
  if (!out.gradNode) stats.release();
  return out;
}
