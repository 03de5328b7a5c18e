// The inversion API every application is built on: a trained config (its run's best checkpoint, or
// a given one) turns images into W+ codes and W+ codes back into images. Host arrays in and out
// (Float32Array, CHW images in [-1, 1] at the encoder's input size, codes [B, nLatent, styleDim]),
// so applications never hold engine tensors across awaits.
import * as fs from 'node:fs';
import { Scope, Tensor, noGrad, type DeviceChoice } from '@sgi/core';
import { buildExperiment, loadConfig, loadImage, runCheckpoint, runDirFor, runsRoot as defaultRunsRoot, taskOutput, type Config, type Experiment } from '@sgi/experiment';

export interface InvertedBatch {
  /** Final W+ codes [B, nLatent, styleDim], row-major. */
  codes: Float32Array;
  /** Reconstruction after each stage, [B, 3, S, S] each. */
  stages: Float32Array[];
  /** What the config's run outputs [B, 3, S, S]: the last stage's image, after its task's output rule (taskOutput). */
  output: Float32Array;
}

export class Inverter {
  readonly size: number;
  readonly nLatent: number;
  readonly styleDim: number;

  private constructor(readonly config: Config, readonly checkpoint: string, readonly exp: Experiment) {
    this.size = config.encoder.inputSize;
    this.nLatent = exp.generator.nLatent;
    this.styleDim = exp.generator.styleDim;
    exp.model.eval();
  }

  /** The inverter of a trained config: its run's best (else newest) checkpoint unless `checkpoint` is given. */
  static load(configFile: string, opts: { checkpoint?: string; runsRoot?: string; device?: DeviceChoice } = {}): Inverter {
    const config = loadConfig(configFile);
    const runsRoot = opts.runsRoot ?? defaultRunsRoot();
    let checkpoint = opts.checkpoint;
    if (checkpoint && !fs.existsSync(checkpoint)) throw new Error(`checkpoint not found: ${checkpoint}`);
    if (!checkpoint) {
      const runDir = runDirFor(config, runsRoot);
      checkpoint = runCheckpoint(runDir) ?? undefined;
      if (!checkpoint) {
        throw new Error(`no checkpoint for '${config.name}' in ${runDir}: train one first with \`sgi train --config ${configFile}\` (or npx nx run trainer:train for the tiny default), or pass --checkpoint`);
      }
    }
    return new Inverter(config, checkpoint, buildExperiment(config, { runsRoot, checkpoint, device: opts.device }));
  }

  /** Shape of one W+ code. */
  get codeShape(): [number, number] {
    return [this.nLatent, this.styleDim];
  }

  /** Reads an image file at the encoder's input size (CHW floats in [-1, 1]). */
  readImage(file: string): Promise<Float32Array> {
    return loadImage(file, this.size);
  }

  /** Inverts B images [B, 3, S, S]. */
  invert(images: Float32Array): InvertedBatch {
    const B = this.batchOf(images, 3 * this.size * this.size, 'images');
    const scope = new Scope();
    try {
      return scope.run(() => noGrad(() => {
        const x = Tensor.fromArray(images, [B, 3, this.size, this.size], this.exp.device);
        const r = this.exp.model.forward(x, { withImages: true });
        const stages = r.images.map((t) => t.toArray());
        const last = r.images[r.images.length - 1]!;
        const output = taskOutput(this.config.task, x, last);
        return { codes: r.codes[r.codes.length - 1]!.toArray(), stages, output: output === last ? stages[stages.length - 1]! : output.toArray() };
      }));
    } finally {
      scope.dispose();
    }
  }

  /** Images [B, 3, S, S] of W+ codes [B, nLatent, styleDim] (the generator's stored noise; face-pooled to S). */
  synthesize(codes: Float32Array): Float32Array {
    const B = this.batchOf(codes, this.nLatent * this.styleDim, 'W+ codes');
    const scope = new Scope();
    try {
      return scope.run(() => noGrad(() => {
        const w = Tensor.fromArray(codes, [B, this.nLatent, this.styleDim], this.exp.device);
        return this.exp.model.facePool(this.exp.generator.synthesis(w, { noise: 'stored' })).toArray();
      }));
    } finally {
      scope.dispose();
    }
  }

  /** Checks that `data` holds whole items of `per` values; returns how many. */
  private batchOf(data: Float32Array, per: number, what: string): number {
    if (data.length === 0 || data.length % per !== 0) {
      const shape = what === 'images' ? `[B, 3, ${this.size}, ${this.size}]` : `[B, ${this.nLatent}, ${this.styleDim}]`;
      throw new Error(`${what}: ${data.length} values do not make a batch of shape ${shape}`);
    }
    return data.length / per;
  }

  release(): void {
    this.exp.model.release();
    this.exp.generator.release();
  }
}

/** Checks a latent or direction read from a file against the generator's W+ shape, naming both. */
export function checkCodeShape(what: string, shape: readonly number[], nLatent: number, styleDim: number): void {
  const ok = (shape.length === 2 && shape[0] === nLatent && shape[1] === styleDim) || (shape.length === 3 && shape[0] === 1 && shape[1] === nLatent && shape[2] === styleDim);
  if (!ok) throw new Error(`${what} has shape [${shape.join(', ')}], but this generator's W+ is [${nLatent}, ${styleDim}]`);
}

