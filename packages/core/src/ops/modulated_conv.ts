// StyleGAN2's modulated convolution (the rosinality ModulatedConv2d) and the rest of a StyledConv.
//
// Per-sample weights  w[b,o,i,:,:] = scale * weight[o,i,:,:] * s[b,i]   (scale = 1/sqrt(Cin k k))
// demodulation        d[b,o]       = rsqrt(sum_{i,kh,kw} w[b,o,i,kh,kw]^2 + 1e-8)
// output              y[b]         = conv(x[b], w[b] * d[b])            (stride 1, padding k/2)
//   upsample: conv_transpose2d(stride 2, padding 0) followed by a blur (upfirdn2d) whose padding
//   is rosinality's: p = (len(kernel) - 2) - (k - 1), pads ((p + 1) // 2 + 1, p // 2 + 1).
//
// Fast form used here (mathematically identical, one shared-weight conv over the batch):
//   y = conv(x * (scale s)[b,i], weight) * d[b,o],   d = rsqrt(linear((scale s)^2, sum_k weight^2) + 1e-8)
// as two autograd nodes built on the conv / resample / element-wise kernels:
//   modulatedConvCore   x, s, weight -> conv(x * s) (+ transposed conv and blur); the scaled input and
//                       the transposed-conv output are not kept (x * s is recomputed only for a weight gradient)
//   demodulateAddNoise  y, d, noise, noise weight, bias -> lrelu(y * d + noise * w + bias) * gain in one pass
// d itself comes from the differentiable element-wise ops. Without autograd history every
// intermediate is freed as soon as it is used, and the tail runs in place.
// modulatedConv2dGrouped is the literal per-sample (grouped conv) form, kept as a reference.
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { attachGrad, needsGrad, noGrad } from '../autograd.js';
import { broadcastStrides, contiguousStrides, shapeStr } from '../shape.js';
import { conv2d, convTranspose2d } from './conv.js';
import { linear } from './linear.js';
import { firKernel2d, upfirdn2d } from './resample.js';
import './activation.js'; // the fused leaky ReLU kernels (native declarations)
import { BINARY_OPS, addScalar, mul, rsqrt, scale, square, sum, expand } from './elementwise.js';
import { permute, reshape } from './shape.js';

export interface ModulatedConv2dOptions {
  /** Weight demodulation (default true; ToRGB uses false). */
  demodulate?: boolean;
  /** Transposed conv stride 2 + blur (doubles the resolution). */
  upsample?: boolean;
  /** The blur kernel [kh, kw] already multiplied by factor^2 (rosinality's Blur buffer); required with upsample. */
  blurKernel?: Tensor | null;
  /** When true, `weight` already includes the equalized-lr scale 1/sqrt(Cin k k). */
  prescaled?: boolean;
  /** Added under the demodulation rsqrt (1e-8). */
  eps?: number;
  /** Noise [B or 1, 1, Hout, Wout] added (times noiseWeight) after the demodulation. */
  noise?: Tensor | null;
  /** The NoiseInjection weight [1]; required with noise. */
  noiseWeight?: Tensor | null;
  /** Fused leaky ReLU (with bias) applied last, in the same pass (StyledConv's `activate`). */
  activation?: FusedActivation | null;
  /**
   * Upsample only: the weight already laid out for the transposed convolution, [Cin, Cout, k, k],
   * kept by the caller while the weight does not change (a frozen generator); otherwise it is
   * rebuilt by every forward and backward pass.
   */
  transposedWeight?: Tensor | null;
}

/** rosinality's make_kernel: outer product of a 1-d kernel, normalised to sum 1, times factor^2 ([kh, kw]). */
export function makeBlurKernel(k: readonly number[] = [1, 3, 3, 1], factor = 1, device: Tensor['device'] = 'cpu'): Tensor {
  return firKernel2d(k, factor * factor, device);
}

/** Blur padding after the stride-2 transposed conv of a k x k modulated conv (rosinality, factor 2). */
export function upsampleBlurPad(kernelSize: number, blurLen: number, factor = 2): [number, number] {
  const p = blurLen - factor - (kernelSize - 1);
  return [Math.floor((p + 1) / 2) + factor - 1, Math.floor(p / 2) + 1];
}

