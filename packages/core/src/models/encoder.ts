// The inversion encoder (one stage) and every variant of the paper's ablations, configured,
// not copied: backbone = IR-SE stages cut at 1/4, 1/8 (paper) or 1/16; heads:
//   '3E'  three efficient heads (pool + FC) on the 1/8, 1/4, 1/2 features predicting 9/5/4 latents
//   '1E'  one efficient head on the deepest features predicting every latent
//   '18C' pSp's map2style ConvHeads, one per latent, on the levels of the 9/5/4 split
// optional pSp feature pyramid (fpn), optional BN in the efficient heads (the authors' code),
// 3 or 6 input channels (refinement stages take the image and the previous reconstruction).
import { Module, Sequential, ModuleList } from '../nn/module.js';
import { BatchNorm, Conv2d, EqualLinear, Lambda, Linear } from '../nn/layers.js';
import { IRSEBackbone } from './irse.js';
import { Tensor } from '../tensor.js';
import type { Rng } from '../random.js';
import * as ops from '../ops/index.js';

export type HeadKind = '3E' | '1E' | '18C';

export interface EncoderConfig {
  inChannels: number;
  /** Backbone stage widths; the number of stages is the cut (2 = 1/4, 3 = 1/8, 4 = 1/16). */
  widths: readonly number[];
  units: readonly number[];
  latentDim: number;
  nLatent: number;
  head: HeadKind;
  /** Latents per level, deepest level first ('3E' and '18C'); default 9/5/4 scaled to nLatent. */
  split?: readonly number[];
  /** Pooled size of each efficient head, deepest first; default [7, 5, 3]. */
  pools?: readonly number[];
  /** BatchNorm before the pooling of each efficient head (the authors' code). */
  headBn?: boolean;
  /** pSp's feature pyramid on the three levels before the heads. */
  fpn?: boolean;
  seReduction?: number;
}

/** The paper's encoder at full size (84,920,000 parameters). */
export const PAPER_ENCODER: EncoderConfig = {
  inChannels: 3, widths: [64, 128, 256], units: [3, 4, 14], latentDim: 512, nLatent: 18, head: '3E', pools: [7, 5, 3],
};

export function defaultSplit(nLatent: number): number[] {
  if (nLatent === 18) return [9, 5, 4];
  const deep = Math.round((nLatent * 9) / 18);
  const medium = Math.round((nLatent * 5) / 18);
  return [deep, medium, nLatent - deep - medium];
}

/** Efficient head: [BN,] AdaptiveAvgPool(p), Flatten, Linear(C p p -> n * dim) (PyTorch indices kept). */
function efficientHead(channels: number, pool: number, outFeatures: number, bn: boolean, rng?: Rng): Sequential {
  return new Sequential([
    ...(bn ? [new BatchNorm(channels)] : []),
    new Lambda((x) => ops.adaptiveAvgPool2d(x, [pool, pool]), `pool${pool}`),
    new Lambda((x) => ops.flatten(x, 1), 'flatten'),
    new Linear(channels * pool * pool, outFeatures, { rng }),
  ]);
}

/** pSp's GradualStyleBlock ("map2style"): log2(spatial) x (conv3x3 s2 + LeakyReLU 0.01), then EqualLinear. */
export class Map2Style extends Module {
  readonly convs: Sequential;
  readonly linear: EqualLinear;
  constructor(readonly inC: number, readonly outC: number, readonly spatial: number, rng?: Rng) {
    super();
    const n = Math.round(Math.log2(spatial));
    if (2 ** n !== spatial || n < 1) throw new Error(`Map2Style: spatial size ${spatial} must be a power of two >= 2`);
    const layers: Module[] = [];
    for (let i = 0; i < n; i++) {
      layers.push(new Conv2d(i === 0 ? inC : outC, outC, 3, { stride: 2, padding: 1, rng }));
      layers.push(new Lambda((x) => ops.leakyRelu(x, 0.01), 'lrelu'));
    }
    this.convs = this.child('convs', new Sequential(layers));
    this.linear = this.child('linear', new EqualLinear(outC, outC, { lrMul: 1, rng }));
  }
  forward(x: Tensor): Tensor {
    const h = this.convs.forward(x);
    return this.linear.forward(ops.reshape(h, [-1, this.outC]));
  }
}

export class Encoder extends Module {
  readonly backbone: IRSEBackbone;
  readonly split: number[];
  private readonly heads: Sequential[] = [];
  private readonly styles: ModuleList<Map2Style> | null = null;
  private readonly laterals: Conv2d[] = [];

