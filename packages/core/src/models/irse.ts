// IR-SE backbone ("bottleneck_IR_SE" units, TreB1eN / pSp layout and parameter names).
// Shared by the inversion encoder (cut after 3 stages) and the ArcFace recognition network.
//   input_layer: conv3x3 in->w0 (no bias), BN, PReLU
//   body.<i>: units numbered across stages; the first unit of each stage has stride 2
//   unit: shortcut = MaxPool(1, stride) if channels unchanged, else conv1x1(stride) + BN
//         res_layer = BN, conv3x3 s1, PReLU, conv3x3 (stride), BN, SE(reduction)
import { Module, Sequential } from '../nn/module.js';
import { BatchNorm, Conv2d, Lambda, PReLU } from '../nn/layers.js';
import { FusedConv, InferenceCache, batchNormAffine, canFuse, channelConstant } from '../nn/inference.js';
import { Tensor } from '../tensor.js';
import type { Rng } from '../random.js';
import * as ops from '../ops/index.js';

/** Squeeze-and-excitation gate: x * sigmoid(fc2(relu(fc1(avgpool(x))))), fc = 1x1 convs without bias. */
export class SEModule extends Module {
  readonly fc1: Conv2d;
  readonly fc2: Conv2d;
  constructor(channels: number, reduction: number, rng?: Rng) {
    super();
    const hidden = Math.max(1, Math.floor(channels / reduction));
    this.fc1 = this.child('fc1', new Conv2d(channels, hidden, 1, { bias: false, rng }));
    this.fc2 = this.child('fc2', new Conv2d(hidden, channels, 1, { bias: false, rng }));
  }
  forward(x: Tensor): Tensor {
    return ops.mul(x, this.gate(ops.adaptiveAvgPool2d(x, [1, 1])));
  }
  /** The gate [N, C, 1, 1] from the channel means [N, C, 1, 1]. */
  gate(means: Tensor): Tensor {
    return ops.sigmoid(this.fc2.forward(ops.relu(this.fc1.forward(means))));
  }
}

export class BottleneckIRSE extends Module {
  readonly shortcut: Sequential | null;
  readonly res: Sequential;
  /** seReduction 0 builds the plain "bottleneck_IR" unit (no SE gate), as in IR-101. */
  constructor(readonly inChannels: number, readonly depth: number, readonly stride: number, seReduction: number, rng?: Rng) {
    super();
    this.shortcut =
      inChannels === depth
        ? null
        : this.child('shortcut_layer', new Sequential([
            new Conv2d(inChannels, depth, 1, { stride, bias: false, rng }),
            new BatchNorm(depth),
          ]));
    this.res = this.child('res_layer', new Sequential([
      new BatchNorm(inChannels),
      new Conv2d(inChannels, depth, 3, { padding: 1, bias: false, rng }),
      new PReLU(depth),
      new Conv2d(depth, depth, 3, { stride, padding: 1, bias: false, rng }),
      new BatchNorm(depth),
      seReduction > 0 ? new SEModule(depth, seReduction, rng) : null,
    ]));
  }
  forward(x: Tensor): Tensor {
    if (canFuse(this, x)) return this.fused.get(this.stateTensors(), () => new FusedUnit(this)).forward(x);
    const shortcut = this.shortcut
      ? this.shortcut.forward(x)
      : this.stride === 1 ? x : ops.maxPool2d(x, { kernel: 1, stride: this.stride });
    return ops.add(this.res.forward(x), shortcut);
  }

  private readonly fused = new InferenceCache<FusedUnit>();
  private stateTensors(): Tensor[] {
    return [...this.stateDict().values()];
  }
  override release(): void {
    this.fused.release();
    super.release();
  }
}

/**
 * The unit in eval mode with frozen weights (nn/inference.ts): the first BatchNorm is the input
 * affine of the first convolution and the PReLU its epilogue; the last BatchNorm is folded into
 * the second convolution, the shortcut's into its 1x1 convolution; the SE gate's channel means are
 * summed as the second convolution stores its output, and the gate and the residual are applied
 * in one pass. Same values as the layers.
 */
class FusedUnit {
  private readonly inScale: Tensor;
  private readonly inShift: Tensor;
  private readonly slope: Tensor;
  private readonly conv1: FusedConv;
  private readonly conv2: FusedConv;
  private readonly shortcut: FusedConv | null;
  constructor(private readonly unit: BottleneckIRSE) {
    const [bn1, conv1, prelu, conv2, bn2] = unit.res.layers as [BatchNorm, Conv2d, PReLU, Conv2d, BatchNorm];
    const { scale, shift } = batchNormAffine(bn1);
    this.inScale = channelConstant(scale, conv1.weight.device);
    this.inShift = channelConstant(shift, conv1.weight.device);
    this.slope = prelu.weight;
    this.conv1 = new FusedConv(conv1);
    this.conv2 = new FusedConv(conv2, bn2);
    const sc = unit.shortcut?.layers as [Conv2d, BatchNorm] | undefined;
    this.shortcut = sc ? new FusedConv(sc[0], sc[1]) : null;
  }

