// StyleGAN2 generator in the layout and parameter names of the rosinality PyTorch port, so its
// checkpoints (g_ema) load by name:
//   style.0 PixelNorm, style.1..n EqualLinear (lr_mul 0.01, fused leaky ReLU)   mapping z -> w
//   input.input [1, C4, 4, 4]                                                  constant input
//   conv1 (StyledConv 3x3), to_rgb1 (ToRGB, no skip)                           4x4
//   convs.{2j} (upsampling StyledConv), convs.{2j+1}, to_rgbs.{j} (skip upsampled)   8x8 ... size
//   noises.noise_{i} [1, 1, r, r] stored noise buffers (one per StyledConv)
// StyledConv = modulated conv (conv.weight, conv.modulation.*, conv.blur.kernel when upsampling)
// + NoiseInjection (noise.weight) + FusedLeakyReLU (activate.bias).
// ToRGB = modulated 1x1 conv without demodulation (conv.*), bias [1, 3, 1, 1], and the skip's
// Upsample (upsample.kernel) when it has a skip.
import { Module, Sequential, ModuleList } from '../nn/module.js';
import { EqualLinear, Lambda } from '../nn/layers.js';
import { InferenceCache } from '../nn/inference.js';
import { Tensor } from '../tensor.js';
import { Rng } from '../random.js';
import { checkpoint, needsGrad, noGrad } from '../autograd.js';
import { tidy } from '../scope.js';
import * as ops from '../ops/index.js';
import { makeBlurKernel, modulatedConv2d, upsamplePad, type FusedActivation } from '../ops/modulated_conv.js';

export interface StyleGAN2Config {
  /** Output resolution, a power of two from 8 (typically 32..1024). */
  size: number;
  /** Latent (z and w) width. */
  styleDim: number;
  /**
   * Width of the mapping network's input (default styleDim: Gaussian z). A generator trained as a
   * renderer reads a parameter code of another width here (the face world's facesjs codes).
   */
  zDim?: number;
  /** Number of EqualLinear layers of the mapping network. */
  nMlp: number;
  /** rosinality's channel_multiplier (default 2), ignored for resolutions given in `channels`. */
  channelMultiplier?: number;
  /** Explicit channel count per resolution (4, 8, ..., size); overrides the default table. */
  channels?: Readonly<Record<number | string, number>>;
  /** Learning-rate multiplier of the mapping network (0.01). */
  lrMlp?: number;
  /** 1-d blur kernel ([1, 3, 3, 1]). */
  blurKernel?: readonly number[];
  /** Seed of the random initialisation (weights, noise buffers) when no checkpoint is loaded. */
  seed?: number;
}

/** StyleGAN2-FFHQ 1024 (rosinality's g_ema for the official FFHQ weights). */
export const STYLEGAN2_FFHQ_1024: StyleGAN2Config = { size: 1024, styleDim: 512, nMlp: 8, channelMultiplier: 2 };

/** rosinality's channel table. */
export function stylegan2Channels(channelMultiplier = 2): Record<number, number> {
  const cm = channelMultiplier;
  return { 4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm, 1024: 16 * cm };
}

/** Mapping from a rosinality-style config JSON ({size, style_dim, n_mlp, channels?, channel_multiplier?, lr_mlp?}). */
export function stylegan2ConfigFromJson(j: Record<string, unknown>): StyleGAN2Config {
  return {
    size: Number(j.size),
    styleDim: Number(j.style_dim),
    nMlp: Number(j.n_mlp),
    channelMultiplier: j.channel_multiplier === undefined ? undefined : Number(j.channel_multiplier),
    channels: (j.channels as Record<string, number> | undefined) ?? undefined,
    lrMlp: j.lr_mlp === undefined ? undefined : Number(j.lr_mlp),
    blurKernel: (j.blur_kernel as number[] | undefined) ?? undefined,
  };
}

export type NoiseMode = 'stored' | 'random';

export interface SynthesisOptions {
  /** 'stored' (default): the noises.noise_i buffers; 'random': fresh N(0, 1) noise from `rng`; or one tensor per layer. */
  noise?: NoiseMode | readonly Tensor[];
  /** Random source for noise 'random' (default: a generator-owned Rng). */
  rng?: Rng;
}

