// Pooling over [N, C, H, W]: adaptive average pooling (PyTorch windows, any sizes), the ID-loss
// crop + pool (fused into the adaptive kernel), max pooling (argmax saved for the backward) and
// average pooling, with their gradients.
// Native kernels: src/cpu/pooling.cc, src/cuda/pooling.cu, glue src/napi/pooling.cc.
import { native, type Storage } from '../native.js';
import { Tensor } from '../tensor.js';
import { attachGrad, needsGrad } from '../autograd.js';
import { shapeStr } from '../shape.js';

declare module '../native.js' {
  interface Native {
    // pooling family (src/napi/pooling.cc). crop = [top, left, cropH, cropW]; pairs are [h, w].
    adaptiveAvgPool2dForward(x: Storage, y: Storage, planes: number, inH: number, inW: number, crop: readonly number[], outSize: readonly number[]): void;
    adaptiveAvgPool2dBackward(gy: Storage, gx: Storage, planes: number, inH: number, inW: number, crop: readonly number[], outSize: readonly number[]): void;
    maxPool2dForward(x: Storage, y: Storage, indices: Storage | null, planes: number, inH: number, inW: number, outH: number, outW: number,
      kernel: readonly number[], stride: readonly number[], padding: readonly number[]): void;
    maxPool2dBackward(gy: Storage, indices: Storage, gx: Storage, planes: number, inH: number, inW: number, outH: number, outW: number,
      kernel: readonly number[], stride: readonly number[], padding: readonly number[]): void;
    avgPool2dForward(x: Storage, y: Storage, planes: number, inH: number, inW: number, outH: number, outW: number,
      kernel: readonly number[], stride: readonly number[], padding: readonly number[], countIncludePad: boolean): void;
    avgPool2dBackward(gy: Storage, gx: Storage, planes: number, inH: number, inW: number, outH: number, outW: number,
      kernel: readonly number[], stride: readonly number[], padding: readonly number[], countIncludePad: boolean): void;
  }
}

/** A size given as one number (square) or [h, w]. */
export type Size2 = number | readonly [number, number] | readonly number[];

function pair(op: string, name: string, v: Size2, min: number): [number, number] {
  const p = typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < min)) {
    throw new Error(`${op}: ${name} must be an integer >= ${min} or a pair of them, got ${typeof v === 'number' ? v : shapeStr(v)}`);
  }
  return [p[0]!, p[1]!];
}

