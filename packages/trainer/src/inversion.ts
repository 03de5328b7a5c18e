// Training one encoder stage (the paper's inversion): data -> multi-stage inversion (earlier
// stages frozen, the generator frozen) -> L2 + LPIPS + ID + parsing -> Ranger/Adam.
import { Rng, Scope, Tensor, currentScope, meanImageScores, noGrad, ops, tidy } from '@sgi/core';
import { CombinedLoss } from '@sgi/losses';
import {
  FACE_SEEDS, buildExperiment, degradeSeed, describeTask, evalDegradeSeeds, listImages, loadImage, renderedFaces, sampleGeneratorImages, taskInput, taskOutput, trainingFaceSeed,
  type Config, type Experiment, type ImageOrigin, type Task,
} from '@sgi/experiment';
import { FolderLoader, splitFiles } from './data.js';
import { makeOptimizer } from './optim/index.js';
import type { TrainingTask, Validation } from './loop.js';
import { SINGLE_PROCESS, shardRange, type World } from './distributed.js';

// Data-parallel jobs: the global batch of step s is what one process would train on at batchSize x
// ranks, and rank r takes its images r*B .. r*B + B - 1 (B = train.batchSize). The ranks' parts are
// disjoint, their union is the single process's batch, and both depend only on (seed, step), so a
// resumed job continues the same shards.

/** Training images: an image folder, images the generator makes, or rendered faces of the built-in world. */
interface ImageSource {
  /** This rank's part of batch `step`: host data, or (generator samples) a tensor already on the device. */
  batch(step: number): Promise<Float32Array | Tensor>;
  validation(): Promise<Tensor>;
  /** Where the images of batch `step` came from (face-world seeds, or files and flips), read after batch(step): paired task inputs. */
  origin?(step: number): ImageOrigin;
  /** Where the validation images came from, read after validation(). */
  valOrigin?(): ImageOrigin;
  skipped?(): number;
  describe: string;
}

function folderSource(c: Config, log: (line: string) => void, world: World): ImageSource {
  const files = listImages(c.data.path!);
  const split = splitFiles(files, c.data.val, c.seed);
  if (split.train.length === 0) throw new Error(`${c.data.path}: all ${files.length} images went to validation; lower data.val`);
  const loader = new FolderLoader(split.train, c.encoder.inputSize, c.train.batchSize, c.seed, c.data.flip, {
    onSkip: (f, why) => log(`skipped unreadable training image ${f}: ${why}`), rank: world.rank, ranks: world.size,
  });
  const valFiles = split.val.slice(0, c.train.valImages);
  // the files of each loaded batch (unreadable ones replaced), until the task has read them
  const loaded = new Map<number, ImageOrigin>();
  let valRead: string[] = [];
  return {
    batch: async (step) => {
      const { data, files } = await loader.load(step);
      loaded.set(step, { files, flips: loader.filesAt(step).flips });
      return data;
    },
    origin: (step) => {
      const o = loaded.get(step) ?? {};
      loaded.delete(step);
      return o;
    },
    validation: async () => {
      const S = c.encoder.inputSize;
      const imgs = await Promise.all(valFiles.map(async (f) => {
        try {
          return await loadImage(f, S);
        } catch (e) {
          log(`skipped unreadable validation image ${f}: ${(e as Error).message}`);
          return null;
        }
      }));
      valRead = valFiles.filter((_, i) => imgs[i]);
      const ok = imgs.filter((x): x is Float32Array => x !== null);
      if (ok.length === 0) throw new Error(`${c.data.path}: none of the ${valFiles.length} validation image(s) could be read`);
      const data = new Float32Array(ok.length * 3 * S * S);
      ok.forEach((img, i) => data.set(img, i * 3 * S * S));
      return Tensor.fromArray(data, [ok.length, 3, S, S]);
    },
    valOrigin: () => ({ files: valRead }),
    skipped: () => loader.skipped.size,
    describe: `${split.train.length} training / ${split.val.length} validation images from ${c.data.path}`,
  };
}

