// Per-channel activations: PReLU (ArcFace / IR-SE) and StyleGAN2's fused bias + leaky ReLU,
// with their gradients. Plain relu / sigmoid / leakyRelu are unary ops in ./elementwise.ts.
// Native kernels: src/cpu/activation.cc, src/cuda/activation.cu (napi/activation.cc).
import { native, type Storage } from '../native.js';
import { Tensor } from '../tensor.js';
import { attachGrad, needsGrad } from '../autograd.js';
import { shapeStr } from '../shape.js';
import { add, mul } from './elementwise.js';
import { reshape } from './shape.js';

declare module '../native.js' {
  interface Native {
    // activation family (src/napi/activation.cc); tensors are viewed as [n, c, s]
    preluForward(x: Storage, weight: Storage, y: Storage, n: number, c: number, s: number): void;
    preluBackward(x: Storage, weight: Storage, gy: Storage, gx: Storage | null, gweight: Storage | null, n: number, c: number, s: number): void;
    fusedLeakyReluForward(x: Storage, bias: Storage | null, y: Storage, n: number, c: number, s: number, slope: number, gain: number): void;
    fusedLeakyReluBackward(
      x: Storage, bias: Storage | null, gy: Storage, gx: Storage | null, gbias: Storage | null,
      n: number, c: number, s: number, slope: number, gain: number,
    ): void;
    /** y = x * scale[n, c] + residual in one pass (CPU only: the fused inference path). */
    scaleChannelsAdd(x: Storage, scale: Storage, residual: Storage, y: Storage, n: number, c: number, s: number): void;
  }
}

/**
 * Inference only: x * scale[n, c] + residual for x and residual [N, C, ...] and scale [N, C]
 * (a squeeze-and-excitation gate and the residual connection after it). One pass on the CPU; the
 * element-wise ops on CUDA. Throws when a gradient is needed.
 */
export function scaleChannelsAdd(x: Tensor, scale: Tensor, residual: Tensor): Tensor {
  const op = 'scaleChannelsAdd';
  const { n, c, s } = channelView(op, x);
  if (scale.numel !== n * c || residual.numel !== x.numel || residual.shape[1] !== c || residual.device !== x.device || scale.device !== x.device) {
    throw new Error(`${op}: x ${shapeStr(x.shape)}, scale ${shapeStr(scale.shape)} and residual ${shapeStr(residual.shape)} must be [N, C, ...], [N, C] and like x, on one device`);
  }
  if (needsGrad(x, scale, residual)) throw new Error(`${op}: inference only, but a gradient is needed (use mul and add)`);
  if (x.device === 'cuda') return add(mul(x, reshape(scale, [n, c, ...x.shape.slice(2).map(() => 1)])), residual);
  const y = Tensor.empty(x.shape, x.device);
  native.scaleChannelsAdd(x.storage, scale.storage, residual.storage, y.storage, n, c, s);
  return y;
}

/** [n, c, s] view of a tensor with channels on dim 1 (s = product of the dims after it). */
function channelView(op: string, x: Tensor): { n: number; c: number; s: number } {
  if (x.ndim < 2) throw new Error(`${op}: input must have a channel dimension (at least 2-d [N, C, ...]), got shape ${shapeStr(x.shape)}`);
  let s = 1;
  for (let i = 2; i < x.ndim; i++) s *= x.shape[i]!;
  return { n: x.shape[0]!, c: x.shape[1]!, s };
}

const flows = (t: Tensor | null): t is Tensor => !!t && (t.requiresGrad || t.gradNode !== null);

/**
 * PReLU (torch.nn.PReLU): x > 0 ? x : weight[c] * x, with weight [C] on dim 1 or a single
 * shared weight [1]. Inputs with fewer than 2 dims have one channel. Gradients for x and weight.
 */
export function prelu(x: Tensor, weight: Tensor): Tensor {
  const op = 'prelu';
  const channels = x.ndim >= 2 ? x.shape[1]! : 1;
  if (weight.ndim !== 1 || (weight.numel !== channels && weight.numel !== 1)) {
    throw new Error(`${op}: weight has shape ${shapeStr(weight.shape)}, expected [${channels}] or [1] (the channels of input ${shapeStr(x.shape)})`);
  }
  if (weight.device !== x.device) throw new Error(`${op}: weight is on ${weight.device} but the input is on ${x.device}`);
  // A shared weight sees the whole of each sample as one channel.
  let n: number, c: number, s: number;
  if (x.ndim >= 2) ({ n, c, s } = channelView(op, x));
  else { n = 1; c = 1; s = x.numel; }
  if (weight.numel !== c) { s *= c; c = 1; }
  const y = Tensor.empty(x.shape, x.device);
  native.preluForward(x.storage, weight.storage, y.storage, n, c, s);
  return attachGrad(y, 'prelu', [x, weight], (g) => {
    const gx = flows(x) ? Tensor.empty(x.shape, x.device) : null;
    const gw = flows(weight) ? Tensor.empty(weight.shape, x.device) : null;
    native.preluBackward(x.storage, weight.storage, g.storage, gx?.storage ?? null, gw?.storage ?? null, n, c, s);
    return [gx, gw];
  });
}

export interface FusedLeakyReluOptions {
  /** Negative slope (default 0.2). */
  slope?: number;
  /** Output scale (default sqrt 2). */
  gain?: number;
}

/**
 * StyleGAN2's FusedLeakyReLU: leaky_relu(x + bias, slope) * gain with bias [C] broadcast on dim 1,
 * for x [N, C, H, W] (StyledConv) or [N, C] (EqualLinear). bias may be null (no bias).
 * Gradients for x and bias.
 */
export function fusedLeakyRelu(x: Tensor, bias: Tensor | null, opts: FusedLeakyReluOptions = {}): Tensor {
  const op = 'fusedLeakyRelu';
  const { n, c, s } = channelView(op, x);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== c)) {
    throw new Error(`${op}: bias has shape ${shapeStr(bias.shape)}, expected [${c}] (the channels of input ${shapeStr(x.shape)})`);
  }
  if (bias && bias.device !== x.device) throw new Error(`${op}: bias is on ${bias.device} but the input is on ${x.device}`);
  const slope = opts.slope ?? 0.2;
  const gain = opts.gain ?? Math.SQRT2;
  const y = Tensor.empty(x.shape, x.device);
  native.fusedLeakyReluForward(x.storage, bias?.storage ?? null, y.storage, n, c, s, slope, gain);
  return attachGrad(y, 'fusedLeakyRelu', [x, bias], (g) => {
    const gx = flows(x) ? Tensor.empty(x.shape, x.device) : null;
    const gb = flows(bias) ? Tensor.empty([c], x.device) : null;
    native.fusedLeakyReluBackward(x.storage, bias?.storage ?? null, g.storage, gx?.storage ?? null, gb?.storage ?? null, n, c, s, slope, gain);
    return [gx, gb];
  });
}