/** A module holding one (already scaled) blur kernel buffer named 'kernel' (rosinality's Blur / Upsample). */
class KernelHolder extends Module {
  readonly kernel: Tensor;
  constructor(kernel: Tensor) {
    super();
    this.kernel = this.buffer('kernel', kernel);
  }
}

class ConstantInput extends Module {
  readonly input: Tensor;
  constructor(channels: number, size: number, rng: Rng) {
    super();
    this.input = this.param('input', rng.randn([1, channels, size, size]));
  }
}

/** rosinality ModulatedConv2d: weight [1, Cout, Cin, k, k], modulation EqualLinear (bias 1), blur when upsampling. */
export class ModulatedConv2d extends Module {
  readonly weight: Tensor;
  readonly blur: KernelHolder | null;
  readonly modulation: EqualLinear;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    styleDim: number,
    readonly opts: { demodulate?: boolean; upsample?: boolean; blurKernel?: readonly number[]; rng: Rng },
  ) {
    super();
    // registration order as in PyTorch (own weight, then children blur, modulation)
    this.weight = this.param('weight', opts.rng.randn([1, outChannels, inChannels, kernelSize, kernelSize]));
    this.blur = opts.upsample ? this.child('blur', new KernelHolder(makeBlurKernel(opts.blurKernel ?? [1, 3, 3, 1], 2))) : null;
    this.modulation = this.child('modulation', new EqualLinear(styleDim, inChannels, { biasInit: 1, rng: opts.rng }));
  }
  /** The modulation EqualLinear (lr_mul 1): w (weight / sqrt(styleDim))^T + bias, without copying the weight. */
  modulate(w: Tensor): Tensor {
    const m = this.modulation;
    const mm = ops.linear(w, m.weight, null);
    const scaled = ops.scale(mm, m.scale);
    const style = ops.add(scaled, m.bias!);
    if (!style.gradNode) { mm.release(); scaled.release(); }
    return style;
  }

  /**
   * x [B or 1, Cin, H, W], w [B, styleDim]. `tail` (StyledConv) adds noise * noiseWeight and the
   * fused leaky ReLU with its bias after the demodulation, in the same pass.
   */
  forward(x: Tensor, w: Tensor, tail: { noise?: Tensor | null; noiseWeight?: Tensor | null; activation?: FusedActivation | null } = {}): Tensor {
    const style = this.modulate(w);
    const y = modulatedConv2d(x, this.weight, style, {
      demodulate: this.opts.demodulate ?? true,
      upsample: this.opts.upsample ?? false,
      blurKernel: this.blur?.kernel ?? null,
      transposedWeight: this.transposedWeight(),
      ...tail,
    });
    if (!y.gradNode) style.release();
    return y;
  }

  /** A frozen upsampling layer keeps its weight in the transposed convolution's layout (nn/inference.ts). */
  private readonly transposed = new InferenceCache<Tensor>();
  private transposedWeight(): Tensor | null {
    if (!this.opts.upsample || this.weight.requiresGrad) {
      this.transposed.release();  // a trainable weight changes: no copy is kept
      return null;
    }
    return this.transposed.get([this.weight], () => {
      const [, cout, cin, k] = this.weight.shape as [number, number, number, number, number];
      const t = noGrad(() => ops.permute(ops.reshape(this.weight, [cout, cin, k, k]), [1, 0, 2, 3]));
      t.persistent = true;
      return t;
    });
  }
  override release(): void {
    this.transposed.release();
    super.release();
  }
}

/** rosinality NoiseInjection: image + weight * noise (applied inside the modulated conv's demodulation pass). */
class NoiseInjection extends Module {
  readonly weight: Tensor;
  constructor() {
    super();
    this.weight = this.param('weight', Tensor.zeros([1]));
  }
}

class FusedLeakyReLU extends Module {
  readonly bias: Tensor;
  constructor(channels: number) {
    super();
    this.bias = this.param('bias', Tensor.zeros([channels]));
  }
  forward(x: Tensor): Tensor {
    return ops.fusedLeakyRelu(x, this.bias, { slope: 0.2, gain: Math.SQRT2 });
  }
  get fused(): FusedActivation {
    return { bias: this.bias, slope: 0.2, gain: Math.SQRT2 };
  }
}