/** Padding of rosinality's Upsample (the ToRGB skip): upfirdn2d(up = factor, pad). */
export function upsamplePad(blurLen: number, factor = 2): [number, number] {
  const p = blurLen - factor;
  return [Math.floor((p + 1) / 2) + factor - 1, Math.floor(p / 2)];
}

interface Checked {
  B: number; cin: number; cout: number; k: number;
  demodulate: boolean; upsample: boolean; blur: Tensor | null; wScale: number; eps: number;
}

function check(op: string, x: Tensor, weight: Tensor, style: Tensor, opts: ModulatedConv2dOptions): Checked {
  if (weight.ndim !== 5 || weight.shape[0] !== 1 || weight.shape[3] !== weight.shape[4]) {
    throw new Error(`${op}: weight must be [1, Cout, Cin, k, k], got ${shapeStr(weight.shape)}`);
  }
  const [, cout, cin, k] = weight.shape as [number, number, number, number, number];
  if (x.ndim !== 4 || x.shape[1] !== cin) throw new Error(`${op}: x must be [B, ${cin}, H, W] for weight ${shapeStr(weight.shape)}, got ${shapeStr(x.shape)}`);
  if (style.ndim !== 2 || style.shape[1] !== cin) throw new Error(`${op}: style must be [B, ${cin}], got ${shapeStr(style.shape)}`);
  const B = style.shape[0]!;
  if (x.shape[0] !== B && x.shape[0] !== 1) throw new Error(`${op}: x batch ${x.shape[0]} does not match style batch ${B} (x may have batch 1)`);
  const upsample = opts.upsample ?? false;
  const blur = opts.blurKernel ?? null;
  if (upsample && (!blur || blur.ndim !== 2)) throw new Error(`${op}: upsample needs blurKernel [kh, kw]`);
  if (x.device !== weight.device || x.device !== style.device) throw new Error(`${op}: tensors are on different devices`);
  return {
    B, cin, cout, k, upsample, blur,
    demodulate: opts.demodulate ?? true,
    wScale: opts.prescaled ? 1 : 1 / Math.sqrt(cin * k * k),
    eps: opts.eps ?? 1e-8,
  };
}

const MUL = BINARY_OPS.indexOf('mul');
const ADD = BINARY_OPS.indexOf('add');
const SUB = BINARY_OPS.indexOf('sub');
const DIV = BINARY_OPS.indexOf('div');
const flows = (t: Tensor | null | undefined): t is Tensor => !!t && (t.requiresGrad || t.gradNode !== null);

/** Runs fn with a temporary view of t (released afterwards, so no storage reference leaks). */
function withView<T>(t: Tensor, shape: readonly number[], fn: (v: Tensor) => T): T {
  const v = t.view(shape);
  try {
    return fn(v);
  } finally {
    v.release();
  }
}

/** out (+)= noise * weight, noise [1 or B, 1, H, W] broadcast over out [B, C, H, W], weight [1]. */
function addNoiseInPlace(out: Tensor, noise: Tensor, weight: Tensor): void {
  const nw = Tensor.empty(noise.shape, noise.device);
  withView(weight, [1, 1, 1, 1], (wv) => mulInto(nw, noise, wv, noise.shape));
  native.binaryForward(ADD, out.storage, nw.storage, out.storage, out.shape, contiguousStrides(out.shape), broadcastStrides(nw.shape, out.shape));
  nw.release();
}

function checkNoise(op: string, shape: readonly number[], noise: Tensor | null, weight: Tensor | null): void {
  if (!noise) return;
  const [B, , H, W] = shape as [number, number, number, number];
  if (!weight || weight.numel !== 1 || noise.ndim !== 4 || noise.shape[1] !== 1 || noise.shape[2] !== H || noise.shape[3] !== W || (noise.shape[0] !== 1 && noise.shape[0] !== B)) {
    throw new Error(`${op}: noise ${shapeStr(noise.shape)} must be [1 or ${B}, 1, ${H}, ${W}] with a one-element noise weight`);
  }
  if (noise.device !== weight.device) throw new Error(`${op}: noise and its weight are on different devices`);
}

