// A small attribute classifier for the built-in face world (@sgi/faces): it predicts the seven
// binary attributes of ATTRIBUTES from a 64x64 render, so an edit along a latent direction (glasses,
// smile, ...) can be checked: the edited attribute should flip, the others should stay.
//
// The shipped architecture (DEFAULT_ATTRIBUTE_NET_CONFIG; parameter names in brackets):
//   [conv.0]  conv 3x3 s2 p1 (3->16)   64 -> 32, leaky ReLU 0.2
//   [conv.1]  conv 3x3 s2 p1 (16->32)  32 -> 16, leaky ReLU 0.2
//   [conv.2]  conv 3x3 s2 p1 (32->64)  16 -> 8,  leaky ReLU 0.2
//   [conv.3]  conv 3x3 s2 p1 (64->64)   8 -> 4,  leaky ReLU 0.2
//   [head]    flatten (64 x 4 x 4 = 1024), linear 1024 -> 7 logits (ATTRIBUTES order)
// 67,687 parameters (272 kB as float32). The flattened head keeps where a feature is: with a
// global average pool instead ('gap') the same convolutions do not learn smile (a few pixels of
// mouth shape) and miss thin facial hair (held-out smile 0.69-0.72, facialHair 0.91-0.92 after 600
// steps, against 0.995 and 0.987 with the flattened head).
//
// Input [B, 3, 64, 64] in [-1, 1] (renderBatch's layout). Trained with binary cross-entropy on
// logits on faces rendered on the fly from the training seed range; evaluated on the held-out range.
// The shipped weights are pretrained/faces/attributes.safetensors (packages/eval/src/bin/train_attributes.ts).
import * as path from 'node:path';
import {
  Module, Rng, Scope, Tensor, native, nn, noGrad, ops, readSafetensors, writeSafetensors,
} from '@sgi/core';
import { ATTRIBUTES, SEEDS, faceLabels, renderBatch, sampleFace, type Attribute, type WorldFace } from '@sgi/faces';
import { DEFAULT_WEIGHTS_DIR, workspaceRoot } from '@sgi/experiment';

/** Side of the images the classifier reads. */
export const ATTRIBUTE_IMAGE_SIZE = 64;

/** The layers of a FaceAttributeNet: 3x3 convolutions (padding 1) with their strides, then the head. */
export interface AttributeNetConfig {
  channels: number[];
  strides: number[];
  /** 'gap': global average pool then linear; 'flatten': the last feature map flattened then linear (needs 64x64 input). */
  head: 'gap' | 'flatten';
}

/** The architecture of the shipped weights. */
export const DEFAULT_ATTRIBUTE_NET_CONFIG: AttributeNetConfig = { channels: [16, 32, 64, 64], strides: [2, 2, 2, 2], head: 'flatten' };
/** Slope of the leaky ReLUs. */
const SLOPE = 0.2;

/** A one-line description of an architecture (stored in the weight file's metadata). */
export function describeAttributeNet(cfg: AttributeNetConfig): string {
  const convs = cfg.channels.map((c, i) => `conv3x3 s${cfg.strides[i]} ${i === 0 ? 3 : cfg.channels[i - 1]}->${c}`).join(', ');
  return `FaceAttributeNet: [${convs}] each + leakyReLU ${SLOPE}, ${cfg.head === 'gap' ? 'global avg pool' : 'flatten'}, linear -> ${ATTRIBUTES.length} logits`;
}

/** The shipped weights, relative to the workspace's pretrained/ folder. */
export const ATTRIBUTE_NET_FILE = 'faces/attributes.safetensors';
/** Held-out accuracy the shipped weights must reach on these attributes (smile and hat are reported only). */
export const ATTRIBUTE_ACCURACY_TARGETS: Partial<Record<Attribute, number>> = {
  glasses: 0.95, facialHair: 0.95, lightHair: 0.95, darkSkin: 0.95, female: 0.95,
};

/** The path of the shipped weights in a workspace. */
export function defaultAttributeNetPath(workspace = workspaceRoot()): string {
  return path.join(workspace, DEFAULT_WEIGHTS_DIR, ATTRIBUTE_NET_FILE);
}

function checkConfig(cfg: AttributeNetConfig): void {
  const ok = Array.isArray(cfg.channels) && Array.isArray(cfg.strides) && cfg.channels.length > 0 && cfg.channels.length === cfg.strides.length
    && cfg.channels.every((c) => Number.isInteger(c) && c > 0) && cfg.strides.every((s) => s === 1 || s === 2) && (cfg.head === 'gap' || cfg.head === 'flatten');
  if (!ok) throw new Error(`FaceAttributeNet: invalid architecture ${JSON.stringify(cfg)}`);
}

