// 2-D convolution and transposed convolution (PyTorch semantics: cross-correlation, weight
// layouts [Cout, Cin/groups, kh, kw] and [Cin, Cout/groups, kh, kw]) with their gradients.
// Native kernels: src/cpu/conv2d.cc (+ gemm), src/cuda/conv2d.cu, glue src/napi/conv2d.cc.
// A transposed convolution is the backward-input pass of the convolution it transposes, so the
// three native passes (forward, backward input, backward weight) serve both ops.
import { native, type Storage } from '../native.js';
import { Tensor } from '../tensor.js';
import { attachGrad, needsGrad } from '../autograd.js';
import { add, mul, sum } from './elementwise.js';
import { prelu } from './activation.js';
import { reshape } from './shape.js';
import { shapeStr } from '../shape.js';

/** [n, c, h, w, k, kh, kw, sh, sw, ph, pw, groups]: input [n, c, h, w], weight [k, c/groups, kh, kw]. */
export type Conv2dParams = readonly number[];
export type ConvAlgorithm = 'auto' | 'gemm' | 'winograd';

declare module '../native.js' {
  interface Native {
    // convolution family (src/napi/conv2d.cc); params as Conv2dParams in ops/conv.ts
    conv2dForward(x: Storage, w: Storage, b: Storage | null, y: Storage, params: readonly number[]): void;
    conv2dBackwardInput(w: Storage, gy: Storage, gx: Storage, params: readonly number[]): void;
    conv2dBackwardWeight(x: Storage, gy: Storage, gw: Storage, params: readonly number[]): void;
    conv2dBackwardBias(gy: Storage, gb: Storage, params: readonly number[]): void;
    /**
     * The fused inference path (CPU only, no gradient): y = prelu(conv(pad(x * inScale + inShift), w) + b, slope),
     * each vector per channel and optional; prepared = conv2dWinogradWeights(w, params).
     */
    conv2dForwardFused(x: Storage, w: Storage, prepared: Storage | null, b: Storage | null, inScale: Storage | null,
      inShift: Storage | null, slope: Storage | null, y: Storage, params: readonly number[], sums?: Storage | null): void;
    /** w transformed for the Winograd forward pass of params (CPU), or null when that pass would not use Winograd. */
    conv2dWinogradWeights(w: Storage, params: readonly number[]): Storage | null;
    /** Whether the CPU forward pass of params runs Winograd with the algorithm in force (weights prepared for one such shape serve all). */
    conv2dUsesWinograd(params: readonly number[]): boolean;
    /** The CPU forward algorithm in force; with a name, sets it first (tests, benchmarks). */
    conv2dAlgorithm(name?: 'auto' | 'gemm' | 'winograd'): 'auto' | 'gemm' | 'winograd';
  }
}

export type Pair = number | readonly [number, number] | readonly number[];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  groups?: number;
}
export interface ConvTranspose2dOptions extends Conv2dOptions {
  /** Extra rows/columns on the bottom/right of the output (PyTorch output_padding, < stride). */
  outputPadding?: Pair;
}

function pair(op: string, name: string, v: Pair, min: number): [number, number] {
  const p = typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < min)) {
    throw new Error(`${op}: ${name} must be an integer >= ${min} or a pair of them, got ${typeof v === 'number' ? v : shapeStr(v)}`);
  }
  return [p[0]!, p[1]!];
}

const flows = (t: Tensor | null | undefined): t is Tensor => !!t && (t.requiresGrad || t.gradNode !== null);

function checkDevices(op: string, ts: readonly (Tensor | null)[]): void {
  const d = ts[0]!.device;
  for (const t of ts) {
    if (t && t.device !== d) throw new Error(`${op}: tensors are on different devices (${d} and ${t.device})`);
  }
}

interface Geometry {
  groups: number;
  stride: [number, number];
  padding: [number, number];
}