/** out = a * b over `shape` (broadcasting a and b), written into `out` (may alias a when same shape). */
function mulInto(out: Tensor, a: Tensor, b: Tensor, shape: readonly number[]): void {
  binaryInto(MUL, out, a, b, shape);
}

/** out = a (op) b over `shape` (broadcasting a and b), into `out` (may alias a when same shape). */
function binaryInto(code: number, out: Tensor, a: Tensor, b: Tensor, shape: readonly number[]): void {
  native.binaryForward(code, a.storage, b.storage, out.storage, shape, broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape));
}

/** Sum of `src` (of `shape`) down to `to` (broadcast-compatible), as a new tensor of shape `to`. */
function reduceTo(src: Tensor, shape: readonly number[], to: readonly number[]): Tensor {
  const off = shape.length - to.length;
  const mask = shape.map((d, i) => (i < off || (to[i - off] === 1 && d !== 1) ? 1 : 0));
  const out = Tensor.empty(to, src.device);
  native.sumReduce(src.storage, out.storage, shape, mask);
  return out;
}

/**
 * y[b, c, h, w] = x[b (or 0), c, h, w] * s[b, c]. Same result as mul(x, reshape(s, [B, C, 1, 1])),
 * with a backward that allocates one full-size tensor (the product g*x is reduced, then the same
 * buffer receives g*s).
 */
export function scaleChannels(x: Tensor, s: Tensor): Tensor {
  const [B, C] = s.shape as [number, number];
  if (x.ndim !== 4 || x.shape[1] !== C || (x.shape[0] !== B && x.shape[0] !== 1) || s.ndim !== 2) {
    throw new Error(`scaleChannels: x ${shapeStr(x.shape)} and s ${shapeStr(s.shape)} must be [B or 1, C, H, W] and [B, C]`);
  }
  const shape = [B, C, x.shape[2]!, x.shape[3]!];
  const s4 = [B, C, 1, 1];
  const y = Tensor.empty(shape, x.device);
  withView(s, s4, (sv) => mulInto(y, x, sv, shape));
  return attachGrad(y, 'scaleChannels', [x, s], (g) => {
    let buf: Tensor | null = null;
    let gs: Tensor | null = null, gx: Tensor | null = null;
    if (flows(s)) {
      buf = Tensor.empty(shape, g.device);
      mulInto(buf, g, x, shape);
      const r = reduceTo(buf, shape, s4);
      gs = r.view([B, C]);
      r.release();
    }
    if (flows(x)) {
      buf ??= Tensor.empty(shape, g.device);
      withView(s, s4, (sv) => mulInto(buf!, g, sv, shape));
      if (x.shape[0] === B) { gx = buf; buf = null; } else gx = reduceTo(buf, shape, x.shape);
    }
    buf?.release();
    return [gx, gs];
  });
}

/** StyleGAN2's FusedLeakyReLU applied after the demodulation and noise: lrelu(z + bias) * gain. */
export interface FusedActivation {
  bias: Tensor | null;
  /** 0.2 */
  slope?: number;
  /** sqrt(2) */
  gain?: number;
}

function checkActivation(op: string, C: number, act: FusedActivation | null): void {
  if (!act) return;
  if (act.bias && (act.bias.ndim !== 1 || act.bias.shape[0] !== C)) throw new Error(`${op}: activation bias ${shapeStr(act.bias.shape)} must be [${C}]`);
  if ((act.slope ?? 0.2) <= 0 || (act.gain ?? Math.SQRT2) <= 0) throw new Error(`${op}: the fused activation needs a positive slope and gain`);
}