function syntheticSource(c: Config, exp: Experiment, world: World): ImageSource {
  const sample = (seed: number, count: number): Tensor => sampleGeneratorImages(exp, count, seed);
  const B = c.train.batchSize;
  return {
    // every rank draws the global batch (the latents depend on the count) and keeps its part
    batch: async (step) => {
      const scope = new Scope();
      try {
        return scope.run(() => {
          const all = sample(c.seed * 1000003 + step + 1, B * world.size);
          // drawn on the training device and kept there (no host round trip)
          return scope.keep(world.size === 1 ? all : noGrad(() => ops.slice(all, 0, world.rank * B, (world.rank + 1) * B)));
        });
      } finally {
        scope.dispose();
      }
    },
    validation: async () => {
      const scope = new Scope();
      const t = scope.run(() => scope.keep(sample(0x7a11d + c.seed, c.train.valImages)));
      scope.dispose();
      return t;
    },
    describe: `synthetic images from the generator (truncation ${c.data.truncation})`,
  };
}

/** Faces of the built-in world, each step new ones (seeded by step), validation on held-out faces. */
export function facesSource(c: Config, size: number, world: World = SINGLE_PROCESS): ImageSource & { first(step: number): number } {
  const B = c.train.batchSize;
  const first = (step: number) => trainingFaceSeed(c.seed, step, B * world.size) + world.rank * B;
  const seeds = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
  return {
    first,
    batch: (step) => renderedFaces(first(step), B, size),
    origin: (step) => ({ faceSeeds: seeds(first(step), B) }),
    validation: async () => Tensor.fromArray(await renderedFaces(FACE_SEEDS.heldOut, c.train.valImages, size), [c.train.valImages, 3, size, size]),
    valOrigin: () => ({ faceSeeds: seeds(FACE_SEEDS.heldOut, c.train.valImages) }),
    describe: `faces of the built-in world rendered on the fly (validation: ${c.train.valImages} held-out faces)`,
  };
}

/** Grid rows: each held-out image followed by its outputs. */
export function validationGrid(inputs: Tensor, outputs: Tensor[], rows = 4): Pick<Validation, 'grid' | 'cols' | 'size'> {
  const n = Math.min(rows, inputs.shape[0]!);
  const plane = inputs.numel / inputs.shape[0]!;
  const input = inputs.toArray();
  const outs = outputs.map((t) => t.toArray());
  const grid: Validation['grid'] = [];
  for (let i = 0; i < n; i++) {
    grid.push({ data: input, offset: i * plane });
    for (const o of outs) grid.push({ data: o, offset: i * plane });
  }
  return { grid, cols: 1 + outs.length, size: inputs.shape[3]! };
}

/**
 * Validation of the inversion: reconstructions of the held-out images, PSNR/SSIM on 8-bit values,
 * LPIPS. With a task, the encoder sees `val` (the degraded images) and the output is scored against
 * the clean `target`; the grid shows input | each stage | target.
 */
export function validate(exp: Experiment, loss: CombinedLoss, val: Tensor, target: Tensor = val, task?: Task): Validation {
  if (val.shape[0] === 0) return emptyValidation(val.shape[3]!, loss.lpips !== null);
  // every tensor made here (the stages' images, the task's output, the scores' temporaries) goes at the end
  return tidy(() => noGrad(() => {
    const wasTraining = exp.model.training;
    exp.model.eval();
    const { images } = exp.model.forward(val, { withImages: true });
    if (wasTraining) exp.stages[exp.stages.length - 1]!.train();
    const last = images.length - 1;
    images[last] = taskOutput(task, val, images[last]!);
    const y = images[last]!;
    const scores = meanImageScores(target, y);
    const lpips = loss.lpips ? ops.mean(loss.lpips.distance(y, target)).item() : undefined;
    const picture = validationGrid(val, target === val ? images : [...images, target]);
    return { ...scores, count: val.shape[0]!, lpips, ...picture };
  }));
}

/** A rank's validation when it holds none of the validation images (fewer images than ranks). */
export function emptyValidation(size: number, lpips: boolean): Validation {
  return { count: 0, psnr: 0, ssim: 0, lpips: lpips ? 0 : undefined, grid: [], cols: 1, size };
}