export class StyledConv extends Module {
  readonly conv: ModulatedConv2d;
  readonly noise: NoiseInjection;
  readonly activate: FusedLeakyReLU;
  constructor(inChannels: number, outChannels: number, kernelSize: number, styleDim: number, opts: { upsample?: boolean; blurKernel?: readonly number[]; rng: Rng }) {
    super();
    this.conv = this.child('conv', new ModulatedConv2d(inChannels, outChannels, kernelSize, styleDim, { ...opts, demodulate: true }));
    this.noise = this.child('noise', new NoiseInjection());
    this.activate = this.child('activate', new FusedLeakyReLU(outChannels));
  }
  forward(x: Tensor, w: Tensor, noise: Tensor): Tensor {
    // modulated conv, demodulation, noise injection and fused leaky ReLU: one pass after the conv
    return this.conv.forward(x, w, { noise, noiseWeight: this.noise.weight, activation: this.activate.fused });
  }
}

export class ToRGB extends Module {
  readonly bias: Tensor;
  readonly upsample: KernelHolder | null;
  readonly conv: ModulatedConv2d;
  constructor(inChannels: number, styleDim: number, opts: { upsample: boolean; blurKernel?: readonly number[]; rng: Rng }) {
    super();
    this.bias = this.param('bias', Tensor.zeros([1, 3, 1, 1]));
    this.upsample = opts.upsample ? this.child('upsample', new KernelHolder(makeBlurKernel(opts.blurKernel ?? [1, 3, 3, 1], 2))) : null;
    this.conv = this.child('conv', new ModulatedConv2d(inChannels, 3, 1, styleDim, { demodulate: false, rng: opts.rng }));
  }
  forward(x: Tensor, w: Tensor, skip: Tensor | null): Tensor {
    const c = this.conv.forward(x, w);
    let out = ops.add(c, this.bias);
    if (!out.gradNode) c.release();
    if (skip) {
      if (!this.upsample) throw new Error('ToRGB: a skip was given to a layer without upsampling');
      const k = this.upsample.kernel;
      const up = ops.upfirdn2d(skip, k, { up: 2, down: 1, pad: upsamplePad(k.shape[0]!) });
      const sum = ops.add(out, up);
      if (!sum.gradNode) { out.release(); up.release(); }
      out = sum;
    }
    return out;
  }
}

/** Rosinality-compatible StyleGAN2 generator: mapping(z), synthesis(W+), mean latent, truncation. */
export class StyleGAN2Generator extends Module {
  readonly size: number;
  readonly styleDim: number;
  /** Width of the mapping network's input. */
  readonly zDim: number;
  readonly logSize: number;
  readonly nLatent: number;
  readonly numLayers: number;
  readonly channels: Readonly<Record<number, number>>;
  readonly style: Sequential;
  readonly input: ConstantInput;
  readonly conv1: StyledConv;
  readonly toRgb1: ToRGB;
  readonly convs: ModuleList<StyledConv>;
  readonly toRgbs: ModuleList<ToRGB>;
  readonly noises: NoiseBuffers;
  /**
   * Activation checkpointing while training: the two styled convolutions of every block at this
   * resolution and above keep only their input and output for backward and run again during it
   * (a 1024 generator at batch 4 holds ~0.5 GiB per full-resolution map). Same results; null: off.
   */
  recomputeFrom: number | null = null;
  /** Random source of noise 'random' when the caller gives none. */
  readonly rng: Rng;

