// The layers every exported network is made of, written into an OnnxGraph with standard ONNX ops.
// An activation is tracked with its channel count and spatial size (the batch stays symbolic), so
// that shape-dependent choices (adaptive pooling windows, FIR padding) are made at export time.
// Weights become initializers named after the module's state-dict keys (with a prefix).
import { Module, Sequential } from '../../nn/module.js';
import { BatchNorm, Conv2d, EqualLinear, Lambda, Linear, PReLU } from '../../nn/layers.js';
import { SEModule } from '../../models/irse.js';
import type { Tensor } from '../../tensor.js';
import { float, int, ints, type OnnxGraph } from './graph.js';

/** A 4-d activation [batch, c, h, w] in the graph. */
export interface Act { v: string; c: number; h: number; w: number }

/** The tensor's values as an initializer named `name` (with the tensor's own shape unless `dims`). */
export function weight(g: OnnxGraph, name: string, t: Tensor, dims?: readonly number[]): string {
  return g.constant(name, t.toArray(), dims ?? t.shape);
}

const convOut = (size: number, k: number, stride: number, pad: number) => Math.floor((size + 2 * pad - k) / stride) + 1;

/** nn.Conv2d (square kernel, symmetric padding, groups). */
export function conv2d(g: OnnxGraph, m: Conv2d, name: string, x: Act): Act {
  if (x.c !== m.inChannels) throw new Error(`ONNX export: ${name} expects ${m.inChannels} channels, the graph has ${x.c}`);
  const k = m.kernel, s = m.opts.stride ?? 1, p = m.opts.padding ?? 0;
  const inputs = [x.v, weight(g, `${name}.weight`, m.weight)];
  if (m.bias) inputs.push(weight(g, `${name}.bias`, m.bias));
  const v = g.op('Conv', inputs, { kernel_shape: ints([k, k]), strides: ints([s, s]), pads: ints([p, p, p, p]), group: int(m.opts.groups ?? 1) }, 'conv');
  return { v, c: m.outChannels, h: convOut(x.h, k, s, p), w: convOut(x.w, k, s, p) };
}

/** BatchNorm in eval mode (running statistics), [N, C, ...] inputs. */
export function batchNorm(g: OnnxGraph, m: BatchNorm, name: string, x: string): string {
  const c = m.channels;
  const scale = m.weight ? weight(g, `${name}.weight`, m.weight) : g.constant(`${name}.weight`, new Float32Array(c).fill(1), [c]);
  const bias = m.bias ? weight(g, `${name}.bias`, m.bias) : g.constant(`${name}.bias`, new Float32Array(c), [c]);
  const inputs = [x, scale, bias, weight(g, `${name}.running_mean`, m.runningMean), weight(g, `${name}.running_var`, m.runningVar)];
  return g.op('BatchNormalization', inputs, { epsilon: float(m.opts.eps ?? 1e-5) }, 'bn');
}

/** nn.PReLU with one slope per channel (stored as [C, 1, 1] to broadcast over [N, C, H, W]). */
export function prelu(g: OnnxGraph, m: PReLU, name: string, x: Act): Act {
  const slope = weight(g, `${name}.weight`, m.weight, [m.weight.numel, 1, 1]);
  return { ...x, v: g.op('PRelu', [x.v, slope], {}, 'prelu') };
}

/** nn.Linear on [N, in]: Gemm with the [out, in] weight transposed. */
export function linear(g: OnnxGraph, m: Linear, name: string, x: string): string {
  const inputs = [x, weight(g, `${name}.weight`, m.weight)];
  if (m.bias) inputs.push(weight(g, `${name}.bias`, m.bias));
  return g.op('Gemm', inputs, { transB: int(1) }, 'gemm');
}

/** StyleGAN2's fused leaky ReLU: leaky_relu(x + bias, 0.2) * sqrt(2) (bias already added when null). */
export function fusedLeakyRelu(g: OnnxGraph, x: string, bias: string | null): string {
  const z = bias ? g.op('Add', [x, bias], {}, 'add') : x;
  return g.op('Mul', [g.op('LeakyRelu', [z], { alpha: float(0.2) }, 'lrelu'), g.scalar(Math.SQRT2)], {}, 'mul');
}

