// The CelebAMask-HQ face-parsing UNet (19 classes) used by E2Style's multi-layer parsing loss.
// filters = [64, 128, 256, 512, 1024] / featureScale (featureScale 4 gives 16-32-64-128-256):
//   convN  = unetConv2: conv1 = (conv3x3 p1 + bias, BN, ReLU), conv2 = the same; maxpool 2 after 1..4
//   center = unetConv2(filters[3] -> filters[4])
//   up_concatN = unetUp: up = ConvTranspose2d(in, out, 2, stride 2), conv = unetConv2(in -> out)
//                applied to cat([skip, up(deeper)], channels)
//   final  = conv1x1 (filters[0] -> classes)
// The parsing loss uses the outputs of max-pools 1..4 and of the center block.
import { Module, Sequential, nn, ops, Rng, type Tensor } from '@sgi/core';

export interface ParsingUNetConfig {
  featureScale: number;
  classes: number;
  inChannels: number;
}
export const PARSING_UNET_DEFAULT: ParsingUNetConfig = { featureScale: 4, classes: 19, inChannels: 3 };

function convBnRelu(inC: number, outC: number, rng: Rng): Sequential {
  return new Sequential([
    new nn.Conv2d(inC, outC, 3, { padding: 1, rng }),
    new nn.BatchNorm(outC),
    new nn.Lambda((x) => ops.relu(x), 'relu'),
  ]);
}

export class UNetConv2 extends Module {
  readonly conv1: Sequential;
  readonly conv2: Sequential;
  constructor(inC: number, outC: number, rng: Rng) {
    super();
    this.conv1 = this.child('conv1', convBnRelu(inC, outC, rng));
    this.conv2 = this.child('conv2', convBnRelu(outC, outC, rng));
  }
  forward(x: Tensor): Tensor {
    return this.conv2.forward(this.conv1.forward(x));
  }
}

export class UNetUp extends Module {
  readonly conv: UNetConv2;
  readonly up: nn.ConvTranspose2d;
  constructor(inC: number, outC: number, rng: Rng) {
    super();
    this.conv = this.child('conv', new UNetConv2(inC, outC, rng));
    this.up = this.child('up', new nn.ConvTranspose2d(inC, outC, 2, { stride: 2, rng }));
  }
  forward(skip: Tensor, deeper: Tensor): Tensor {
    const up = this.up.forward(deeper);
    const s = skip;
    // The reference pads the skip by (up - skip) / 2 on each side; sizes agree for even inputs.
    if (up.shape[2] !== s.shape[2] || up.shape[3] !== s.shape[3]) {
      throw new Error(`ParsingUNet: skip ${s.shape.join('x')} and upsampled ${up.shape.join('x')} differ (use an input size divisible by 16)`);
    }
    return this.conv.forward(ops.cat([s, up], 1));
  }
}

export interface ParsingOutputs {
  /** Outputs of max-pools 1..4 and of the center block (the parsing-loss features). */
  features: Tensor[];
  /** Per-pixel class logits (only when the decoder ran). */
  logits?: Tensor;
}

export class ParsingUNet extends Module {
  readonly filters: number[];
  readonly conv1: UNetConv2;
  readonly conv2: UNetConv2;
  readonly conv3: UNetConv2;
  readonly conv4: UNetConv2;
  readonly center: UNetConv2;
  readonly upConcat4: UNetUp;
  readonly upConcat3: UNetUp;
  readonly upConcat2: UNetUp;
  readonly upConcat1: UNetUp;
  readonly final: nn.Conv2d;

  constructor(readonly config: ParsingUNetConfig = PARSING_UNET_DEFAULT, rng: Rng = new Rng(0)) {
    super();
    const f = [64, 128, 256, 512, 1024].map((c) => Math.trunc(c / config.featureScale));
    if (f.some((c) => c < 1)) throw new Error(`ParsingUNet: featureScale ${config.featureScale} leaves no channels`);
    this.filters = f;
    this.conv1 = this.child('conv1', new UNetConv2(config.inChannels, f[0]!, rng));
    this.conv2 = this.child('conv2', new UNetConv2(f[0]!, f[1]!, rng));
    this.conv3 = this.child('conv3', new UNetConv2(f[1]!, f[2]!, rng));
    this.conv4 = this.child('conv4', new UNetConv2(f[2]!, f[3]!, rng));
    this.center = this.child('center', new UNetConv2(f[3]!, f[4]!, rng));
    this.upConcat4 = this.child('up_concat4', new UNetUp(f[4]!, f[3]!, rng));
    this.upConcat3 = this.child('up_concat3', new UNetUp(f[3]!, f[2]!, rng));
    this.upConcat2 = this.child('up_concat2', new UNetUp(f[2]!, f[1]!, rng));
    this.upConcat1 = this.child('up_concat1', new UNetUp(f[1]!, f[0]!, rng));
    this.final = this.child('final', new nn.Conv2d(f[0]!, config.classes, 1, { rng }));
  }

  /**
   * Encoder features; with `decode` also the logits. The loss does not need the decoder
   * (its output does not enter the loss), so it is skipped unless asked for.
   */
  forwardAll(x: Tensor, decode = false): ParsingOutputs {
    if (x.ndim !== 4 || x.shape[1] !== this.config.inChannels) {
      throw new Error(`ParsingUNet: expected input [B, ${this.config.inChannels}, H, W], got [${x.shape.join(', ')}]`);
    }
    if (x.shape[2]! % 16 !== 0 || x.shape[3]! % 16 !== 0) {
      throw new Error(`ParsingUNet: input ${x.shape[2]}x${x.shape[3]} must be divisible by 16`);
    }
    const pool = (t: Tensor) => ops.maxPool2d(t, { kernel: 2, stride: 2, padding: 0 });
    const c1 = this.conv1.forward(x);
    const p1 = pool(c1);
    const c2 = this.conv2.forward(p1);
    const p2 = pool(c2);
    const c3 = this.conv3.forward(p2);
    const p3 = pool(c3);
    const c4 = this.conv4.forward(p3);
    const p4 = pool(c4);
    const center = this.center.forward(p4);
    const features = [p1, p2, p3, p4, center];
    if (!decode) return { features };
    const u4 = this.upConcat4.forward(c4, center);
    const u3 = this.upConcat3.forward(c3, u4);
    const u2 = this.upConcat2.forward(c2, u3);
    const u1 = this.upConcat1.forward(c1, u2);
    return { features, logits: this.final.forward(u1) };
  }

  /** Class logits [B, classes, H, W]. */
  forward(x: Tensor): Tensor {
    return this.forwardAll(x, true).logits!;
  }
}
