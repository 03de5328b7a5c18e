// AlexNet feature extractor in torchvision's `alexnet.features` layout (the network LPIPS uses).
//   features.0  conv 11x11 s4 p2 (3->64), 1 ReLU, 2 maxpool 3 s2
//   features.3  conv 5x5 p2 (64->192),    4 ReLU, 5 maxpool 3 s2
//   features.6  conv 3x3 p1 (192->384),   7 ReLU
//   features.8  conv 3x3 p1 (384->256),   9 ReLU
//   features.10 conv 3x3 p1 (256->256),  11 ReLU
// forward() returns the five ReLU outputs (LPIPS' relu1..relu5 taps).
import { Module, Sequential, nn, ops, Rng, type Tensor } from '@sgi/core';

export const ALEXNET_CHANNELS = [64, 192, 384, 256, 256] as const;
/** Indices in `features` after which a tap is taken (the ReLUs). */
const TAPS = [1, 4, 7, 9, 11];

export class AlexNetFeatures extends Module {
  readonly features: Sequential;
  constructor(rng: Rng = new Rng(0)) {
    super();
    const relu = () => new nn.Lambda((x) => ops.relu(x), 'relu');
    const pool = () => new nn.Lambda((x) => ops.maxPool2d(x, { kernel: 3, stride: 2, padding: 0 }), 'maxpool');
    this.features = this.child('features', new Sequential([
      new nn.Conv2d(3, 64, 11, { stride: 4, padding: 2, rng }), relu(), pool(),
      new nn.Conv2d(64, 192, 5, { padding: 2, rng }), relu(), pool(),
      new nn.Conv2d(192, 384, 3, { padding: 1, rng }), relu(),
      new nn.Conv2d(384, 256, 3, { padding: 1, rng }), relu(),
      new nn.Conv2d(256, 256, 3, { padding: 1, rng }), relu(),
    ]));
  }

  /** The five tapped feature maps. */
  forward(x: Tensor): Tensor[] {
    const taps: Tensor[] = [];
    let h = x;
    this.features.layers.forEach((layer, i) => {
      h = (layer as unknown as { forward(t: Tensor): Tensor }).forward(h);
      if (TAPS.includes(i)) taps.push(h);
    });
    return taps;
  }
}
