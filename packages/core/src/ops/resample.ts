// Resampling over [N, C, H, W]: StyleGAN2's upfirdn2d (rosinality's port) and bilinear
// interpolation (F.interpolate(mode='bilinear'), align_corners true or false), with gradients
// w.r.t. the input. Native kernels: src/cpu/resample.cc, src/cuda/resample.cu, glue src/napi/resample.cc.
import { native, type Storage } from '../native.js';
import { Tensor } from '../tensor.js';
import { attachGrad } from '../autograd.js';
import { shapeStr } from '../shape.js';

declare module '../native.js' {
  interface Native {
    // resample family (src/napi/resample.cc). Pairs are [x, y]; pad = [x0, x1, y0, y1].
    upfirdn2dForward(x: Storage, kernel: Storage, y: Storage, planes: number, inH: number, inW: number,
      kernelSize: readonly number[], up: readonly number[], down: readonly number[], pad: readonly number[]): void;
    upfirdn2dBackward(gy: Storage, kernel: Storage, gx: Storage, planes: number, inH: number, inW: number,
      kernelSize: readonly number[], up: readonly number[], down: readonly number[], pad: readonly number[]): void;
    bilinear2dForward(x: Storage, y: Storage, planes: number, inH: number, inW: number, outH: number, outW: number, alignCorners: boolean): void;
    bilinear2dBackward(gy: Storage, gx: Storage, planes: number, inH: number, inW: number, outH: number, outW: number, alignCorners: boolean): void;
  }
}

function check4d(op: string, x: Tensor): [number, number, number, number] {
  if (x.ndim !== 4) throw new Error(`${op}: expected a 4-d input [N, C, H, W], got ${shapeStr(x.shape)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (h < 1 || w < 1) throw new Error(`${op}: input ${shapeStr(x.shape)} has an empty spatial size`);
  return [n, c, h, w];
}

/**
 * rosinality's make_kernel: the outer product of a 1-D FIR kernel with itself (a 2-D one is used
 * as is), normalised to sum 1, times `scale` (Upsample / Blur with upsample_factor f use f^2).
 */
export function firKernel2d(k: readonly number[] | readonly number[][], scale = 1, device: 'cpu' | 'cuda' = 'cpu'): Tensor {
  const rows: number[][] = typeof k[0] === 'number'
    ? (k as number[]).map((a) => (k as number[]).map((b) => a * b))
    : (k as number[][]).map((r) => [...r]);
  const total = rows.flat().reduce((a, b) => a + b, 0);
  if (!rows.length || rows.some((r) => r.length !== rows[0]!.length) || total === 0) {
    throw new Error('firKernel2d: the kernel must be a non-empty 1-d list or rectangular 2-d list with a non-zero sum');
  }
  return Tensor.fromArray(rows.flat().map((v) => (v / total) * scale), [rows.length, rows[0]!.length], device);
}

export interface Upfirdn2dOptions {
  up?: number;
  down?: number;
  /** [p0, p1] for both axes, or [x0, x1, y0, y1]; negative values crop */
  pad?: readonly number[];
}

/**
 * StyleGAN2's upfirdn2d (rosinality's upfirdn2d_native) on x [N, C, H, W] with a 2-D FIR kernel
 * [kh, kw]: upsample by zero insertion (x[i] lands on i*up), pad (negative pad crops), convolve
 * with the kernel (conv2d with the flipped kernel, i.e. a true convolution), keep every
 * `down`-th sample from 0. Output H = (H*up + p0 + p1 - kh) / down + 1 (floor), likewise W.
 * The kernel is used as given: callers fold in rosinality's factor (up^2 for Upsample and the
 * upsampling Blur) themselves, e.g. firKernel2d([1, 3, 3, 1], 4). Gradient w.r.t. x only.
 */
export function upfirdn2d(x: Tensor, kernel: Tensor, options: Upfirdn2dOptions = {}): Tensor {
  const op = 'upfirdn2d';
  const [n, c, h, w] = check4d(op, x);
  const up = options.up ?? 1, down = options.down ?? 1;
  const pad = options.pad ?? [0, 0];
  if (kernel.ndim !== 2 || kernel.numel === 0) throw new Error(`${op}: kernel must be 2-d [kh, kw], got ${shapeStr(kernel.shape)}`);
  if (kernel.device !== x.device) throw new Error(`${op}: kernel is on ${kernel.device} but the input is on ${x.device}`);
  if (!Number.isInteger(up) || up < 1 || !Number.isInteger(down) || down < 1) {
    throw new Error(`${op}: up (${up}) and down (${down}) must be positive integers`);
  }
  if ((pad.length !== 2 && pad.length !== 4) || pad.some((p) => !Number.isInteger(p))) {
    throw new Error(`${op}: pad must be 2 integers [p0, p1] or 4 [x0, x1, y0, y1], got ${shapeStr(pad)}`);
  }
  const [x0, x1, y0, y1] = pad.length === 2 ? [pad[0]!, pad[1]!, pad[0]!, pad[1]!] : (pad as [number, number, number, number]);
  const [kh, kw] = kernel.shape as [number, number];
  const spanH = h * up + y0 + y1 - kh, spanW = w * up + x0 + x1 - kw;
  if (spanH < 0 || spanW < 0) {
    throw new Error(`${op}: kernel ${shapeStr(kernel.shape)} is larger than the input ${shapeStr(x.shape)} upsampled by ${up} and padded by ${shapeStr([x0, x1, y0, y1])}`);
  }
  const oh = Math.floor(spanH / down) + 1, ow = Math.floor(spanW / down) + 1;
  const ks = [kh, kw], ups = [up, up], downs = [down, down], pads = [x0, x1, y0, y1];
  const y = Tensor.empty([n, c, oh, ow], x.device);
  native.upfirdn2dForward(x.storage, kernel.storage, y.storage, n * c, h, w, ks, ups, downs, pads);
  return attachGrad(y, op, [x], (g) => {
    const gx = Tensor.empty(x.shape, g.device);
    native.upfirdn2dBackward(g.storage, kernel.storage, gx.storage, n * c, h, w, ks, ups, downs, pads);
    return [gx];
  });
}

export interface InterpolateOptions {
  /** PyTorch's align_corners (default true: pSp's FPN) */
  alignCorners?: boolean;
}

/** F.interpolate(x, size=[outH, outW], mode='bilinear', align_corners) with PyTorch's source-index rules. */
export function interpolateBilinear(x: Tensor, size: readonly number[], options: InterpolateOptions = {}): Tensor {
  const op = 'interpolateBilinear';
  const [n, c, h, w] = check4d(op, x);
  if (size.length !== 2 || size.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`${op}: size must be 2 positive integers [outH, outW], got ${shapeStr(size)} (input ${shapeStr(x.shape)})`);
  }
  const [oh, ow] = size as [number, number];
  const align = options.alignCorners ?? true;
  const y = Tensor.empty([n, c, oh, ow], x.device);
  native.bilinear2dForward(x.storage, y.storage, n * c, h, w, oh, ow, align);
  return attachGrad(y, op, [x], (g) => {
    const gx = Tensor.empty(x.shape, g.device);
    native.bilinear2dBackward(g.storage, gx.storage, n * c, h, w, oh, ow, align);
    return [gx];
  });
}