/** EqualLinear with its run-time scales folded into the stored weight (scale) and bias (lrMul). */
export function equalLinear(g: OnnxGraph, m: EqualLinear, name: string, x: string): string {
  const lrMul = m.opts.lrMul ?? 1;
  const w = m.weight.toArray().map((v) => v * m.scale);
  const inputs = [x, g.constant(`${name}.weight_scaled`, w, m.weight.shape)];
  const b = m.bias ? g.constant(`${name}.bias_scaled`, m.bias.toArray().map((v) => v * lrMul), m.bias.shape) : null;
  if (m.opts.activation === 'fused_lrelu') return fusedLeakyRelu(g, g.op('Gemm', inputs, { transB: int(1) }, 'gemm'), b);
  if (b) inputs.push(b);
  return g.op('Gemm', inputs, { transB: int(1) }, 'gemm');
}

/** Squeeze-and-excitation: x * sigmoid(fc2(relu(fc1(mean_hw x)))). */
export function seModule(g: OnnxGraph, m: SEModule, name: string, x: Act): Act {
  const s: Act = { ...x, v: g.op('GlobalAveragePool', [x.v], {}, 'gap'), h: 1, w: 1 };
  const h = conv2d(g, m.fc1, `${name}.fc1`, s);
  const r = { ...h, v: g.op('Relu', [h.v], {}, 'relu') };
  const gate = g.op('Sigmoid', [conv2d(g, m.fc2, `${name}.fc2`, r).v], {}, 'sigmoid');
  return { ...x, v: g.op('Mul', [x.v, gate], {}, 'mul') };
}

/**
 * PyTorch's adaptive average pooling window along one axis as a [out, size] averaging matrix:
 * output i averages inputs floor(i size / out) .. ceil((i + 1) size / out) - 1.
 */
export function adaptivePoolMatrix(size: number, out: number): Float32Array {
  const m = new Float32Array(out * size);
  for (let i = 0; i < out; i++) {
    const start = Math.floor((i * size) / out), end = Math.ceil(((i + 1) * size) / out);
    for (let j = start; j < end; j++) m[i * size + j] = 1 / (end - start);
  }
  return m;
}

/**
 * F.adaptive_avg_pool2d to [oh, ow], exactly: nothing when the size is kept, GlobalAveragePool to
 * 1x1, AveragePool when both sizes divide (every window then has the same size and stride),
 * otherwise the separable averaging matrices: P_h (x P_w^T), two MatMuls.
 */
export function adaptiveAvgPool(g: OnnxGraph, x: Act, [oh, ow]: readonly [number, number]): Act {
  if (oh === x.h && ow === x.w) return x;
  if (oh === 1 && ow === 1) return { ...x, v: g.op('GlobalAveragePool', [x.v], {}, 'gap'), h: 1, w: 1 };
  if (x.h % oh === 0 && x.w % ow === 0) {
    const k = [x.h / oh, x.w / ow];
    return { ...x, v: g.op('AveragePool', [x.v], { kernel_shape: ints(k), strides: ints(k) }, 'avgpool'), h: oh, w: ow };
  }
  const pw = adaptivePoolMatrix(x.w, ow);
  const pwT = new Float32Array(x.w * ow);
  for (let i = 0; i < ow; i++) for (let j = 0; j < x.w; j++) pwT[j * ow + i] = pw[i * x.w + j]!;
  const cols = g.op('MatMul', [x.v, g.constant(`adaptive_pool_w_${x.w}_to_${ow}`, pwT, [x.w, ow])], {}, 'pool_cols');
  const ph = g.constant(`adaptive_pool_h_${x.h}_to_${oh}`, adaptivePoolMatrix(x.h, oh), [oh, x.h]);
  return { ...x, v: g.op('MatMul', [ph, cols], {}, 'pool_rows'), h: oh, w: ow };
}