/** In place: t = lrelu(t + bias) * gain (the activation kernels are element-wise, so y may alias x). */
function activateInPlace(t: Tensor, act: FusedActivation): void {
  const [n, c] = t.shape as [number, number];
  const s = t.numel / Math.max(1, n * c);
  native.fusedLeakyReluForward(t.storage, act.bias?.storage ?? null, t.storage, n, c, s, act.slope ?? 0.2, act.gain ?? Math.SQRT2);
}

/**
 * out = act(y * d[b, c] + noise * noiseWeight): the tail of a StyledConv in one autograd node.
 * d (demodulation, [B, C]), noise ([B or 1, 1, H, W] with noiseWeight [1]) and act (bias [C],
 * leaky ReLU with positive slope, gain) are each optional. Same result as the composed mul, add
 * and fusedLeakyRelu ops; the forward allocates one tensor and keeps only y and the output for
 * the backward (the activation's gradient mask is read from the output: out > 0 exactly when
 * its input + bias > 0, as slope and gain are positive). With `consumeY` (y is an intermediate
 * nobody else reads) y's data is freed at once and the backward rebuilds y * d from the output
 * (the leaky ReLU is invertible: act^-1(out) - bias - noise * noiseWeight) where d's gradient
 * needs it: a training step through the generator holds one activation less per layer.
 */
export function demodulateAddNoise(y: Tensor, d: Tensor | null, noise: Tensor | null, noiseWeight: Tensor | null, act: FusedActivation | null = null,
  consumeY = false): Tensor {
  const op = 'demodulateAddNoise';
  const shape = y.shape;
  if (y.ndim !== 4) throw new Error(`${op}: y must be [B, C, H, W], got ${shapeStr(shape)}`);
  const [B, C] = shape as [number, number, number, number];
  if (d && (d.ndim !== 2 || d.shape[0] !== B || d.shape[1] !== C)) throw new Error(`${op}: d ${shapeStr(d.shape)} must be [${B}, ${C}]`);
  checkNoise(op, shape, noise, noiseWeight);
  checkActivation(op, C, act);
  const d4 = [B, C, 1, 1];
  const out = Tensor.empty(shape, y.device);
  if (d) withView(d, d4, (dv) => mulInto(out, y, dv, shape));
  else native.copyInto(out.storage, y.storage);
  if (noise) addNoiseInPlace(out, noise, noiseWeight!);
  if (act) activateInPlace(out, act);
  const bias = act?.bias ?? null;
  let dropped = false;
  const result = attachGrad(out, op, [y, d, noise, noiseWeight, bias], (g) => {
    let gz = g; // gradient at the pre-activation
    let gb: Tensor | null = null;
    if (act) {
      gz = Tensor.empty(shape, g.device);
      if (bias && flows(bias)) gb = Tensor.empty([C], g.device);
      native.fusedLeakyReluBackward(out.storage, null, g.storage, gz.storage, gb?.storage ?? null, B, C, shape[2]! * shape[3]!,
        act.slope ?? 0.2, act.gain ?? Math.SQRT2);
    }
    let buf: Tensor | null = null;
    const scratch = () => (buf ??= Tensor.empty(shape, g.device));
    let gd: Tensor | null = null, gn: Tensor | null = null, gw: Tensor | null = null, gy: Tensor | null = null;
    if (d && flows(d)) {
      if (dropped) {
        // sum_hw gz * y = (1 / d) sum_hw gz * (y d), y d = act^-1(out) - bias - noise * noiseWeight
        const yd = scratch();
        if (act) {
          const [slope, gain] = [act.slope ?? 0.2, act.gain ?? Math.SQRT2];
          native.fusedLeakyReluForward(out.storage, null, yd.storage, B, C, shape[2]! * shape[3]!, 1 / slope, 1 / gain);
        } else native.copyInto(yd.storage, out.storage);
        if (bias) withView(bias, [1, C, 1, 1], (bv) => binaryInto(SUB, yd, yd, bv, shape));
        if (noise) {
          const negative = noGrad(() => scale(noiseWeight!, -1));
          addNoiseInPlace(yd, noise, negative);
          negative.release();
        }
        mulInto(yd, gz, yd, shape);
        const r = reduceTo(yd, shape, d4);
        withView(d, d4, (dv) => binaryInto(DIV, r, r, dv, d4));
        gd = r.view([B, C]);
        r.release();
      } else {
        mulInto(scratch(), gz, y, shape);
        const r = reduceTo(buf!, shape, d4);
        gd = r.view([B, C]);
        r.release();
      }
    }
    if (noise && flows(noiseWeight)) {
      mulInto(scratch(), gz, noise, shape);
      const r = reduceTo(buf!, shape, [1]);
      gw = r.view(noiseWeight!.shape);
      r.release();
    }
    if (noise && flows(noise)) {
      withView(noiseWeight!, [1, 1, 1, 1], (wv) => mulInto(scratch(), gz, wv, shape));
      gn = reduceTo(buf!, shape, noise.shape);
    }
    if (flows(y)) {
      if (gz !== g) {
        // gz is ours: scale it in place and hand it over
        if (d) withView(d, d4, (dv) => mulInto(gz, gz, dv, shape));
        gy = gz;
      } else {
        if (d) withView(d, d4, (dv) => mulInto(scratch(), g, dv, shape));
        else native.copyInto(scratch().storage, g.storage);
        gy = buf;
        buf = null;
      }
    } else if (gz !== g) gz.release();
    (buf as Tensor | null)?.release();
    return [gy, gd, gn, gw, gb];
  });
  if (consumeY && result.gradNode) {
    y.dropData();
    dropped = true;
  }
  return result;
}

