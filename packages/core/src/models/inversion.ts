// Multi-stage inversion (the paper's Eq. 1-2):
//   W1 = E1(x) + w_avg
//   Wt = Et(concat(x, pool(G(W_{t-1})))) + W_{t-1}          (residual refinement, default)
//   Wt = Et(concat(x, pool(G(W_{t-1})))) + w_avg            ("2Stage*": no residual)
// pool = adaptive average pooling of the generator output to the encoder's input size ("face pool").
import { Module } from '../nn/module.js';
import { Tensor, type Device } from '../tensor.js';
import { Encoder } from './encoder.js';
import { noGrad } from '../autograd.js';
import * as ops from '../ops/index.js';
import type { Rng } from '../random.js';

/** What inversion needs from a generator. */
export interface LatentGenerator extends Module {
  readonly nLatent: number;
  readonly styleDim: number;
  /** Images [B, 3, size, size] in [-1, 1] from W+ [B, nLatent, styleDim]. */
  synthesis(wPlus: Tensor, opts?: { noise?: 'stored' | 'random'; rng?: Rng }): Tensor;
}

export interface InversionResult {
  /** W+ code after each stage. */
  codes: Tensor[];
  /** Face-pooled reconstruction after each stage (only when requested). */
  images: Tensor[];
}

export class MultiStageInversion extends Module {
  readonly stages: Encoder[];
  constructor(
    stages: Encoder[],
    readonly generator: LatentGenerator,
    /** Mean latent [styleDim] added to the first stage (and to every stage without residual). */
    readonly latentAvg: Tensor | null,
    readonly opts: { residual?: boolean; inputSize?: number } = {},
  ) {
    super();
    if (stages.length === 0) throw new Error('MultiStageInversion: at least one stage is needed');
    stages.forEach((s, i) => {
      const want = i === 0 ? 3 : 6;
      if (s.config.inChannels !== want) throw new Error(`MultiStageInversion: stage ${i + 1} must take ${want} input channels, not ${s.config.inChannels}`);
    });
    this.stages = stages.map((s, i) => this.child(`stage${i + 1}`, s));
  }

  /** Moves the stages, the generator and the mean latent to `device` (in place). */
  override to(device: Device): this {
    super.to(device);
    if (this.generator instanceof Module) this.generator.to(device);
    this.latentAvg?.moveTo(device);
    return this;
  }

  get residual(): boolean {
    return this.opts.residual ?? true;
  }

  /** Average-pools generator output to the encoder input size (pSp's face_pool). */
  facePool(img: Tensor): Tensor {
    const size = this.opts.inputSize ?? 256;
    return img.shape[2] === size && img.shape[3] === size ? img : ops.adaptiveAvgPool2d(img, [size, size]);
  }

  private addAvg(w: Tensor): Tensor {
    return this.latentAvg ? ops.add(w, this.latentAvg) : w;
  }

  /**
   * Runs stages 1..upTo (default all). Stages before `trainFrom` run without gradients
   * (frozen, as while stage t trains); images of every stage are returned when `withImages`.
   */
  forward(x: Tensor, opts: { upTo?: number; trainFrom?: number; withImages?: boolean; noise?: 'stored' | 'random'; rng?: Rng } = {}): InversionResult {
    const synth = (w: Tensor) => this.facePool(this.generator.synthesis(w, { noise: opts.noise ?? 'stored', rng: opts.rng }));
    const upTo = opts.upTo ?? this.stages.length;
    const trainFrom = opts.trainFrom ?? 1;
    const codes: Tensor[] = [];
    const images: Tensor[] = [];
    let w: Tensor | null = null;
    let prevImage: Tensor | null = null;
    for (let t = 1; t <= upTo; t++) {
      const stage = this.stages[t - 1]!;
      const run = () => {
        const input: Tensor = t === 1 ? x : ops.cat([x, prevImage!], 1);
        const delta = stage.forward(input);
        return t === 1 || !this.residual ? this.addAvg(delta) : ops.add(delta, w!);
      };
      w = t < trainFrom ? noGrad(run) : run();
      codes.push(w);
      const needImage = t < upTo || opts.withImages;
      if (needImage) {
        // the previous reconstruction is an input of the next stage, never a path for gradients
        const img = t < upTo && t < trainFrom ? noGrad(() => synth(w!)) : synth(w);
        images.push(img);
        prevImage = t < upTo ? img.detach() : img;
      }
    }
    return { codes, images };
  }
}