  constructor(readonly config: EncoderConfig, opts: { rng?: Rng; inputSize?: number } = {}) {
    super();
    const { widths, latentDim, nLatent, head } = config;
    const rng = opts.rng;
    const inputSize = opts.inputSize ?? 256;
    // The backbone's modules are registered directly on the encoder (checkpoint names input_layer.*, body.*).
    this.backbone = new IRSEBackbone({ inChannels: config.inChannels, widths, units: config.units, seReduction: config.seReduction }, rng);
    for (const [name, m] of this.backbone.namedChildren()) this.child(name, m);
    this.split = head === '1E' ? [nLatent] : [...(config.split ?? defaultSplit(nLatent))];
    if (this.split.reduce((a, b) => a + b, 0) !== nLatent) {
      throw new Error(`Encoder: split ${JSON.stringify(this.split)} does not add up to nLatent ${nLatent}`);
    }
    if (head !== '1E' && (widths.length < 3 || this.split.length !== 3)) {
      throw new Error(`Encoder: head '${head}' needs 3 backbone stages and a 3-way split, got ${widths.length} stages`);
    }
    const levels = head === '1E' ? 1 : 3;
    // channels of the features each level's heads read (deepest first); FPN brings all to the deepest width
    const deepest = widths.length - 1;
    const levelChannels = Array.from({ length: levels }, (_, l) => (config.fpn ? widths[deepest]! : widths[deepest - l]!));
    if (config.fpn) {
      if (head === '1E') throw new Error("Encoder: fpn needs a multi-level head ('3E' or '18C')");
      this.laterals = [
        this.child('latlayer1', new Conv2d(widths[deepest - 1]!, widths[deepest]!, 1, { rng })),
        this.child('latlayer2', new Conv2d(widths[deepest - 2]!, widths[deepest]!, 1, { rng })),
      ];
    }
    if (head === '18C') {
      const styles: Map2Style[] = [];
      this.split.forEach((n, l) => {
        const spatial = inputSize / 2 ** (deepest - l + 1);
        for (let i = 0; i < n; i++) styles.push(new Map2Style(levelChannels[l]!, latentDim, spatial, rng));
      });
      this.styles = this.child('styles', new ModuleList(styles));
    } else {
      const pools = config.pools ?? [7, 5, 3];
      this.split.forEach((n, l) => {
        const h = efficientHead(levelChannels[l]!, pools[l] ?? 7, n * latentDim, config.headBn ?? false, rng);
        this.heads.push(this.child(`output_layer_${3 + l}`, h));
      });
    }
  }

  /** W+ offsets [B, nLatent, latentDim] (the caller adds the mean latent or the previous stage). */
  forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.config.inChannels) {
      throw new Error(`Encoder: input must be [B, ${this.config.inChannels}, H, W], got [${x.shape.join(', ')}]`);
    }
    const stages = this.backbone.forwardStages(x);
    const n = stages.length;
    // levels deepest first
    let levels = this.config.head === '1E' ? [stages[n - 1]!] : [stages[n - 1]!, stages[n - 2]!, stages[n - 3]!];
    if (this.config.fpn) {
      const p0 = levels[0]!;
      const p1 = upsampleAdd(p0, this.laterals[0]!.forward(levels[1]!));
      const p2 = upsampleAdd(p1, this.laterals[1]!.forward(levels[2]!));
      levels = [p0, p1, p2];
    }
    const B = x.shape[0]!;
    const { latentDim } = this.config;
    const parts: Tensor[] = [];
    if (this.styles) {
      let k = 0;
      this.split.forEach((count, l) => {
        for (let i = 0; i < count; i++) parts.push(ops.reshape(this.styles!.items[k++]!.forward(levels[l]!), [B, 1, latentDim]));
      });
    } else {
      this.heads.forEach((h, l) => parts.push(ops.reshape(h.forward(levels[l]!), [B, this.split[l]!, latentDim])));
    }
    return parts.length === 1 ? parts[0]! : ops.cat(parts, 1);
  }
}

/** pSp's _upsample_add: bilinear (align_corners) resize of x to y's size, plus y. */
function upsampleAdd(x: Tensor, y: Tensor): Tensor {
  return ops.add(ops.interpolateBilinear(x, [y.shape[2]!, y.shape[3]!], { alignCorners: true }), y);
}

/**
 * The encoder's weights from a checkpoint's tensors: pSp/E2Style checkpoints keep them under
 * `encoder.` (beside `decoder.*` and `latent_avg`); plain state dicts have bare names.
 */
export function encoderStateFromCheckpoint<T>(tensors: Map<string, T>): Map<string, T> {
  const prefixed = [...tensors.keys()].some((k) => k.startsWith('encoder.'));
  if (!prefixed) return tensors;
  const out = new Map<string, T>();
  for (const [k, t] of tensors) if (k.startsWith('encoder.')) out.set(k.slice('encoder.'.length), t);
  return out;
}