interface CoreGeometry {
  upsample: boolean;
  blur: Tensor | null;
  padding: number;
  /** the caller's [Cin, Cout, k, k] copy of the weight (upsample), or null */
  transposed: Tensor | null;
}

/**
 * The modulated conv without demodulation, as one autograd node:
 *   y = conv2d(x * s[b, c], w)                                (stride 1, padding k/2)
 *   y = upfirdn2d(conv_transpose2d(x * s[b, c], w^T, stride 2), blur)   (upsample)
 * for x [B or 1, Cin, H, W], s [B, Cin], weight [1, Cout, Cin, k, k]. The scaled input and the
 * transposed-conv output are freed at once (the backward recomputes x * s only when the weight
 * needs a gradient), so a training step through the generator holds one activation less per layer.
 */
function modulatedConvCore(x: Tensor, s: Tensor, weight: Tensor, geo: CoreGeometry): Tensor {
  const [, cout, cin, k] = weight.shape as [number, number, number, number, number];
  const [B] = s.shape as [number, number];
  const [H, W] = [x.shape[2]!, x.shape[3]!];
  const shapeIn = [B, cin, H, W];
  const s4 = [B, cin, 1, 1];
  const scaled = (): Tensor => {
    const xs = Tensor.empty(shapeIn, x.device);
    withView(s, s4, (sv) => mulInto(xs, x, sv, shapeIn));
    return xs;
  };
  const w4 = weight.view([cout, cin, k, k]);
  // conv_transpose2d layout [Cin, Cout, k, k] (upsample only): the caller's, or recomputed by the
  // backward rather than held
  const transposed = () => geo.transposed ?? noGrad(() => permute(w4, [1, 0, 2, 3]));
  const done = (t: Tensor | null) => { if (t && t !== geo.transposed) t.release(); };
  let wt = geo.upsample ? transposed() : null;
  let y: Tensor;
  let tShape: number[] = [];
  const blurPad = geo.upsample ? upsampleBlurPad(k, geo.blur!.shape[0]!) : [0, 0];
  {
    const xs = scaled();
    if (geo.upsample) {
      const t = noGrad(() => convTranspose2d(xs, wt!, null, { stride: 2, padding: 0, groups: 1 }));
      tShape = [...t.shape];
      y = noGrad(() => upfirdn2d(t, geo.blur!, { up: 1, down: 1, pad: blurPad }));
      t.release();
    } else {
      y = noGrad(() => conv2d(xs, w4, null, { stride: 1, padding: geo.padding, groups: 1 }));
    }
    xs.release();
  }
  done(wt);
  wt = null;
  if (!needsGrad(x, s, weight)) {
    w4.release();
    return y;
  }
  return attachGrad(y, 'modulatedConv', [x, s, weight], (g) => {
    // gradient at the conv input (and, for upsample, at the transposed-conv output)
    let gt: Tensor | null = null;
    let gxs: Tensor;
    if (geo.upsample) {
      gt = Tensor.empty(tShape, g.device);
      const [kh, kw] = geo.blur!.shape as [number, number];
      native.upfirdn2dBackward(g.storage, geo.blur!.storage, gt.storage, B * cout, tShape[2]!, tShape[3]!, [kh, kw], [1, 1], [1, 1],
        [blurPad[0]!, blurPad[1]!, blurPad[0]!, blurPad[1]!]);
      const wtb = transposed();
      gxs = conv2d(gt, wtb, null, { stride: 2, padding: 0, groups: 1 });
      done(wtb);
    } else {
      gxs = convTranspose2d(g, w4, null, { stride: 1, padding: geo.padding, groups: 1 });
    }
    let gw: Tensor | null = null;
    if (flows(weight)) {
      const xs = scaled();
      gw = Tensor.empty(weight.shape, weight.device);
      if (geo.upsample) {
        // weight gradient of the transposed conv (the conv it transposes maps gt -> xs)
        const gwt = Tensor.empty([cin, cout, k, k], weight.device);
        native.conv2dBackwardWeight(gt!.storage, xs.storage, gwt.storage, [B, cout, tShape[2]!, tShape[3]!, cin, k, k, 2, 2, 0, 0, 1]);
        native.stridedCopy(gwt.storage, 0, gw.storage, 0, [cout, cin, k, k], [k * k, cout * k * k, k, 1], contiguousStrides([cout, cin, k, k]), false);
        gwt.release();
      } else {
        native.conv2dBackwardWeight(xs.storage, g.storage, gw.storage, [B, cin, H, W, cout, k, k, 1, 1, geo.padding, geo.padding, 1]);
      }
      xs.release();
    }
    gt?.release();
    // through the channel scaling: gs = sum_hw gxs * x (reusing gxs's product buffer), gx = gxs * s
    let gs: Tensor | null = null, gx: Tensor | null = null;
    let buf: Tensor | null = null;
    if (flows(s)) {
      buf = Tensor.empty(shapeIn, g.device);
      mulInto(buf, gxs, x, shapeIn);
      const r = reduceTo(buf, shapeIn, s4);
      gs = r.view([B, cin]);
      r.release();
    }
    if (flows(x)) {
      if (x.shape[0] === B) {
        withView(s, s4, (sv) => mulInto(gxs, gxs, sv, shapeIn));
        gx = gxs;
      } else {
        buf ??= Tensor.empty(shapeIn, g.device);
        withView(s, s4, (sv) => mulInto(buf!, gxs, sv, shapeIn));
        gx = reduceTo(buf, shapeIn, x.shape);
        gxs.release();
      }
    } else gxs.release();
    buf?.release();
    return [gx, gs, gw];
  });
}