/** Side of the last feature map for a 64x64 input. */
function lastSide(cfg: AttributeNetConfig): number {
  return cfg.strides.reduce((side, s) => Math.floor((side + 2 - 3) / s) + 1, ATTRIBUTE_IMAGE_SIZE);
}

export class FaceAttributeNet extends Module {
  readonly convs: nn.Conv2d[];
  readonly head: nn.Linear;
  constructor(readonly config: AttributeNetConfig = DEFAULT_ATTRIBUTE_NET_CONFIG, rng: Rng = new Rng(0)) {
    super();
    checkConfig(config);
    const chans = [3, ...config.channels];
    const convs = config.channels.map((c, i) => new nn.Conv2d(chans[i]!, c, 3, { stride: config.strides[i], padding: 1, rng }));
    this.child('conv', new nn.ModuleList(convs));
    this.convs = convs;
    const last = config.channels.at(-1)!;
    const features = config.head === 'gap' ? last : last * lastSide(config) ** 2;
    this.head = this.child('head', new nn.Linear(features, ATTRIBUTES.length, { rng }));
  }

  /** Logits [B, 7] (ATTRIBUTES order) of images [B, 3, 64, 64] in [-1, 1]. */
  forward(x: Tensor): Tensor {
    const s = ATTRIBUTE_IMAGE_SIZE;
    if (x.ndim !== 4 || x.shape[1] !== 3 || x.shape[2] !== s || x.shape[3] !== s) {
      throw new Error(`FaceAttributeNet: expected images [B, 3, ${s}, ${s}], got [${x.shape.join(', ')}]`);
    }
    let h = x;
    for (const conv of this.convs) h = ops.leakyRelu(conv.forward(h), SLOPE);
    return this.head.forward(this.config.head === 'gap' ? ops.mean(h, [2, 3]) : ops.flatten(h, 1));
  }
}

/**
 * Binary cross-entropy on logits, averaged over every element (PyTorch's
 * binary_cross_entropy_with_logits, reduction 'mean'), in the stable form
 *   max(x, 0) - x y + log(1 + exp(-|x|)).
 * `targets` are in [0, 1] and get no gradient.
 */
export function bceWithLogits(logits: Tensor, targets: Tensor): Tensor {
  if (logits.shape.length !== targets.shape.length || logits.shape.some((d, i) => d !== targets.shape[i])) {
    throw new Error(`bceWithLogits: logits [${logits.shape.join(', ')}] and targets [${targets.shape.join(', ')}] differ in shape`);
  }
  if (logits.numel === 0) throw new Error('bceWithLogits: empty inputs');
  const y = targets.detach();
  const softplusNegAbs = ops.log(ops.addScalar(ops.exp(ops.neg(ops.abs(logits))), 1));
  return ops.mean(ops.add(ops.sub(ops.relu(logits), ops.mul(logits, y)), softplusNegAbs));
}

/**
 * Probabilities [B, 7] (row-major, ATTRIBUTES order) of images [B, 3, S, S] in [-1, 1]. The net
 * reads 64x64; larger square images whose side is a multiple of 64 (a 128 or 256 generator's
 * output) are first reduced by averaging (area downsampling).
 */
export function predictAttributes(net: FaceAttributeNet, images: Tensor): Float32Array {
  const s = ATTRIBUTE_IMAGE_SIZE;
  const [, c, h, w] = images.shape;
  const scope = new Scope();
  try {
    return scope.run(() => noGrad(() => {
      const x = images.ndim === 4 && c === 3 && h === w && h! > s && h! % s === 0 ? ops.adaptiveAvgPool2d(images, [s, s]) : images;
      return ops.sigmoid(net.forward(x)).toArray();
    }));
  } finally {
    scope.dispose();
  }
}

/** The label vectors [count, 7] (0/1, ATTRIBUTES order) of faces. */
export function attributeTargets(faces: readonly WorldFace[]): Float32Array {
  const out = new Float32Array(faces.length * ATTRIBUTES.length);
  faces.forEach((f, i) => {
    const l = faceLabels(f);
    ATTRIBUTES.forEach((a, k) => { out[i * ATTRIBUTES.length + k] = l[a]; });
  });
  return out;
}

/** Faces with consecutive seeds rendered for the classifier: images [count, 3, 64, 64] and targets [count, 7] (host arrays). */
export async function renderAttributeBatch(firstSeed: number, count: number): Promise<{ images: Float32Array; targets: Float32Array }> {
  const faces = Array.from({ length: count }, (_, i) => sampleFace(firstSeed + i));
  return { images: await renderBatch(faces, ATTRIBUTE_IMAGE_SIZE), targets: attributeTargets(faces) };
}

