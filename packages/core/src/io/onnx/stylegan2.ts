// StyleGAN2 synthesis (W+ in, image out) in standard ONNX ops, mirroring models/stylegan2.ts and
// ops/modulated_conv.ts. The modulated convolution is written in its shared-weight form, which
// needs no per-sample weights, so any batch size runs through one graph:
//   s  = w_i A^T + b                      the modulation (EqualLinear), with the equalized-lr scales
//                                         1/sqrt(styleDim) and 1/sqrt(Cin k k) folded into A and b
//   y  = Conv(x * s[:, :, None, None], W)            (ConvTranspose stride 2 + blur when upsampling)
//   d  = 1 / sqrt(s^2 (sum_kk W^2)^T + 1e-8)         demodulation, y * d[:, :, None, None]
// then + noise (the stored noises.noise_i buffers times the NoiseInjection weight, one constant per
// layer) and the fused leaky ReLU; ToRGB is the same conv without demodulation, plus its bias and the
// previous RGB upsampled (upfirdn2d up 2). The blur is a depthwise Conv, the skip upsampling a
// depthwise ConvTranspose (layers.ts, upfirdn2d).
import type { StyleGAN2Generator, ModulatedConv2d, StyledConv, ToRGB } from '../../models/stylegan2.js';
import { upsampleBlurPad, upsamplePad } from '../../ops/modulated_conv.js';
import type { Tensor } from '../../tensor.js';
import { int, ints, type OnnxGraph } from './graph.js';
import { fusedLeakyRelu, upfirdn2d, weight, type Act } from './layers.js';

const DEMOD_EPS = 1e-8;

/** [1, C, 1, 1] broadcast view of a per-channel tensor. */
const perChannel = (g: OnnxGraph, name: string, t: Tensor) => weight(g, name, t, [1, t.numel, 1, 1]);

function modulatedConv(g: OnnxGraph, m: ModulatedConv2d, name: string, x: Act, w: string, demodulate: boolean): Act {
  const [, cout, cin, k] = m.weight.shape as [number, number, number, number, number];
  const D = m.modulation.inFeatures;
  const wScale = 1 / Math.sqrt(cin * k * k);
  // modulation with both scales folded in: s = w (A m.scale wScale)^T + b wScale
  const a = m.modulation.weight.toArray().map((v) => v * m.modulation.scale * wScale);
  const b = m.modulation.bias!.toArray().map((v) => v * wScale);
  const s = g.op('Gemm', [w, g.constant(`${name}.modulation.weight_scaled`, a, [cin, D]), g.constant(`${name}.modulation.bias_scaled`, b, [cin])],
    { transB: int(1) }, 'style');
  const xs = g.op('Mul', [x.v, g.op('Unsqueeze', [s, g.int64s([2, 3])], {}, 'style4')], {}, 'modulated');
  const raw = m.weight.toArray();
  let y: Act;
  if (m.blur) {
    // conv_transpose2d(stride 2) with the weight as [Cin, Cout, k, k], then the blur
    const wt = new Float32Array(raw.length);
    for (let o = 0; o < cout; o++) for (let i = 0; i < cin; i++) for (let t = 0; t < k * k; t++) wt[(i * cout + o) * k * k + t] = raw[(o * cin + i) * k * k + t]!;
    const v = g.op('ConvTranspose', [xs, g.constant(`${name}.weight_transposed`, wt, [cin, cout, k, k])], { kernel_shape: ints([k, k]), strides: ints([2, 2]) }, 'convt');
    const t: Act = { v, c: cout, h: 2 * (x.h - 1) + k, w: 2 * (x.w - 1) + k };
    y = upfirdn2d(g, t, m.blur.kernel, `${name}.blur`, 1, upsampleBlurPad(k, m.blur.kernel.shape[0]!));
  } else {
    const p = k >> 1;
    const v = g.op('Conv', [xs, g.constant(`${name}.weight`, raw, [cout, cin, k, k])], { kernel_shape: ints([k, k]), pads: ints([p, p, p, p]) }, 'conv');
    y = { v, c: cout, h: x.h + 2 * p - k + 1, w: x.w + 2 * p - k + 1 };
  }
  if (!demodulate) return y;
  // sum over the kernel window of W^2, as [Cin, Cout] for s^2 [B, Cin] x -> [B, Cout]
  const w2 = new Float32Array(cin * cout);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) {
      let acc = 0;
      for (let t = 0; t < k * k; t++) acc += raw[(o * cin + i) * k * k + t]! ** 2;
      w2[i * cout + o] = acc;
    }
  }
  const energy = g.op('MatMul', [g.op('Mul', [s, s], {}, 'style_sq'), g.constant(`${name}.weight_sq_sum`, w2, [cin, cout])], {}, 'energy');
  const d = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [energy, g.scalar(DEMOD_EPS)], {}, 'energy_eps')], {}, 'norm')], {}, 'demod');
  return { ...y, v: g.op('Mul', [y.v, g.op('Unsqueeze', [d, g.int64s([2, 3])], {}, 'demod4')], {}, 'demodulated') };
}