  forward(x: Tensor): Tensor {
    const u = this.unit;
    const shortcut = this.shortcut
      ? this.shortcut.forward(x)
      : u.stride === 1 ? x : ops.maxPool2d(x, { kernel: 1, stride: u.stride });
    const h = this.conv1.forward(x, { inScale: this.inScale, inShift: this.inShift, slope: this.slope });
    const se = u.res.layers[5] as SEModule | undefined;
    if (!se) return ops.add(this.conv2.forward(h), shortcut);
    const sums = Tensor.empty([h.shape[0]!, u.depth], h.device);
    const r = this.conv2.forward(h, { channelSums: sums });
    const means = ops.reshape(ops.scale(sums, 1 / (r.shape[2]! * r.shape[3]!)), [h.shape[0]!, u.depth, 1, 1]);
    return ops.scaleChannelsAdd(r, se.gate(means), shortcut);
  }

  release(): void {
    for (const t of [this.inScale, this.inShift]) t.release();
    for (const c of [this.conv1, this.conv2, this.shortcut]) c?.release();
  }
}

export interface IRSEConfig {
  inChannels: number;
  /** Channels of each stage, e.g. [64, 128, 256, 512] for IR-SE-50. */
  widths: readonly number[];
  /** Units per stage, e.g. [3, 4, 14, 3] for IR-SE-50. */
  units: readonly number[];
  /** SE reduction of every unit (16); 0 = no SE gate (plain IR units, e.g. CurricularFace's IR-101). */
  seReduction?: number;
}

export const IRSE50: Omit<IRSEConfig, 'inChannels'> = { widths: [64, 128, 256, 512], units: [3, 4, 14, 3], seReduction: 16 };
/** IR-101 without SE gates: the CurricularFace backbone used for the paper's IDS metric. */
export const IR101: Omit<IRSEConfig, 'inChannels'> = { widths: [64, 128, 256, 512], units: [3, 13, 30, 3], seReduction: 0 };

/** input_layer + body; forwardStages returns the feature map after every stage. */
export class IRSEBackbone extends Module {
  readonly inputLayer: Sequential;
  readonly body: Sequential;
  /** Index (in body) of the last unit of each stage. */
  readonly stageEnds: number[] = [];
  constructor(readonly config: IRSEConfig, rng?: Rng) {
    super();
    const { widths, units } = config;
    if (widths.length !== units.length || widths.length === 0) {
      throw new Error(`IRSEBackbone: widths ${JSON.stringify(widths)} and units ${JSON.stringify(units)} must be non-empty and of equal length`);
    }
    this.inputLayer = this.child('input_layer', new Sequential([
      new Conv2d(config.inChannels, widths[0]!, 3, { padding: 1, bias: false, rng }),
      new BatchNorm(widths[0]!),
      new PReLU(widths[0]!),
    ]));
    const list: BottleneckIRSE[] = [];
    let inC = widths[0]!;
    widths.forEach((w, s) => {
      for (let u = 0; u < units[s]!; u++) {
        list.push(new BottleneckIRSE(u === 0 ? inC : w, w, u === 0 ? 2 : 1, config.seReduction ?? 16, rng));
      }
      inC = w;
      this.stageEnds.push(list.length - 1);
    });
    this.body = this.child('body', new Sequential(list));
  }

  private readonly fusedInput = new InferenceCache<ReturnType<typeof fusedInputLayer>>();
  private forwardInput(x: Tensor): Tensor {
    if (!canFuse(this.inputLayer, x)) return this.inputLayer.forward(x);
    return this.fusedInput.get([...this.inputLayer.stateDict().values()], () => fusedInputLayer(this.inputLayer.layers)).forward(x);
  }
  override release(): void {
    this.fusedInput.release();
    super.release();
  }

  /** Features after each stage (1/2, 1/4, 1/8, 1/16 of the input resolution). */
  forwardStages(x: Tensor): Tensor[] {
    const feats: Tensor[] = [];
    let h = this.forwardInput(x);
    this.body.layers.forEach((unit, i) => {
      h = (unit as BottleneckIRSE).forward(h);
      if (this.stageEnds.includes(i)) feats.push(h);
    });
    return feats;
  }
}

/** input_layer: conv, BN, PReLU (in eval mode with frozen weights, one fused convolution). */
function fusedInputLayer(layers: Module[]): { forward(x: Tensor): Tensor; release(): void } {
  const [conv, bn, prelu] = layers as [Conv2d, BatchNorm, PReLU];
  const fused = new FusedConv(conv, bn);
  return { forward: (x) => fused.forward(x, { slope: prelu.weight }), release: () => fused.release() };
}

/** Identity in eval mode; kept as a layer so indices match PyTorch's Sequential. */
export const Dropout = () => new Lambda((x) => x, 'dropout');
export const Flatten = () => new Lambda((x) => ops.flatten(x, 1), 'flatten');
