// Normalization over the channel dimension (dim 1): batch norm (BatchNorm1d / 2d, training and
// evaluation, PyTorch semantics) and StyleGAN's pixel norm, with their gradients.
// Native kernels: src/cpu/normalization.cc, src/cuda/normalization.cu (napi/normalization.cc).
import { native, type Storage } from '../native.js';
import { Tensor } from '../tensor.js';
import { attachGrad, noGrad } from '../autograd.js';
import { add, addScalar, mul, rsqrt, scale, square, sub, sum } from './elementwise.js';
import { cat, reshape, slice } from './shape.js';
import { shapeStr, type Shape } from '../shape.js';

declare module '../native.js' {
  interface Native {
    // normalization family (src/napi/normalization.cc); tensors are viewed as [n, c, s]
    batchNormForward(
      x: Storage, weight: Storage | null, bias: Storage | null, runningMean: Storage | null, runningVar: Storage | null,
      y: Storage, saveMean: Storage, saveInvstd: Storage, n: number, c: number, s: number,
      training: boolean, momentum: number, eps: number,
    ): void;
    batchNormBackward(
      x: Storage, gy: Storage, weight: Storage | null, saveMean: Storage, saveInvstd: Storage,
      gx: Storage | null, gweight: Storage | null, gbias: Storage | null, n: number, c: number, s: number, training: boolean,
    ): void;
    pixelNormForward(x: Storage, y: Storage, inv: Storage, n: number, c: number, s: number, eps: number): void;
    pixelNormBackward(x: Storage, inv: Storage, gy: Storage, gx: Storage, n: number, c: number, s: number): void;
  }
}

/** [n, c, s] view of a tensor with channels on dim 1 (s = product of the dims after it). */
function channelView(op: string, x: Tensor): { n: number; c: number; s: number } {
  if (x.ndim < 2) throw new Error(`${op}: input must have a channel dimension (at least 2-d [N, C, ...]), got shape ${shapeStr(x.shape)}`);
  const n = x.shape[0]!, c = x.shape[1]!;
  let s = 1;
  for (let i = 2; i < x.ndim; i++) s *= x.shape[i]!;
  return { n, c, s };
}

/** Throws unless t is a 1-d tensor of `c` elements on x's device. */
function checkPerChannel(op: string, name: string, t: Tensor, c: number, x: Tensor): void {
  if (t.ndim !== 1 || t.shape[0] !== c) {
    throw new Error(`${op}: ${name} has shape ${shapeStr(t.shape)}, expected [${c}] (the channels of input ${shapeStr(x.shape)})`);
  }
  if (t.device !== x.device) throw new Error(`${op}: ${name} is on ${t.device} but the input is on ${x.device}`);
}

const flows = (t: Tensor | null): t is Tensor => !!t && (t.requiresGrad || t.gradNode !== null);

export interface BatchNormOptions {
  /** Batch statistics (and running-stat update) when true, running statistics when false. */
  training: boolean;
  /** running = (1 - momentum) * running + momentum * batch statistic (default 0.1). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /**
   * Synchronised batch norm (data-parallel training): training statistics over the batches of every
   * replica. `sync` sums a tensor over the replicas and is differentiable (its gradient is summed the
   * same way), so the backward pass goes through the shared mean and variance exactly.
   */
  sync?: CrossReplicaSum | null;
}

/** Sums a tensor over the replicas of a data-parallel job; the gradient of the result is summed too. */
export type CrossReplicaSum = (t: Tensor) => Tensor;

/**
 * Batch normalization of x [N, C, ...] ([N, C] = BatchNorm1d, [N, C, H, W] = BatchNorm2d) with
 * optional affine weight / bias [C]. Training: normalises with the batch mean and biased
 * variance and, when given, updates runningMean / runningVar in place (unbiased variance, as
 * PyTorch). Evaluation: normalises with the running statistics. Gradients for x, weight, bias.
 */