/**
 * Modulated conv of x [B, Cin, H, W] (or [1, Cin, H, W], broadcast over the batch) with weight
 * [1, Cout, Cin, k, k] and style [B, Cin] (the modulation output, one scale per input channel).
 * Returns [B, Cout, H, W] (or [B, Cout, 2H, 2W] with upsample). With `noise` (and
 * `noiseWeight`), adds noise * noiseWeight after the demodulation (StyledConv's NoiseInjection),
 * fused into the same pass.
 */
export function modulatedConv2d(x: Tensor, weight: Tensor, style: Tensor, opts: ModulatedConv2dOptions = {}): Tensor {
  const c = check('modulatedConv2d', x, weight, style, opts);
  const { B, cin, cout, k } = c;
  // Without autograd history nothing keeps the intermediates: free them as soon as they are used.
  const free = !needsGrad(x, weight, style, opts.noise, opts.noiseWeight, opts.activation?.bias);
  const drop = (...ts: (Tensor | null)[]) => { if (free) for (const t of ts) t?.release(); };

  const s = c.wScale === 1 ? style : scale(style, c.wScale); // [B, Cin]
  const transposedWeight = opts.transposedWeight ?? null;
  if (transposedWeight && (!c.upsample || transposedWeight.ndim !== 4 || transposedWeight.shape[0] !== cin || transposedWeight.shape[1] !== cout)) {
    throw new Error(`modulatedConv2d: transposedWeight ${shapeStr(transposedWeight.shape)} must be [${cin}, ${cout}, ${k}, ${k}] and is for upsampling only`);
  }
  let y = modulatedConvCore(x, s, weight, { upsample: c.upsample, blur: c.blur, padding: k >> 1, transposed: transposedWeight });
  let d: Tensor | null = null;
  if (c.demodulate) {
    const w4 = reshape(weight, [cout, cin, k, k]);
    const wsq = square(w4);
    const w2 = sum(wsq, [2, 3]); // [Cout, Cin]
    const s2 = square(s);
    const energy = linear(s2, w2, null); // [B, Cout] = sum_{i,k} (scale w s)^2
    const e1 = addScalar(energy, c.eps);
    d = rsqrt(e1);
    // free what no recorded backward needs (all of it without history; the weight's chain when it is frozen)
    if (free || !wsq.gradNode) w4.release();
    if (free || !w2.gradNode) wsq.release();
    if (free || !energy.gradNode) { w2.release(); s2.release(); }
    if (free || !e1.gradNode) energy.release();
    if (free || !d.gradNode) e1.release();
  }
  const noise = opts.noise ?? null;
  const act = opts.activation ?? null;
  checkNoise('modulatedConv2d', y.shape, noise, opts.noiseWeight ?? null);
  checkActivation('modulatedConv2d', cout, act);
  if (d || noise || act) {
    if (free) {
      // in place: y is ours and nothing records it
      if (d) withView(d, [B, cout, 1, 1], (dv) => mulInto(y, y, dv, y.shape));
      if (noise) addNoiseInPlace(y, noise, opts.noiseWeight!);
      if (act) activateInPlace(y, act);
    } else {
      // y is ours (modulatedConvCore made it): the tail may free it
      const out = demodulateAddNoise(y, d, noise, noise ? opts.noiseWeight! : null, act, true);
      y = out;
    }
  }
  drop(d);
  if (s !== style) drop(s);
  return y;
}