function styledConv(g: OnnxGraph, m: StyledConv, name: string, x: Act, w: string, noise: Tensor): Act {
  const y = modulatedConv(g, m.conv, `${name}.conv`, x, w, true);
  if (noise.shape[2] !== y.h || noise.shape[3] !== y.w) throw new Error(`ONNX export: noise [${noise.shape.join(', ')}] does not fit ${name}'s ${y.h}x${y.w} output`);
  const nw = m.noise.weight.toArray()[0]!;
  const scaledNoise = g.constant(`${name}.noise_scaled`, noise.toArray().map((v) => v * nw), [1, 1, y.h, y.w]);
  const withNoise = g.op('Add', [y.v, scaledNoise], {}, 'noised');
  return { ...y, v: fusedLeakyRelu(g, withNoise, perChannel(g, `${name}.activate.bias`, m.activate.bias)) };
}

function toRgb(g: OnnxGraph, m: ToRGB, name: string, x: Act, w: string, skip: Act | null): Act {
  const c = modulatedConv(g, m.conv, `${name}.conv`, x, w, false);
  const out = { ...c, v: g.op('Add', [c.v, weight(g, `${name}.bias`, m.bias)], {}, 'rgb') };
  if (!skip) return out;
  if (!m.upsample) throw new Error(`ONNX export: ${name} has a skip input but no upsampling kernel`);
  const k = m.upsample.kernel;
  const up = upfirdn2d(g, skip, k, `${name}.upsample`, 2, upsamplePad(k.shape[0]!));
  return { ...out, v: g.op('Add', [out.v, up.v], {}, 'rgb_skip') };
}

/**
 * Emits gen.synthesis(wPlus) with the stored noise for wPlus [batch, nLatent, styleDim]; returns the
 * image [batch, 3, size, size]. Weights are named `<prefix>.<state-dict key>[_scaled ...]`, so a
 * graph that synthesizes twice (the chained inversion) stores them once.
 */
export function emitSynthesis(g: OnnxGraph, gen: StyleGAN2Generator, prefix: string, wPlus: string): Act {
  const p = (n: string) => (prefix ? `${prefix}.${n}` : n);
  const latent = (i: number) => g.op('Gather', [wPlus, g.int64s([i], true)], { axis: int(1) }, `w${i}`);
  const c4 = gen.input.input;
  // the constant input stays batch 1: the modulation broadcasts it over the batch
  let out: Act = { v: weight(g, p('input.input'), c4), c: c4.shape[1]!, h: 4, w: 4 };
  const noise = gen.noises.items;
  out = styledConv(g, gen.conv1, p('conv1'), out, latent(0), noise[0]!);
  let skip = toRgb(g, gen.toRgb1, p('to_rgb1'), out, latent(1), null);
  let li = 1;
  gen.toRgbs.items.forEach((rgb, j) => {
    out = styledConv(g, gen.convs.items[2 * j]!, p(`convs.${2 * j}`), out, latent(li), noise[2 * j + 1]!);
    out = styledConv(g, gen.convs.items[2 * j + 1]!, p(`convs.${2 * j + 1}`), out, latent(li + 1), noise[2 * j + 2]!);
    skip = toRgb(g, rgb, p(`to_rgbs.${j}`), out, latent(li + 2), skip);
    li += 2;
  });
  return skip;
}