function geometry(op: string, opts: Conv2dOptions): Geometry {
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`${op}: groups must be a positive integer, got ${groups}`);
  return { groups, stride: pair(op, 'stride', opts.stride ?? 1, 1), padding: pair(op, 'padding', opts.padding ?? 0, 0) };
}

function check4d(op: string, name: string, t: Tensor, layout: string): [number, number, number, number] {
  if (t.ndim !== 4) throw new Error(`${op}: ${name} must be 4-d ${layout}, got ${shapeStr(t.shape)}`);
  return t.shape as unknown as [number, number, number, number];
}

function checkBias(op: string, b: Tensor | null, channels: number, w: Tensor): void {
  if (b && (b.ndim !== 1 || b.shape[0] !== channels)) {
    throw new Error(`${op}: bias ${shapeStr(b.shape)} does not match ${channels} output channels of weight ${shapeStr(w.shape)}`);
  }
}

/** params of a 1x1 convolution whose output is [n, k, h, w] (used for bias gradients). */
const biasParams = (n: number, k: number, h: number, w: number): number[] => [n, k, h, w, k, 1, 1, 1, 1, 0, 0, 1];

function biasGrad(g: Tensor, k: number): Tensor {
  const [n, , h, w] = g.shape as unknown as number[];
  const gb = Tensor.empty([k], g.device);
  native.conv2dBackwardBias(g.storage, gb.storage, biasParams(n!, k, h!, w!));
  return gb;
}

/**
 * 2-D convolution: x [N, Cin, H, W], w [Cout, Cin/groups, kh, kw], b [Cout] or null.
 * Output [N, Cout, (H + 2*ph - kh) / sh + 1, (W + 2*pw - kw) / sw + 1].
 */
export function conv2d(x: Tensor, w: Tensor, b: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  const { params, outShape } = conv2dGeometry('conv2d', x, w, b, opts);
  const k = outShape[1]!;
  const y = Tensor.empty(outShape, x.device);
  native.conv2dForward(x.storage, w.storage, b ? b.storage : null, y.storage, params);
  return attachGrad(y, 'conv2d', [x, w, b], (g) => {
    let gx: Tensor | null = null, gw: Tensor | null = null, gb: Tensor | null = null;
    if (flows(x)) {
      gx = Tensor.empty(x.shape, x.device);
      native.conv2dBackwardInput(w.storage, g.storage, gx.storage, params);
    }
    if (flows(w)) {
      gw = Tensor.empty(w.shape, w.device);
      native.conv2dBackwardWeight(x.storage, g.storage, gw.storage, params);
    }
    if (b && flows(b)) gb = biasGrad(g, k);
    return [gx, gw, gb];
  });
}

/** Checks a convolution's operands; its native params and output shape. */
function conv2dGeometry(op: string, x: Tensor, w: Tensor, b: Tensor | null, opts: Conv2dOptions): { params: number[]; outShape: number[] } {
  const [n, c, h, wd] = check4d(op, 'input', x, '[N, C, H, W]');
  const [k, cg, kh, kw] = check4d(op, 'weight', w, '[Cout, Cin/groups, kh, kw]');
  checkDevices(op, [x, w, b]);
  const { groups, stride, padding } = geometry(op, opts);
  if (cg * groups !== c) {
    throw new Error(`${op}: input ${shapeStr(x.shape)} has ${c} channels but weight ${shapeStr(w.shape)} expects ${cg * groups} (${cg} per group x ${groups} groups)`);
  }
  if (k % groups !== 0) throw new Error(`${op}: weight ${shapeStr(w.shape)} has ${k} output channels, not divisible by groups ${groups}`);
  checkBias(op, b, k, w);
  const oh = Math.floor((h + 2 * padding[0] - kh) / stride[0]) + 1;
  const ow = Math.floor((wd + 2 * padding[1] - kw) / stride[1]) + 1;
  if (h + 2 * padding[0] < kh || wd + 2 * padding[1] < kw || oh < 1 || ow < 1) {
    throw new Error(`${op}: input ${shapeStr(x.shape)} with padding ${shapeStr(padding)} is smaller than the kernel ${shapeStr([kh, kw])}`);
  }
  return { params: [n, c, h, wd, k, kh, kw, stride[0], stride[1], padding[0], padding[1], groups], outShape: [n, k, oh, ow] };
}

