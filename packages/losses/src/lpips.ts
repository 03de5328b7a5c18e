// LPIPS v0.1 with AlexNet features (Zhang et al.; the perceptual term of pSp / E2Style):
//   scaling layer (x - shift) / scale on [-1, 1] images, the five AlexNet ReLU taps of both
//   images, each unit-normalised over channels (x / (||x||_2 + 1e-10)), squared difference,
//   1x1 "lin" conv to one channel (no bias; checkpoint names lin<k>.model.1.weight),
//   spatial mean, sum over the five layers. distance() is per image [B]; forward() their mean.
import { Module, Sequential, Tensor, nn, ops, noGrad, Rng, type Device } from '@sgi/core';
import { AlexNetFeatures, ALEXNET_CHANNELS } from './nets/alexnet.js';
import { readWeights, resolveWeightPath, subset, loadInto, checkWeightFile, type MissingWeight } from './weights.js';

export const LPIPS_SHIFT = [-0.03, -0.088, -0.188] as const;
export const LPIPS_SCALE = [0.458, 0.448, 0.45] as const;

/** lin<k>: Sequential(Dropout, Conv1x1(C -> 1, no bias)), as in the LPIPS checkpoint. */
export class LPIPSLinearLayers extends Module {
  readonly lins: nn.Conv2d[] = [];
  constructor(channels: readonly number[] = ALEXNET_CHANNELS, rng: Rng = new Rng(1)) {
    super();
    channels.forEach((c, k) => {
      const conv = new nn.Conv2d(c, 1, 1, { bias: false, rng });
      this.child(`lin${k}`, new LinModel(conv));
      this.lins.push(conv);
    });
  }
}
class LinModel extends Module {
  readonly model: Sequential;
  constructor(conv: nn.Conv2d) {
    super();
    this.model = this.child('model', new Sequential([new nn.Lambda((x) => x, 'dropout'), conv]));
  }
}

/** Unit-normalises a feature map over channels; the tiny epsilon inside the root keeps the gradient finite at 0. */
export function normalizeChannels(x: Tensor, eps = 1e-10): Tensor {
  const norm = ops.sqrt(ops.addScalar(ops.sum(ops.square(x), 1, true), 1e-20));
  return ops.div(x, ops.addScalar(norm, eps));
}

export interface LPIPSOptions {
  /** torchvision AlexNet checkpoint (features.* are used). */
  alexnet?: string;
  /** LPIPS v0.1 linear layers (alex.pth). */
  linear?: string;
  weightsDir?: string;
  /** Use random weights for files that are missing (recorded in randomInitialised). */
  randomInit?: boolean;
  seed?: number;
}

export class LPIPS {
  readonly net: AlexNetFeatures;
  readonly lin: LPIPSLinearLayers;
  /** Which parts run on random weights (empty with real weights). */
  readonly randomInitialised: string[] = [];
  private readonly shift: Tensor;
  private readonly invScale: Tensor;

  /** The weight files these options need. */
  static weightFiles(opts: LPIPSOptions = {}): MissingWeight[] {
    return [
      { key: 'alexnet', file: resolveWeightPath('alexnet', opts.alexnet, opts.weightsDir) },
      { key: 'lpipsLinear', file: resolveWeightPath('lpipsLinear', opts.linear, opts.weightsDir) },
    ];
  }

  constructor(opts: LPIPSOptions & { load?: boolean } = {}) {
    const load = opts.load !== false;
    const [alex, linear] = LPIPS.weightFiles(opts) as [MissingWeight, MissingWeight];
    const haveAlex = load && checkWeightFile('alexnet', alex.file, opts.randomInit);
    const haveLinear = load && checkWeightFile('lpipsLinear', linear.file, opts.randomInit);
    const seed = opts.seed ?? 0;
    this.net = new AlexNetFeatures(new Rng(seed + 11));
    this.lin = new LPIPSLinearLayers(ALEXNET_CHANNELS, new Rng(seed + 12));
    if (haveAlex) loadInto(this.net, subset(readWeights('alexnet', alex.file), 'features.', true), alex.file);
    else if (load) this.randomInitialised.push('lpips.alexnet');
    if (haveLinear) loadInto(this.lin, readWeights('lpipsLinear', linear.file), linear.file);
    else if (load) this.randomInitialised.push('lpips.linear');
    this.net.eval().freeze();
    this.lin.eval().freeze();
    this.shift = Tensor.fromArray(LPIPS_SHIFT, [1, 3, 1, 1]);
    this.shift.persistent = true;
    this.invScale = Tensor.fromArray(LPIPS_SCALE.map((s) => 1 / s), [1, 3, 1, 1]);
    this.invScale.persistent = true;
  }

  private features(x: Tensor): Tensor[] {
    const scaled = ops.mul(ops.sub(x, this.shift), this.invScale);
    return this.net.forward(scaled).map((f) => normalizeChannels(f));
  }

  /** Per-image distance [B] between images in [-1, 1]. Gradients flow to both inputs. */
  distance(a: Tensor, b: Tensor): Tensor {
    if (a.ndim !== 4 || a.shape[1] !== 3 || a.shape.some((d, i) => d !== b.shape[i])) {
      throw new Error(`LPIPS: inputs must be two [B, 3, H, W] images of the same shape, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
    }
    const fa = this.features(a);
    const fb = needsNoGrad(b) ? noGrad(() => this.features(b)) : this.features(b);
    let total: Tensor | null = null;
    fa.forEach((f, k) => {
      const d = ops.square(ops.sub(f, fb[k]!));
      const layer = ops.mean(this.lin.lins[k]!.forward(d), [1, 2, 3]); // [B]
      total = total ? ops.add(total, layer) : layer;
    });
    return total!;
  }

  /** Mean distance over the batch (the loss term). */
  forward(yHat: Tensor, x: Tensor): Tensor {
    return ops.mean(this.distance(yHat, x));
  }

  /** Moves the networks and constants to `device` (in place). */
  to(device: Device): this {
    this.net.to(device);
    this.lin.to(device);
    this.shift.moveTo(device);
    this.invScale.moveTo(device);
    return this;
  }

  release(): void {
    this.net.release();
    this.lin.release();
    this.shift.release();
    this.invScale.release();
  }
}

function needsNoGrad(t: Tensor): boolean {
  return !t.requiresGrad && !t.gradNode;
}