/** Writes the net's weights (atomic) with string metadata; the architecture name is always recorded. */
export function saveAttributeNet(net: FaceAttributeNet, file: string, metadata: Record<string, string> = {}): void {
  writeSafetensors(file, [...net.stateDict()].map(([k, t]) => [k, { shape: t.shape, data: t.toArray() }]),
    {
      ...metadata,
      architecture: describeAttributeNet(net.config),
      config: JSON.stringify(net.config),
      attributes: JSON.stringify(ATTRIBUTES),
      imageSize: String(ATTRIBUTE_IMAGE_SIZE),
    });
}

/** Loads weights written by saveAttributeNet (default: the shipped pretrained/faces/attributes.safetensors), in eval mode. */
export function loadAttributeNet(file = defaultAttributeNetPath()): { net: FaceAttributeNet; metadata: Record<string, string> } {
  const { tensors, metadata } = readSafetensors(file);
  let config: AttributeNetConfig;
  try {
    config = JSON.parse(metadata.config ?? '') as AttributeNetConfig;
    checkConfig(config);
  } catch (err) {
    throw new Error(`${file}: no valid FaceAttributeNet architecture in the metadata (config: ${metadata.config ?? 'missing'}): ${(err as Error).message}`);
  }
  if (metadata.attributes !== undefined && metadata.attributes !== JSON.stringify(ATTRIBUTES)) {
    throw new Error(`${file}: attributes ${metadata.attributes} differ from this build's ${JSON.stringify(ATTRIBUTES)}`);
  }
  const net = new FaceAttributeNet(config);
  net.loadStateDict(tensors, { context: file });
  return { net: net.eval(), metadata };
}

/**
 * Adam (PyTorch's torch.optim.Adam, no weight decay) on the host: the net is small (about 68k
 * parameters), so moments live in Float32Arrays and each step copies parameters out and back.
 * Works for parameters on any device. @sgi/eval does not depend on @sgi/trainer's optimizers.
 */
export class HostAdam {
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  private t = 0;
  constructor(readonly params: readonly Tensor[], public lr = 1e-3, readonly betas: readonly [number, number] = [0.9, 0.999], readonly eps = 1e-8) {
    this.m = params.map((p) => new Float64Array(p.numel));
    this.v = params.map((p) => new Float64Array(p.numel));
  }

  /** One update of every parameter that has a gradient; releases the gradients. */
  step(): void {
    this.t += 1;
    const [b1, b2] = this.betas;
    const step = this.lr / (1 - b1 ** this.t);
    const denomDiv = Math.sqrt(1 - b2 ** this.t);
    this.params.forEach((p, i) => {
      const gt = p.grad;
      if (!gt || gt.released) return;
      const g = gt.toArray();
      const w = p.toArray();
      const m = this.m[i]!;
      const v = this.v[i]!;
      for (let k = 0; k < w.length; k++) {
        const gk = g[k]!;
        m[k] = b1 * m[k]! + (1 - b1) * gk;
        v[k] = b2 * v[k]! + (1 - b2) * gk * gk;
        w[k] = w[k]! - (step * m[k]!) / (Math.sqrt(v[k]!) / denomDiv + this.eps);
      }
      const src = Tensor.fromArray(w, p.shape, p.device);
      native.copyInto(p.storage, src.storage);
      src.release();
      gt.release();
      p.grad = null;
    });
  }
}

export interface TrainAttributeOptions {
  steps: number;
  batchSize: number;
  lr: number;
  /** Seeds the initial weights and which training faces are drawn. */
  seed: number;
  /** Called every logEvery steps (and at the last) with a progress line. */
  log?: (line: string, info: { step: number; loss: number; seconds: number }) => void;
  logEvery?: number;
  /** Architecture of a new net (default DEFAULT_ATTRIBUTE_NET_CONFIG). */
  config?: AttributeNetConfig;
  /** Continue training this net (a new one otherwise). */
  net?: FaceAttributeNet;
  /** Cosine decay of the learning rate to lr * minLrFactor over the steps (default 0.05); 1 keeps it constant. */
  minLrFactor?: number;
}

export interface TrainAttributeResult {
  net: FaceAttributeNet;
  /** Mean loss of each step. */
  losses: number[];
  seconds: number;
  images: number;
}

/** Size of the slice of the training seed range each training seed draws from. */
const TRAIN_SLICE = 2 ** 24;

/** First face seed of training step `step` (faces are never repeated within a run; all in SEEDS.train's range, below SEEDS.heldOut). */
export function trainingSeed(seed: number, step: number, batchSize: number): number {
  const slice = ((seed % 64) + 64) % 64;
  const first = SEEDS.train + slice * TRAIN_SLICE + step * batchSize;
  if (step * batchSize + batchSize > TRAIN_SLICE) throw new Error(`trainAttributeNet: more than ${TRAIN_SLICE} training faces per run`);
  return first;
}