/** The literal form: per-sample modulated (and demodulated) weights and a grouped conv. Slower; a reference. */
export function modulatedConv2dGrouped(x: Tensor, weight: Tensor, style: Tensor, opts: ModulatedConv2dOptions = {}): Tensor {
  const c = check('modulatedConv2dGrouped', x, weight, style, opts);
  const { B, cin, cout, k } = c;
  const xb = x.shape[0] === B ? x : expand(x, [B, ...x.shape.slice(1)]);
  const [H, W] = [xb.shape[2]!, xb.shape[3]!];
  let w = mul(scale(weight, c.wScale), reshape(style, [B, 1, cin, 1, 1])); // [B, Cout, Cin, k, k]
  if (c.demodulate) {
    const d = rsqrt(addScalar(sum(square(w), [2, 3, 4], true), c.eps)); // [B, Cout, 1, 1, 1]
    w = mul(w, d);
  }
  const xg = reshape(xb, [1, B * cin, H, W]);
  if (c.upsample) {
    const wt = reshape(permute(w, [0, 2, 1, 3, 4]), [B * cin, cout, k, k]);
    const t = convTranspose2d(xg, wt, null, { stride: 2, padding: 0, groups: B });
    const t4 = reshape(t, [B, cout, t.shape[2]!, t.shape[3]!]);
    return upfirdn2d(t4, c.blur!, { up: 1, down: 1, pad: upsampleBlurPad(k, c.blur!.shape[0]!) });
  }
  const y = conv2d(xg, reshape(w, [B * cout, cin, k, k]), null, { stride: 1, padding: k >> 1, groups: B });
  return reshape(y, [B, cout, H, W]);
}
