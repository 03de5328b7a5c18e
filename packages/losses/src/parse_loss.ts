// Multi-layer parsing loss (the paper's MP term): the CelebAMask-HQ parsing UNet applied to
// both 256 images; features = outputs of max-pools 1..4 and of the center block, flattened;
// sum over the 5 levels of mean_b(1 - cos), the target image's side detached.
import { Tensor, ops, noGrad, Rng, type Device } from '@sgi/core';
import { ParsingUNet, PARSING_UNET_DEFAULT } from './nets/parsing_unet.js';
import { multiLevelCosineLoss } from './id_loss.js';
import { readWeights, resolveWeightPath, loadInto, checkWeightFile, type MissingWeight } from './weights.js';

export interface ParseLossOptions {
  checkpoint?: string;
  weightsDir?: string;
  /** 4 for the E2Style checkpoint (filters 16-32-64-128-256). */
  featureScale?: number;
  classes?: number;
  /** Average-pool both images to this size first (the small test fixture uses 32; the real loss none). */
  poolTo?: number;
  randomInit?: boolean;
  seed?: number;
  load?: boolean;
}

export class ParseLoss {
  readonly net: ParsingUNet;
  readonly randomInitialised: string[] = [];
  readonly weightsFile: string | null = null;
  readonly poolTo: number | undefined;

  /** The weight files these options need. */
  static weightFiles(opts: ParseLossOptions = {}): MissingWeight[] {
    return [{ key: 'parsing', file: resolveWeightPath('parsing', opts.checkpoint, opts.weightsDir) }];
  }

  constructor(opts: ParseLossOptions = {}) {
    const load = opts.load !== false;
    const { file } = ParseLoss.weightFiles(opts)[0]!;
    const have = load && checkWeightFile('parsing', file, opts.randomInit);
    this.net = new ParsingUNet(
      { ...PARSING_UNET_DEFAULT, featureScale: opts.featureScale ?? PARSING_UNET_DEFAULT.featureScale, classes: opts.classes ?? PARSING_UNET_DEFAULT.classes },
      new Rng((opts.seed ?? 0) + 31),
    );
    this.poolTo = opts.poolTo;
    if (have) {
      loadInto(this.net, readWeights('parsing', file), file);
      this.weightsFile = file;
    } else if (load) {
      this.randomInitialised.push('parsing.unet');
    }
    this.net.eval().freeze();
  }

  /** The five feature levels of images in [-1, 1]. */
  levels(x: Tensor): Tensor[] {
    const input = this.poolTo ? ops.adaptiveAvgPool2d(x, [this.poolTo, this.poolTo]) : x;
    return this.net.forwardAll(input, false).features;
  }

  forward(yHat: Tensor, x: Tensor): Tensor {
    const target = noGrad(() => this.levels(x));
    return multiLevelCosineLoss(target, this.levels(yHat));
  }

  /** Moves the parsing network to `device` (in place). */
  to(device: Device): this {
    this.net.to(device);
    return this;
  }

  release(): void {
    this.net.release();
  }
}