function check4d(op: string, x: Tensor): [number, number, number, number] {
  if (x.ndim !== 4) throw new Error(`${op}: expected a 4-d input [N, C, H, W], got ${shapeStr(x.shape)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (h < 1 || w < 1) throw new Error(`${op}: input ${shapeStr(x.shape)} has an empty spatial size`);
  return [n, c, h, w];
}

/**
 * Mean over the crop x[:, :, top:bottom, left:right] then adaptive average pooling to `size`
 * (PyTorch windows: start = floor(i*H/out), end = ceil((i+1)*H/out)). One fused native pass.
 */
export function cropAndPool(x: Tensor, crop: readonly [number, number, number, number] | readonly number[], size: Size2): Tensor {
  const op = 'cropAndPool';
  const [n, c, h, w] = check4d(op, x);
  if (crop.length !== 4 || crop.some((v) => !Number.isInteger(v))) throw new Error(`${op}: crop must be 4 integers [top, bottom, left, right], got ${shapeStr(crop)}`);
  const [top, bottom, left, right] = crop as [number, number, number, number];
  if (!(0 <= top && top < bottom && bottom <= h && 0 <= left && left < right && right <= w)) {
    throw new Error(`${op}: crop [top ${top}, bottom ${bottom}, left ${left}, right ${right}] does not fit in the input ${shapeStr(x.shape)}`);
  }
  const [oh, ow] = pair(op, 'output size', size, 1);
  return poolCrop(op, x, [n, c, h, w], [top, left, bottom - top, right - left], [oh, ow]);
}

function poolCrop(op: string, x: Tensor, [n, c, h, w]: number[], cropTLHW: number[], out: [number, number]): Tensor {
  const y = Tensor.empty([n!, c!, out[0], out[1]], x.device);
  native.adaptiveAvgPool2dForward(x.storage, y.storage, n! * c!, h!, w!, cropTLHW, out);
  return attachGrad(y, op, [x], (g) => {
    const gx = Tensor.empty(x.shape, g.device);
    native.adaptiveAvgPool2dBackward(g.storage, gx.storage, n! * c!, h!, w!, cropTLHW, out);
    return [gx];
  });
}

/** F.adaptive_avg_pool2d: any input and output sizes, including non-divisible and up-sampling ones. */
export function adaptiveAvgPool2d(x: Tensor, size: Size2): Tensor {
  const op = 'adaptiveAvgPool2d';
  const [n, c, h, w] = check4d(op, x);
  const [oh, ow] = pair(op, 'output size', size, 1);
  return poolCrop(op, x, [n, c, h, w], [0, 0, h, w], [oh, ow]);
}

/** The multi-layer ID loss input crop of a 256 image: rows 35:223, columns 32:220 ([top, bottom, left, right]). */
export const ID_CROP: readonly [number, number, number, number] = [35, 223, 32, 220];
/** ... average-pooled to 112 x 112 (the ArcFace input size). */
export const ID_CROP_SIZE: readonly [number, number] = [112, 112];

/** The ID-loss input: x[:, :, 35:223, 32:220] adaptive-average-pooled to 112 x 112. */
export function idCrop(x: Tensor): Tensor {
  return cropAndPool(x, ID_CROP, ID_CROP_SIZE);
}

export interface Pool2dOptions {
  kernel: Size2;
  /** default: the kernel size (PyTorch) */
  stride?: Size2;
  padding?: Size2;
  ceilMode?: boolean;
}

interface WindowGeometry {
  n: number; c: number; h: number; w: number; oh: number; ow: number;
  kernel: [number, number]; stride: [number, number]; padding: [number, number];
}

/** PyTorch's pooling_output_shape (dilation 1) with its checks. */
function windowGeometry(op: string, x: Tensor, o: Pool2dOptions): WindowGeometry {
  const [n, c, h, w] = check4d(op, x);
  const kernel = pair(op, 'kernel', o.kernel, 1);
  const stride = o.stride === undefined ? kernel : pair(op, 'stride', o.stride, 1);
  const padding = pair(op, 'padding', o.padding ?? 0, 0);
  if (padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1]) {
    throw new Error(`${op}: padding ${shapeStr(padding)} should be at most half the kernel ${shapeStr(kernel)}`);
  }
  const outDim = (size: number, k: number, s: number, p: number): number => {
    let out = Math.floor((size + 2 * p - k + (o.ceilMode ? s - 1 : 0)) / s) + 1;
    if (o.ceilMode && (out - 1) * s >= size + p) out--;
    return out;
  };
  const oh = outDim(h, kernel[0], stride[0], padding[0]), ow = outDim(w, kernel[1], stride[1], padding[1]);
  if (oh < 1 || ow < 1) {
    throw new Error(`${op}: kernel ${shapeStr(kernel)} with padding ${shapeStr(padding)} does not fit the input ${shapeStr(x.shape)} (output ${oh}x${ow})`);
  }
  return { n, c, h, w, oh, ow, kernel, stride, padding };
}

/** nn.MaxPool2d (dilation 1). The argmax of each window is saved for the backward. */
export function maxPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  const op = 'maxPool2d';
  const { n, c, h, w, oh, ow, kernel, stride, padding } = windowGeometry(op, x, options);
  const y = Tensor.empty([n, c, oh, ow], x.device);
  const grad = needsGrad(x);
  const indices = grad ? Tensor.empty([n, c, oh, ow], x.device) : null;
  native.maxPool2dForward(x.storage, y.storage, indices?.storage ?? null, n * c, h, w, oh, ow, kernel, stride, padding);
  if (!indices) return y;
  return attachGrad(y, op, [x], (g) => {
    const gx = Tensor.empty(x.shape, g.device);
    native.maxPool2dBackward(g.storage, indices.storage, gx.storage, n * c, h, w, oh, ow, kernel, stride, padding);
    return [gx];
  });
}

export interface AvgPool2dOptions extends Pool2dOptions {
  /** count the zero padding in the divisor (PyTorch default true) */
  countIncludePad?: boolean;
}

/** nn.AvgPool2d (count_include_pad = true by default, as PyTorch). */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  const op = 'avgPool2d';
  const { n, c, h, w, oh, ow, kernel, stride, padding } = windowGeometry(op, x, options);
  const include = options.countIncludePad ?? true;
  const y = Tensor.empty([n, c, oh, ow], x.device);
  native.avgPool2dForward(x.storage, y.storage, n * c, h, w, oh, ow, kernel, stride, padding, include);
  return attachGrad(y, op, [x], (g) => {
    const gx = Tensor.empty(x.shape, g.device);
    native.avgPool2dBackward(g.storage, gx.storage, n * c, h, w, oh, ow, kernel, stride, padding, include);
    return [gx];
  });
}