/** Per-channel operations folded into conv2dFused (each optional). */
export interface ConvFusion {
  /** x * inScale + inShift before the convolution, per input channel (an eval-mode BatchNorm before it); the padding stays zero. */
  inScale?: Tensor | null;
  inShift?: Tensor | null;
  /** PReLU slopes per output channel, applied after the bias. */
  slope?: Tensor | null;
  /** Filled with each output channel's sum, [N, Cout] (a global average pool without a pass of its own). */
  channelSums?: Tensor | null;
}

/**
 * Inference only (records no gradient; throws when one is needed):
 * prelu(conv2d(x * inScale + inShift, w) + b, slope). On the CPU one native pass (the affine is
 * applied as Winograd reads x, the PReLU as it writes y), reusing `prepared` (conv2dPrepare) when
 * given; on CUDA the unfused ops.
 */
export function conv2dFused(x: Tensor, w: Tensor, b: Tensor | null, fusion: ConvFusion, opts: Conv2dOptions = {}, prepared: Storage | null = null): Tensor {
  const op = 'conv2dFused';
  const { inScale = null, inShift = null, slope = null, channelSums = null } = fusion;
  if (needsGrad(x, w, b, inScale, inShift, slope)) throw new Error(`${op}: inference only, but a gradient is needed (use conv2d, batchNorm and prelu, or noGrad)`);
  const { params, outShape } = conv2dGeometry(op, x, w, b, opts);
  const [, c, , ] = x.shape as unknown as number[];
  const k = outShape[1]!;
  const n0 = outShape[0]!;
  for (const [name, t, n] of [['inScale', inScale, c], ['inShift', inShift, c], ['slope', slope, k], ['channelSums', channelSums, n0 * k]] as const) {
    if (t && (t.numel !== n || t.device !== x.device)) throw new Error(`${op}: ${name} ${shapeStr(t.shape)} on ${t.device} must hold ${n} values on ${x.device}`);
  }
  if (x.device === 'cuda') {
    const channel = (t: Tensor) => reshape(t, [1, t.numel, 1, 1]);
    let xin = x;
    if (inScale) xin = mul(xin, channel(inScale));
    if (inShift) xin = add(xin, channel(inShift));
    const y0 = conv2d(xin, w, b, opts);
    const y = slope ? prelu(y0, slope) : y0;
    if (channelSums) {
      const s = sum(y, [2, 3]);
      native.copyInto(channelSums.storage, s.storage);
      s.release();
    }
    return y;
  }
  const y = Tensor.empty(outShape, x.device);
  native.conv2dForwardFused(x.storage, w.storage, prepared, b?.storage ?? null, inScale?.storage ?? null, inShift?.storage ?? null,
    slope?.storage ?? null, y.storage, params, channelSums?.storage ?? null);
  return y;
}

/**
 * The weights of a convolution on inputs of xShape transformed once for the CPU's Winograd pass
 * (conv2dFused then skips that transform), or null where that pass is not used (other shapes,
 * another algorithm forced, CUDA). They serve every input shape for which conv2dUsesWinograd is
 * true, while w stays as it is.
 */
export function conv2dPrepare(xShape: readonly number[], w: Tensor, opts: Conv2dOptions = {}): Storage | null {
  if (w.device !== 'cpu') return null;
  return native.conv2dWinogradWeights(w.storage, conv2dParamsFor(xShape, w, opts));
}

/** Whether a convolution of w on inputs of xShape runs Winograd on the CPU now (false on CUDA). */
export function conv2dUsesWinograd(xShape: readonly number[], w: Tensor, opts: Conv2dOptions = {}): boolean {
  return w.device === 'cpu' && native.conv2dUsesWinograd(conv2dParamsFor(xShape, w, opts));
}

