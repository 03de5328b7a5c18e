// ArcFace recognition network (IR-SE, TreB1eN / pSp layout and parameter names), e.g. IR-SE-50
// at 112x112 (`model_ir_se50.pth`). The backbone is core's IRSEBackbone (input_layer, body);
// this adds output_layer = BN2d(C), Dropout (identity in eval), Flatten, Linear(C*s*s, E), BN1d(E)
// with PyTorch indices 0..4, and the L2-normalised embedding.
import { IRSEBackbone, IRSE50, IR101, Sequential, nn, ops, Rng, type Tensor } from '@sgi/core';

export interface ArcFaceConfig {
  /** Channels per stage ([64, 128, 256, 512] for IR-SE-50). */
  widths: readonly number[];
  /** Units per stage ([3, 4, 14, 3] for IR-SE-50). */
  units: readonly number[];
  /** Embedding size (512). */
  embedding: number;
  /** Input resolution (112); the last stage is inputSize / 2^stages. */
  inputSize: number;
  seReduction?: number;
}

export const ARCFACE_IRSE50: ArcFaceConfig = {
  widths: IRSE50.widths, units: IRSE50.units, embedding: 512, inputSize: 112, seReduction: IRSE50.seReduction,
};

/** CurricularFace's backbone (IR-101, no SE gates, 512-d at 112): the paper's IDS network. */
export const CURRICULARFACE_IR101: ArcFaceConfig = {
  widths: IR101.widths, units: IR101.units, embedding: 512, inputSize: 112, seReduction: 0,
};

export interface ArcFaceOutputs {
  /** Feature maps after each stage (units 0-2, 3-6, 7-20, 21-23 for IR-SE-50). */
  stages: Tensor[];
  /** L2-normalised embedding [B, E]. */
  embedding: Tensor;
}

/** x / ||x||_2 along dim 1 (TreB1eN's l2_norm). */
export function l2Normalize(x: Tensor): Tensor {
  return ops.div(x, ops.sqrt(ops.sum(ops.square(x), 1, true)));
}

export class ArcFace extends IRSEBackbone {
  readonly outputLayer: Sequential;
  constructor(readonly arcConfig: ArcFaceConfig = ARCFACE_IRSE50, rng: Rng = new Rng(0)) {
    super({ inChannels: 3, widths: arcConfig.widths, units: arcConfig.units, seReduction: arcConfig.seReduction ?? 16 }, rng);
    const c = arcConfig.widths[arcConfig.widths.length - 1]!;
    const s = arcConfig.inputSize / 2 ** arcConfig.widths.length;
    if (!Number.isInteger(s)) throw new Error(`ArcFace: input size ${arcConfig.inputSize} is not divisible by 2^${arcConfig.widths.length}`);
    this.outputLayer = this.child('output_layer', new Sequential([
      new nn.BatchNorm(c),
      new nn.Lambda((x) => x, 'dropout'),
      new nn.Lambda((x) => ops.flatten(x, 1), 'flatten'),
      new nn.Linear(c * s * s, arcConfig.embedding, { rng }),
      new nn.BatchNorm(arcConfig.embedding),
    ]));
  }

  /** The multi-layer ID loss features: 4 stage outputs and the normalised embedding. */
  forwardAll(x: Tensor): ArcFaceOutputs {
    const size = this.arcConfig.inputSize;
    if (x.ndim !== 4 || x.shape[1] !== 3 || x.shape[2] !== size || x.shape[3] !== size) {
      throw new Error(`ArcFace: expected input [B, 3, ${size}, ${size}], got [${x.shape.join(', ')}]`);
    }
    const stages = this.forwardStages(x);
    const embedding = l2Normalize(this.outputLayer.forward(stages[stages.length - 1]!));
    return { stages, embedding };
  }

  /** The normalised embedding only. */
  forward(x: Tensor): Tensor {
    return this.forwardAll(x).embedding;
  }
}