/**
 * StyleGAN2's upfirdn2d with down = 1 on every channel, with a 2-d FIR kernel [kh, kw] (used as
 * given: factor^2 already folded in) and the same pad [p0, p1] on both axes:
 *   up 1: a depthwise Conv with the flipped kernel (upfirdn convolves; Conv correlates), pads p0, p1;
 *   up s: a depthwise ConvTranspose (stride s) with the kernel as is, which places x[i] at s i and
 *         convolves; its pads k - 1 - p0 (begin) and k - s - p1 (end) give upfirdn's window.
 */
export function upfirdn2d(g: OnnxGraph, x: Act, kernel: Tensor, name: string, up: number, [p0, p1]: readonly [number, number]): Act {
  const [kh, kw] = kernel.shape as [number, number];
  const k = kernel.toArray();
  const depthwise = (values: (i: number, j: number) => number) => {
    const data = new Float32Array(x.c * kh * kw);
    for (let c = 0; c < x.c; c++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) data[(c * kh + i) * kw + j] = values(i, j);
    return data;
  };
  if (up === 1) {
    if (p0 < 0 || p1 < 0) throw new Error(`ONNX export: ${name}: a negative FIR pad [${p0}, ${p1}] (cropping) is not supported`);
    const w = g.constant(`${name}.fir_${x.c}`, depthwise((i, j) => k[(kh - 1 - i) * kw + (kw - 1 - j)]!), [x.c, 1, kh, kw]);
    const v = g.op('Conv', [x.v, w], { kernel_shape: ints([kh, kw]), pads: ints([p0, p0, p1, p1]), group: int(x.c) }, 'blur');
    return { ...x, v, h: x.h + p0 + p1 - kh + 1, w: x.w + p0 + p1 - kw + 1 };
  }
  const pads = [kh - 1 - p0, kw - 1 - p0, kh - up - p1, kw - up - p1];
  if (pads.some((p) => p < 0)) throw new Error(`ONNX export: ${name}: FIR kernel ${kh}x${kw} with up ${up} and pad [${p0}, ${p1}] needs a negative ConvTranspose pad`);
  const w = g.constant(`${name}.fir_up${up}_${x.c}`, depthwise((i, j) => k[i * kw + j]!), [x.c, 1, kh, kw]);
  const v = g.op('ConvTranspose', [x.v, w], { kernel_shape: ints([kh, kw]), strides: ints([up, up]), pads: ints(pads), group: int(x.c) }, 'upsample');
  return { ...x, v, h: x.h * up + p0 + p1 - kh + 1, w: x.w * up + p0 + p1 - kw + 1 };
}

/** Bilinear resize of x to [h, w] (F.interpolate, align_corners true or false); the batch stays symbolic. */
export function resizeBilinear(g: OnnxGraph, x: Act, [h, w]: readonly [number, number], alignCorners: boolean): Act {
  const nc = g.op('Shape', [x.v], { start: int(0), end: int(2) }, 'shape');
  const sizes = g.op('Concat', [nc, g.int64s([h, w])], { axis: int(0) }, 'sizes');
  const v = g.op('Resize', [x.v, '', '', sizes], {
    mode: { str: 'linear' },
    coordinate_transformation_mode: { str: alignCorners ? 'align_corners' : 'half_pixel' },
  }, 'resize');
  return { ...x, v, h, w };
}

/** A layer whose export is the same wherever it appears; Sequential containers are walked. */
export function layer(g: OnnxGraph, m: Module, name: string, x: Act): Act {
  if (m instanceof Sequential) {
    for (const [child, sub] of m.namedChildren()) x = layer(g, sub, `${name}.${child}`, x);
    return x;
  }
  if (m instanceof Conv2d) return conv2d(g, m, name, x);
  if (m instanceof BatchNorm) return { ...x, v: batchNorm(g, m, name, x.v) };
  if (m instanceof PReLU) return prelu(g, m, name, x);
  if (m instanceof SEModule) return seModule(g, m, name, x);
  const what = m instanceof Lambda ? `a function layer '${m.label}'` : m.constructor.name;
  throw new Error(`ONNX export: no exporter for ${what} at '${name}'`);
}