/** Rows [from, to) of each tensor: this rank's part of the validation set (the tensors themselves with one process). */
export function validationShard(world: World, ...ts: Tensor[]): Tensor[] {
  if (world.size === 1) return ts;
  const [from, to] = shardRange(ts[0]!.shape[0]!, world.rank, world.size);
  return ts.map((t) => {
    const part = noGrad(() => ops.slice(t, 0, from, to));
    part.persistent = true;
    return part;
  });
}

/** A training batch: what the encoder sees and the clean images it must reproduce (the same array without a task). */
export interface InversionBatch {
  input: Float32Array | Tensor;
  target: Float32Array | Tensor;
}

/** The task of training the last encoder stage of `c`. */
export async function inversionTask(c: Config, runsRoot: string, log: (line: string) => void, world: World = SINGLE_PROCESS): Promise<TrainingTask<InversionBatch>> {
  const exp = buildExperiment(c, { runsRoot });
  const loss = new CombinedLoss({ ...c.loss, seed: c.seed }).to(exp.device);
  const device = exp.device;
  const stage = c.stages;
  const trained = exp.stages[stage - 1]!;
  trained.train();
  const S = c.encoder.inputSize, B = c.train.batchSize;
  const data = c.data.kind === 'folder' ? folderSource(c, log, world) : c.data.kind === 'facesjs' ? facesSource(c, S, world) : syntheticSource(c, exp, world);
  const val = (await data.validation()).moveTo(device);
  val.persistent = true;
  // a task: the encoder sees degraded (or translated) images, seeded per step and image in
  // training and by index in validation; the clean images stay the targets
  const task = c.task;
  let valInput = val;
  let baseline = '';
  if (task) {
    const n = val.shape[0]!;
    const input = await taskInput(task, val.toArray(), S, evalDegradeSeeds(n), data.valOrigin?.() ?? {});
    valInput = Tensor.fromArray(input, [n, 3, S, S], device);
    valInput.persistent = true;
    const b = noGrad(() => meanImageScores(val, valInput));
    baseline = `, task ${describeTask(task)} (identity baseline on validation: PSNR ${b.psnr.toFixed(2)} dB, SSIM ${b.ssim.toFixed(3)})`;
  }
  const [valInputShard, valShard] = validationShard(world, valInput, val);
  // generator noise 'random': each rank draws its own (rank 0 the single process's)
  const noiseSeed = (step: number) => c.seed * 7919 + step + world.rank * 2 ** 28;
  return {
    device: exp.deviceWhy,
    describe: `stage ${stage} of ${c.stages}, ${trained.numParameters().toLocaleString('en-US')} trainable parameters, ${data.describe}${baseline}`,
    randomInit: [...exp.randomInit, ...loss.randomInitialised],
    stage,
    optimizer: makeOptimizer(c.train, trained.parameters()),
    module: trained,
    imagesPerStep: B,
    stateDict: () => exp.model.stateDict(),
    loadStateDict: (state, context) => exp.model.loadStateDict(state, { context }),
    batch: async (step) => {
      let target = await data.batch(step);
      const origin = data.origin?.(step) ?? {};
      if (!task) return { input: target, target };
      // the degradations run on the host
      if (target instanceof Tensor) {
        const t = target;
        target = t.toArray();
        t.release();
      }
      const seeds = Array.from({ length: B }, (_, i) => degradeSeed(c.seed, step, world.rank * B + i));
      return { input: await taskInput(task, target, S, seeds, origin), target };
    },
    loss: (batch, step) => {
      // a batch already on the device belongs to this step's scope from here on
      const onDevice = (d: Float32Array | Tensor) => (d instanceof Tensor ? (currentScope()?.track(d), d) : Tensor.fromArray(d, [B, 3, S, S], device));
      const y = onDevice(batch.target);
      const x = batch.input === batch.target ? y : onDevice(batch.input);
      const { images } = exp.model.forward(x, { trainFrom: stage, withImages: true, noise: c.train.noise, rng: new Rng(noiseSeed(step)) });
      return loss.forward(taskOutput(task, x, images[images.length - 1]!), y);
    },
    validate: () => validate(exp, loss, valInputShard!, valShard!, task),
    skipped: data.skipped,
  };
}