  constructor(readonly config: StyleGAN2Config) {
    super();
    const { size, styleDim, nMlp } = config;
    const logSize = Math.log2(size);
    if (!Number.isInteger(logSize) || logSize < 3) throw new Error(`StyleGAN2Generator: size ${size} must be a power of two >= 8`);
    if (!(styleDim > 0) || !(nMlp >= 1)) throw new Error(`StyleGAN2Generator: invalid styleDim ${styleDim} or nMlp ${nMlp}`);
    this.size = size;
    this.styleDim = styleDim;
    this.zDim = config.zDim ?? styleDim;
    if (!(Number.isInteger(this.zDim) && this.zDim > 0)) throw new Error(`StyleGAN2Generator: invalid zDim ${config.zDim}`);
    this.logSize = logSize;
    this.nLatent = 2 * logSize - 2;
    this.numLayers = 2 * (logSize - 2) + 1;
    const table = stylegan2Channels(config.channelMultiplier ?? 2);
    const channels: Record<number, number> = {};
    for (let r = 4; r <= size; r *= 2) {
      const c = config.channels?.[r] ?? config.channels?.[String(r)] ?? table[r];
      if (!c) throw new Error(`StyleGAN2Generator: no channel count for resolution ${r}`);
      channels[r] = c;
    }
    this.channels = channels;
    const rng = new Rng(config.seed ?? 0);
    this.rng = new Rng((config.seed ?? 0) + 1);
    const blurKernel = config.blurKernel ?? [1, 3, 3, 1];
    const lrMlp = config.lrMlp ?? 0.01;

    const pixelNorm = new Lambda((x) => ops.pixelNorm(x, 1e-8), 'pixel_norm');
    const mlp = Array.from({ length: nMlp }, (_, i) => new EqualLinear(i === 0 ? this.zDim : styleDim, styleDim, { lrMul: lrMlp, activation: 'fused_lrelu', rng }));
    this.style = this.child('style', new Sequential([pixelNorm, ...mlp]));
    this.input = this.child('input', new ConstantInput(channels[4]!, 4, rng));
    this.conv1 = this.child('conv1', new StyledConv(channels[4]!, channels[4]!, 3, styleDim, { blurKernel, rng }));
    this.toRgb1 = this.child('to_rgb1', new ToRGB(channels[4]!, styleDim, { upsample: false, blurKernel, rng }));
    const convs: StyledConv[] = [];
    const toRgbs: ToRGB[] = [];
    let inCh = channels[4]!;
    for (let i = 3; i <= logSize; i++) {
      const outCh = channels[2 ** i]!;
      convs.push(new StyledConv(inCh, outCh, 3, styleDim, { upsample: true, blurKernel, rng }));
      convs.push(new StyledConv(outCh, outCh, 3, styleDim, { blurKernel, rng }));
      toRgbs.push(new ToRGB(outCh, styleDim, { upsample: true, blurKernel, rng }));
      inCh = outCh;
    }
    this.convs = this.child('convs', new ModuleList(convs));
    this.toRgbs = this.child('to_rgbs', new ModuleList(toRgbs));
    this.noises = this.child('noises', new NoiseBuffers(logSize, rng));
  }

  /** The mapping network: z [B, zDim] -> w [B, styleDim]. */
  mapping(z: Tensor): Tensor {
    if (z.ndim !== 2 || z.shape[1] !== this.zDim) throw new Error(`StyleGAN2Generator.mapping: z must be [B, ${this.zDim}], got [${z.shape.join(', ')}]`);
    return this.style.forward(z);
  }

  /** Images [B, 3, size, size] from W+ [B, nLatent, styleDim]. */
  synthesis(wPlus: Tensor, opts: SynthesisOptions = {}): Tensor {
    if (wPlus.ndim !== 3 || wPlus.shape[1] !== this.nLatent || wPlus.shape[2] !== this.styleDim) {
      throw new Error(`StyleGAN2Generator.synthesis: W+ must be [B, ${this.nLatent}, ${this.styleDim}], got [${wPlus.shape.join(', ')}]`);
    }
    const B = wPlus.shape[0]!;
    const noise = this.noiseFor(B, wPlus.device, opts);
    // Without any autograd history (inference, or nothing requires grad) intermediates are freed as we go.
    const free = !needsGrad(wPlus, ...this.parameters());
    const drop = (t: Tensor | null) => { if (free && t) t.release(); };
    const ownNoise = opts.noise === 'random';
    const latents: (Tensor | null)[] = new Array(this.nLatent).fill(null);
    const latent = (i: number): Tensor => {
      let l = latents[i];
      if (!l) {
        const sl = ops.slice(wPlus, 1, i, i + 1);
        l = ops.reshape(sl, [B, this.styleDim]);
        drop(sl);
        latents[i] = l;
      }
      return l;
    };
    const done = (i: number) => { drop(latents[i] ?? null); latents[i] = null; };

    let out = this.conv1.forward(this.input.input, latent(0), noise[0]!);
    done(0);
    let skip = this.toRgb1.forward(out, latent(1), null);
    let li = 1;
    for (let j = 0; j < this.toRgbs.items.length; j++) {
      const [c1, c2] = [this.convs.items[2 * j]!, this.convs.items[2 * j + 1]!];
      if (!free && this.recomputeFrom !== null && 8 << j >= this.recomputeFrom) {
        // activation checkpointing: only the block's input and output are kept for backward
        const block = (x: Tensor, la: Tensor, lb: Tensor, na: Tensor, nb: Tensor) => c2.forward(c1.forward(x, la, na), lb, nb);
        out = checkpoint(block, [out, latent(li), latent(li + 1), noise[2 * j + 1]!, noise[2 * j + 2]!], [...c1.parameters(), ...c2.parameters()]);
      } else {
        const a = c1.forward(out, latent(li), noise[2 * j + 1]!);
        drop(out);
        out = c2.forward(a, latent(li + 1), noise[2 * j + 2]!);
        drop(a);
      }
      done(li);
      done(li + 1);
      const s = this.toRgbs.items[j]!.forward(out, latent(li + 2), skip);
      drop(skip);
      skip = s;
      li += 2;
    }
    drop(out);
    for (let i = 0; i < latents.length; i++) done(i);
    // noise we drew is freed now unless a recorded backward may read it: a trainable noise weight's,
    // or the demodulation's (it rebuilds its input from the output and the noise)
    if (ownNoise && free) for (const n of noise) n.release();
    return skip;
  }