export function batchNorm(
  x: Tensor, weight: Tensor | null, bias: Tensor | null, runningMean: Tensor | null, runningVar: Tensor | null,
  opts: BatchNormOptions,
): Tensor {
  const op = 'batchNorm';
  const { n, c, s } = channelView(op, x);
  if (weight) checkPerChannel(op, 'weight', weight, c, x);
  if (bias) checkPerChannel(op, 'bias', bias, c, x);
  if (runningMean) checkPerChannel(op, 'runningMean', runningMean, c, x);
  if (runningVar) checkPerChannel(op, 'runningVar', runningVar, c, x);
  const training = opts.training;
  const momentum = opts.momentum ?? 0.1;
  const eps = opts.eps ?? 1e-5;
  if (!(eps > 0)) throw new Error(`${op}: eps must be > 0, got ${eps}`);
  if (!training && (!runningMean || !runningVar)) {
    throw new Error(`${op}: evaluation mode needs runningMean and runningVar (input ${shapeStr(x.shape)})`);
  }
  if (training && n * s <= 1) {
    throw new Error(`${op}: training needs more than one value per channel, got input ${shapeStr(x.shape)}`);
  }
  if (training && opts.sync) return syncedBatchNorm(x, weight, bias, runningMean, runningVar, momentum, eps, opts.sync);
  const y = Tensor.empty(x.shape, x.device);
  const saveMean = Tensor.empty([c], x.device);
  const saveInvstd = Tensor.empty([c], x.device);
  native.batchNormForward(
    x.storage, weight?.storage ?? null, bias?.storage ?? null, runningMean?.storage ?? null, runningVar?.storage ?? null,
    y.storage, saveMean.storage, saveInvstd.storage, n, c, s, training, momentum, eps,
  );
  attachGrad(y, 'batchNorm', [x, weight, bias], (g) => {
    const gx = flows(x) ? Tensor.empty(x.shape, x.device) : null;
    const gw = flows(weight) ? Tensor.empty([c], x.device) : null;
    const gb = flows(bias) ? Tensor.empty([c], x.device) : null;
    native.batchNormBackward(
      x.storage, g.storage, weight?.storage ?? null, saveMean.storage, saveInvstd.storage,
      gx?.storage ?? null, gw?.storage ?? null, gb?.storage ?? null, n, c, s, training,
    );
    return [gx, gw, gb];
  });
  if (!y.gradNode) { saveMean.release(); saveInvstd.release(); }
  return y;
}

/**
 * Training-mode batch norm with statistics over every replica, from differentiable ops: the mean
 * (one cross-replica sum of the per-channel sums and the element count), then the biased variance
 * around it (a second sum, two passes as the native kernel), the normalisation and the affine map.
 * The running statistics are updated as PyTorch's SyncBatchNorm does (unbiased variance over the
 * global count).
 */
function syncedBatchNorm(
  x: Tensor, weight: Tensor | null, bias: Tensor | null, runningMean: Tensor | null, runningVar: Tensor | null,
  momentum: number, eps: number, crossSum: CrossReplicaSum,
): Tensor {
  const { n, c, s } = channelView('batchNorm', x);
  const dims = x.shape.map((_, i) => i).filter((i) => i !== 1);
  const perChannel = x.shape.map((d, i) => (i === 1 ? d : 1));
  const totals = crossSum(cat([sum(x, dims), Tensor.full([1], n * s, x.device)], 0));
  const count = slice(totals, 0, c, c + 1).item();
  if (count <= 1) throw new Error(`batchNorm: training needs more than one value per channel over all replicas, got ${count}`);
  const mean = scale(slice(totals, 0, 0, c), 1 / count);
  const centered = sub(x, reshape(mean, perChannel));
  const variance = scale(crossSum(sum(square(centered), dims)), 1 / count);
  let y = mul(centered, reshape(rsqrt(addScalar(variance, eps)), perChannel));
  if (weight) y = mul(y, reshape(weight, perChannel));
  if (bias) y = add(y, reshape(bias, perChannel));
  noGrad(() => {
    const update = (running: Tensor | null, batch: Tensor) => {
      if (running) native.copyInto(running.storage, add(scale(running, 1 - momentum), scale(batch, momentum)).storage);
    };
    update(runningMean, mean);
    update(runningVar, scale(variance, count / (count - 1)));
  });
  return y;
}

/**
 * StyleGAN's PixelNorm: x * rsqrt(mean over dim 1 of x^2 + eps), for x [N, C, ...].
 */
export function pixelNorm(x: Tensor, eps = 1e-8): Tensor {
  const op = 'pixelNorm';
  const { n, c, s } = channelView(op, x);
  if (c === 0) throw new Error(`${op}: input ${shapeStr(x.shape)} has no channels`);
  const y = Tensor.empty(x.shape, x.device);
  const invShape: Shape = [n, s];
  const inv = Tensor.empty(invShape, x.device);
  native.pixelNormForward(x.storage, y.storage, inv.storage, n, c, s, eps);
  attachGrad(y, 'pixelNorm', [x], (g) => {
    const gx = Tensor.empty(x.shape, x.device);
    native.pixelNormBackward(x.storage, inv.storage, g.storage, gx.storage, n, c, s);
    return [gx];
  });
  if (!y.gradNode) inv.release();
  return y;
}