function conv2dParamsFor(xShape: readonly number[], w: Tensor, opts: Conv2dOptions): number[] {
  const x = { shape: xShape, ndim: xShape.length, device: w.device } as unknown as Tensor;
  return conv2dGeometry('conv2dPrepare', x, w, null, opts).params;
}

/**
 * Transposed 2-D convolution (the gradient of conv2d w.r.t. its input): x [N, Cin, H, W],
 * w [Cin, Cout/groups, kh, kw], b [Cout] or null. Output [N, Cout, Ho, Wo] with
 * Ho = (H - 1) * sh - 2 * ph + kh + output_padding_h.
 */
export function convTranspose2d(x: Tensor, w: Tensor, b: Tensor | null = null, opts: ConvTranspose2dOptions = {}): Tensor {
  const op = 'convTranspose2d';
  const [n, cin, h, wd] = check4d(op, 'input', x, '[N, Cin, H, W]');
  const [wcin, coutg, kh, kw] = check4d(op, 'weight', w, '[Cin, Cout/groups, kh, kw]');
  checkDevices(op, [x, w, b]);
  const { groups, stride, padding } = geometry(op, opts);
  const outPad = pair(op, 'outputPadding', opts.outputPadding ?? 0, 0);
  if (wcin !== cin) throw new Error(`${op}: input ${shapeStr(x.shape)} has ${cin} channels but weight ${shapeStr(w.shape)} expects ${wcin}`);
  if (cin % groups !== 0) throw new Error(`${op}: input ${shapeStr(x.shape)} has ${cin} channels, not divisible by groups ${groups}`);
  if (outPad[0] >= stride[0] || outPad[1] >= stride[1]) {
    throw new Error(`${op}: outputPadding ${shapeStr(outPad)} must be smaller than the stride ${shapeStr(stride)}`);
  }
  const cout = coutg * groups;
  checkBias(op, b, cout, w);
  const oh = (h - 1) * stride[0] - 2 * padding[0] + kh + outPad[0];
  const ow = (wd - 1) * stride[1] - 2 * padding[1] + kw + outPad[1];
  if (oh < 1 || ow < 1) {
    throw new Error(`${op}: input ${shapeStr(x.shape)} with kernel ${shapeStr([kh, kw])}, stride ${shapeStr(stride)} and padding ${shapeStr(padding)} gives an empty output ${shapeStr([oh, ow])}`);
  }
  // The convolution this op transposes: input [n, cout, oh, ow] -> output [n, cin, h, wd].
  const params = [n, cout, oh, ow, cin, kh, kw, stride[0], stride[1], padding[0], padding[1], groups];
  const y = Tensor.empty([n, cout, oh, ow], x.device);
  native.conv2dBackwardInput(w.storage, x.storage, y.storage, params);
  if (b) native.binaryForward(0, y.storage, b.storage, y.storage, y.shape, [cout * oh * ow, oh * ow, ow, 1], [0, 1, 0, 0]);
  return attachGrad(y, op, [x, w, b], (g) => {
    let gx: Tensor | null = null, gw: Tensor | null = null, gb: Tensor | null = null;
    if (flows(x)) {
      gx = Tensor.empty(x.shape, x.device);
      native.conv2dForward(g.storage, w.storage, null, gx.storage, params);
    }
    if (flows(w)) {
      gw = Tensor.empty(w.shape, w.device);
      native.conv2dBackwardWeight(g.storage, x.storage, gw.storage, params);
    }
    if (b && flows(b)) gb = biasGrad(g, cout);
    return [gx, gw, gb];
  });
}

/** The CPU forward algorithm for 3x3 stride-1 convolutions ('auto' picks per shape); sets it when given. */
export function conv2dAlgorithm(name?: ConvAlgorithm): ConvAlgorithm {
  return native.conv2dAlgorithm(name);
}
