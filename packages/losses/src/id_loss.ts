// Identity losses. Multi-layer (the paper's): sum over the feature levels of
// mean_b(1 - cos(flatten(feat(x)), flatten(feat(y_hat)))), the target side detached; levels =
// the ends of the recognition network's resolution stages and the final embedding.
// Single-layer (pSp's, for the ablations): the embedding level only.
// Input: the 256 image (pooled to 256 first if needed), cropped to [35:223, 32:220] and
// adaptive-average-pooled to the network's input size (112 ArcFace, 150 face-api).
import { Tensor, ops, noGrad, Rng, type Device } from '@sgi/core';
import { ArcFace, ARCFACE_IRSE50, type ArcFaceConfig } from './nets/arcface.js';
import { FaceRecognitionNet, FACEAPI_INPUT_SIZE, defaultFaceApiManifest, readTfjsWeights } from './nets/faceapi.js';
import { readWeights, resolveWeightPath, loadInto, checkWeightFile, type MissingWeight } from './weights.js';

export type IdNetwork = 'arcface' | 'faceapi';
export type IdVariant = 'multi' | 'single';

/** The face crop of the ID losses: rows 35..223, columns 32..220 of the 256 image. */
export const ID_CROP = { top: 35, bottom: 223, left: 32, right: 220 } as const;

/** Pools to 256 when needed, crops the face region and adaptive-average-pools it to size x size. */
export function faceCrop(x: Tensor, size: number): Tensor {
  if (x.ndim !== 4) throw new Error(`faceCrop: expected [B, C, H, W] images, got [${x.shape.join(', ')}]`);
  const img = x.shape[2] === 256 && x.shape[3] === 256 ? x : ops.adaptiveAvgPool2d(x, [256, 256]);
  return ops.cropAndPool(img, [ID_CROP.top, ID_CROP.bottom, ID_CROP.left, ID_CROP.right], [size, size]);
}

/** Sum over levels of mean_b(1 - cos) between detached target features and prediction features. */
export function multiLevelCosineLoss(target: readonly Tensor[], pred: readonly Tensor[]): Tensor {
  if (target.length !== pred.length || pred.length === 0) throw new Error(`multiLevelCosineLoss: ${target.length} target levels vs ${pred.length} predicted`);
  let total: Tensor | null = null;
  pred.forEach((p, i) => {
    const term = ops.cosineLoss(target[i]!.detach(), p);
    total = total ? ops.add(total, term) : term;
  });
  return total!;
}

export interface IDLossOptions {
  network?: IdNetwork;
  variant?: IdVariant;
  /** ArcFace: model_ir_se50.pth (or a converted file); face-api: a TFJS weights manifest. */
  checkpoint?: string;
  weightsDir?: string;
  randomInit?: boolean;
  seed?: number;
  /** Network size (tests use small widths); default IR-SE-50 at 112. */
  arcface?: ArcFaceConfig;
  /** false: keep the initial weights (tests load their own). */
  load?: boolean;
}

export class IDLoss {
  readonly network: IdNetwork;
  readonly variant: IdVariant;
  readonly arcface: ArcFace | null = null;
  readonly faceapi: FaceRecognitionNet | null = null;
  readonly randomInitialised: string[] = [];
  /** The weight file in use (null with random weights). */
  readonly weightsFile: string | null = null;

  /** The weight files these options need (face-api's ship with npm). */
  static weightFiles(opts: IDLossOptions = {}): MissingWeight[] {
    return (opts.network ?? 'arcface') === 'arcface'
      ? [{ key: 'arcface', file: resolveWeightPath('arcface', opts.checkpoint, opts.weightsDir) }]
      : [];
  }

  constructor(opts: IDLossOptions = {}) {
    this.network = opts.network ?? 'arcface';
    this.variant = opts.variant ?? 'multi';
    if (this.network !== 'arcface' && this.network !== 'faceapi') {
      throw new Error(`IDLoss: unknown network '${String(this.network)}' (expected 'arcface' or 'faceapi')`);
    }
    if (this.variant !== 'multi' && this.variant !== 'single') {
      throw new Error(`IDLoss: unknown variant '${String(this.variant)}' (expected 'multi' or 'single')`);
    }
    const rng = new Rng((opts.seed ?? 0) + 21);
    const load = opts.load !== false;
    if (this.network === 'arcface') {
      const { file } = IDLoss.weightFiles(opts)[0]!;
      const have = load && checkWeightFile('arcface', file, opts.randomInit);
      this.arcface = new ArcFace(opts.arcface ?? ARCFACE_IRSE50, rng);
      if (have) {
        loadInto(this.arcface, readWeights('arcface', file), file);
        this.weightsFile = file;
      } else if (load) {
        this.randomInitialised.push('id.arcface');
      }
      this.arcface.eval().freeze();
    } else {
      this.faceapi = new FaceRecognitionNet(rng);
      if (load) {
        const file = opts.checkpoint ?? defaultFaceApiManifest();
        this.faceapi.loadTfjs(readTfjsWeights(file), `face-api weights ${file}`);
        this.weightsFile = file;
      }
      this.faceapi.eval().freeze();
    }
  }

  /** Input size of the recognition network. */
  get inputSize(): number {
    return this.arcface ? this.arcface.arcConfig.inputSize : FACEAPI_INPUT_SIZE;
  }

  /** Every level (stage features, then the embedding) of images in [-1, 1] at 256. */
  levels(x: Tensor): Tensor[] {
    const crop = faceCrop(x, this.inputSize);
    if (this.arcface) {
      const { stages, embedding } = this.arcface.forwardAll(crop);
      return [...stages, embedding];
    }
    const { stages, descriptor } = this.faceapi!.forwardAll(FaceRecognitionNet.preprocess(crop));
    return [...stages, descriptor];
  }

  /** The embedding (ArcFace: L2-normalised; face-api: the raw descriptor). */
  embed(x: Tensor): Tensor {
    const l = this.levels(x);
    return l[l.length - 1]!;
  }

  /** The loss of a reconstruction yHat against the target x (x's side detached). */
  forward(yHat: Tensor, x: Tensor): Tensor {
    const target = noGrad(() => this.levels(x));
    const pred = this.levels(yHat);
    return this.variant === 'multi'
      ? multiLevelCosineLoss(target, pred)
      : multiLevelCosineLoss(target.slice(-1), pred.slice(-1));
  }

  /** Per-image cosine similarity of the embeddings of a and b (no gradients): the identity metric. */
  similarity(a: Tensor, b: Tensor): Float32Array {
    return noGrad(() => {
      const ea = this.embed(a).toArray(), eb = this.embed(b).toArray();
      const n = a.shape[0]!, d = ea.length / n;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let dot = 0, na = 0, nb = 0;
        for (let j = 0; j < d; j++) {
          const u = ea[i * d + j]!, v = eb[i * d + j]!;
          dot += u * v; na += u * u; nb += v * v;
        }
        out[i] = dot / Math.max(Math.sqrt(na * nb), 1e-12);
      }
      return out;
    });
  }

  /** Moves the recognition network to `device` (in place). */
  to(device: Device): this {
    this.arcface?.to(device);
    this.faceapi?.to(device);
    return this;
  }

  release(): void {
    this.arcface?.release();
    this.faceapi?.release();
  }
}