/**
 * Trains the classifier on faces rendered on the fly (each step a fresh batch of training seeds;
 * the next batch renders on sharp's threads while the current step computes), with BCE on logits
 * and Adam, the learning rate decayed by a cosine.
 */
export async function trainAttributeNet(opts: TrainAttributeOptions): Promise<TrainAttributeResult> {
  const { steps, batchSize, lr, seed } = opts;
  if (!Number.isInteger(steps) || steps < 0) throw new Error(`trainAttributeNet: steps must be an integer >= 0, got ${steps}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`trainAttributeNet: batchSize must be an integer >= 1, got ${batchSize}`);
  if (!(lr > 0)) throw new Error(`trainAttributeNet: lr must be > 0, got ${lr}`);
  const net = opts.net ?? new FaceAttributeNet(opts.config ?? DEFAULT_ATTRIBUTE_NET_CONFIG, new Rng(seed));
  net.train();
  const adam = new HostAdam(net.parameters(), lr);
  const minLr = opts.minLrFactor ?? 0.05;
  const logEvery = opts.logEvery ?? 50;
  const losses: number[] = [];
  const start = Date.now();
  const s = ATTRIBUTE_IMAGE_SIZE;
  let next = steps > 0 ? renderAttributeBatch(trainingSeed(seed, 0, batchSize), batchSize) : null;
  for (let step = 0; step < steps; step++) {
    const batch = await next!;
    next = step + 1 < steps ? renderAttributeBatch(trainingSeed(seed, step + 1, batchSize), batchSize) : null;
    adam.lr = lr * (minLr + (1 - minLr) * 0.5 * (1 + Math.cos((Math.PI * step) / Math.max(1, steps))));
    const scope = new Scope();
    let loss: number;
    try {
      loss = scope.run(() => {
        const x = Tensor.fromArray(batch.images, [batchSize, 3, s, s]);
        const y = Tensor.fromArray(batch.targets, [batchSize, ATTRIBUTES.length]);
        const l = bceWithLogits(net.forward(x), y);
        l.backward();
        return l.item();
      });
    } finally {
      scope.dispose();
    }
    adam.step();
    losses.push(loss);
    if (opts.log && ((step + 1) % logEvery === 0 || step + 1 === steps)) {
      const window = losses.slice(-logEvery);
      const avg = window.reduce((a, b) => a + b, 0) / window.length;
      const seconds = (Date.now() - start) / 1000;
      opts.log(`step ${step + 1}/${steps}  loss ${avg.toFixed(4)}  lr ${adam.lr.toExponential(2)}  ${((step + 1) * batchSize / seconds).toFixed(1)} img/s  ${seconds.toFixed(0)} s`,
        { step: step + 1, loss: avg, seconds });
    }
  }
  net.eval();
  return { net, losses, seconds: (Date.now() - start) / 1000, images: steps * batchSize };
}

export interface AttributeAccuracy {
  /** Fraction of faces whose thresholded (p > 0.5) prediction matches the label, per attribute. */
  accuracy: Record<Attribute, number>;
  /** Fraction of faces with the attribute, per attribute (the base rate). */
  positives: Record<Attribute, number>;
  count: number;
  firstSeed: number;
}

/** Accuracy per attribute on `count` held-out faces (seeds SEEDS.heldOut, SEEDS.heldOut + 1, ...). */
export async function evaluateAttributeNet(net: FaceAttributeNet, count: number, opts: { batchSize?: number; firstSeed?: number } = {}): Promise<AttributeAccuracy> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`evaluateAttributeNet: count must be an integer >= 1, got ${count}`);
  const batchSize = opts.batchSize ?? 50;
  const firstSeed = opts.firstSeed ?? SEEDS.heldOut;
  const k = ATTRIBUTES.length;
  const correct = new Array<number>(k).fill(0);
  const pos = new Array<number>(k).fill(0);
  const wasTraining = net.training;
  net.eval();
  const s = ATTRIBUTE_IMAGE_SIZE;
  for (let i = 0; i < count; i += batchSize) {
    const n = Math.min(batchSize, count - i);
    const batch = await renderAttributeBatch(firstSeed + i, n);
    const x = Tensor.fromArray(batch.images, [n, 3, s, s]);
    const p = predictAttributes(net, x);
    x.release();
    for (let j = 0; j < n * k; j++) {
      const t = batch.targets[j]!;
      if ((p[j]! > 0.5 ? 1 : 0) === t) correct[j % k]! += 1;
      pos[j % k]! += t;
    }
  }
  net.train(wasTraining);
  const per = (xs: number[]) => Object.fromEntries(ATTRIBUTES.map((a, i) => [a, xs[i]! / count])) as Record<Attribute, number>;
  return { accuracy: per(correct), positives: per(pos), count, firstSeed };
}