  /** Same as synthesis (LatentGenerator interface). */
  forward(wPlus: Tensor, opts: SynthesisOptions = {}): Tensor {
    return this.synthesis(wPlus, opts);
  }

  /**
   * Images from z [B, styleDim]: w = mapping(z), optionally truncated towards `truncationLatent`,
   * broadcast to every layer.
   */
  generate(z: Tensor, opts: SynthesisOptions & { truncation?: number; truncationLatent?: Tensor } = {}): Tensor {
    let w = this.mapping(z);
    if (opts.truncation !== undefined && opts.truncation !== 1) {
      if (!opts.truncationLatent) throw new Error('StyleGAN2Generator.generate: truncation needs truncationLatent');
      w = this.truncation(w, opts.truncation, opts.truncationLatent);
    }
    const wPlus = ops.expand(ops.reshape(w, [z.shape[0]!, 1, this.styleDim]), [z.shape[0]!, this.nLatent, this.styleDim]);
    return this.synthesis(wPlus, opts);
  }

  /** The mean of mapping(z) over n samples of z ~ N(0, I): [styleDim] (rosinality's mean_latent, flattened). */
  meanLatent(n: number, rng: Rng, chunk = 1024): Tensor {
    const device = this.input.input.device;
    return noGrad(() => tidy(() => {
      let acc: Tensor | null = null;
      for (let start = 0; start < n; start += chunk) {
        const m = Math.min(chunk, n - start);
        const part = tidy(() => ops.sum(this.mapping(rng.randn([m, this.zDim], device)), 0));
        if (acc) { const next = ops.add(acc, part); acc.release(); part.release(); acc = next; } else acc = part;
      }
      return ops.scale(acc!, 1 / n);
    }));
  }

  /** Truncation trick: mean + psi (w - mean), for w [..., styleDim] and mean [styleDim] (or broadcastable). */
  truncation(w: Tensor, psi: number, meanLatent: Tensor): Tensor {
    return ops.add(meanLatent, ops.scale(ops.sub(w, meanLatent), psi));
  }

  /** Fresh noise tensors [B, 1, r, r], one per StyledConv layer (the order of noises.noise_i). */
  makeNoise(batch: number, rng: Rng = this.rng, device: Tensor['device'] = this.input.input.device): Tensor[] {
    return this.noises.items.map((t) => rng.randn([batch, 1, t.shape[2]!, t.shape[3]!], device));
  }

  private noiseFor(B: number, device: Tensor['device'], opts: SynthesisOptions): readonly Tensor[] {
    const mode = opts.noise ?? 'stored';
    if (mode === 'stored') return this.noises.items;
    if (mode === 'random') return this.makeNoise(B, opts.rng ?? this.rng, device);
    if (mode.length !== this.numLayers) throw new Error(`StyleGAN2Generator.synthesis: ${mode.length} noise tensors given, ${this.numLayers} needed`);
    return mode;
  }
}

/** rosinality's `noises` module: buffers noise_0 .. noise_{numLayers-1} of shape [1, 1, r, r]. */
class NoiseBuffers extends Module {
  readonly items: Tensor[] = [];
  constructor(logSize: number, rng: Rng) {
    super();
    const numLayers = 2 * (logSize - 2) + 1;
    for (let i = 0; i < numLayers; i++) {
      const r = 2 ** Math.floor((i + 5) / 2);
      this.items.push(this.buffer(`noise_${i}`, rng.randn([1, 1, r, r])));
    }
  }
}
