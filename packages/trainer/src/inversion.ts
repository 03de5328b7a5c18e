// Training one encoder stage (the paper's inversion): data -> multi-stage inversion (earlier
// stages frozen, the generator frozen) -> L2 + LPIPS + ID + parsing -> Ranger/Adam.
import { Rng, Scope, Tensor, meanImageScores, noGrad, ops } from '@sgi/core';
import { CombinedLoss } from '@sgi/losses';
import { FACE_SEEDS, buildExperiment, listImages, renderedFaces, sampleGeneratorImages, type Config, type Experiment } from '@sgi/experiment';
import { FolderLoader, loadReadable, splitFiles } from './data.js';
import { makeOptimizer } from './optim/index.js';
import type { TrainingTask, Validation } from './loop.js';

/** Training images: an image folder, images the generator makes, or rendered faces of the built-in world. */
interface ImageSource {
  batch(step: number): Promise<Float32Array>;
  validation(): Promise<Tensor>;
  skipped?(): number;
  describe: string;
}

function folderSource(c: Config, log: (line: string) => void): ImageSource {
  const files = listImages(c.data.path!);
  const split = splitFiles(files, c.data.val, c.seed);
  if (split.train.length === 0) throw new Error(`${c.data.path}: all ${files.length} images went to validation; lower data.val`);
  const loader = new FolderLoader(split.train, c.encoder.inputSize, c.train.batchSize, c.seed, c.data.flip, { onSkip: (f, why) => log(`skipped unreadable training image ${f}: ${why}`) });
  const valFiles = split.val.slice(0, c.train.valImages);
  return {
    batch: async (step) => (await loader.load(step)).data,
    validation: async () => {
      const v = await loadReadable(valFiles, c.encoder.inputSize, (f, why) => log(`skipped unreadable validation image ${f}: ${why}`));
      if (!v) throw new Error(`${c.data.path}: none of the ${valFiles.length} validation image(s) could be read`);
      return v;
    },
    skipped: () => loader.skipped.size,
    describe: `${split.train.length} training / ${split.val.length} validation images from ${c.data.path}`,
  };
}

function syntheticSource(c: Config, exp: Experiment): ImageSource {
  const sample = (seed: number, count: number): Tensor => sampleGeneratorImages(exp, count, seed);
  return {
    batch: async (step) => {
      const scope = new Scope();
      try {
        return scope.run(() => sample(c.seed * 1000003 + step + 1, c.train.batchSize).toArray());
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
export function facesSource(c: Config, size: number): ImageSource & { first(step: number): number } {
  const B = c.train.batchSize;
  const first = (step: number) => FACE_SEEDS.train + ((c.seed * 1000003 + step * B) % (FACE_SEEDS.heldOut - B));
  return {
    first,
    batch: (step) => renderedFaces(first(step), B, size),
    validation: async () => Tensor.fromArray(await renderedFaces(FACE_SEEDS.heldOut, c.train.valImages, size), [c.train.valImages, 3, size, size]),
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

/** Validation of the inversion: reconstructions of the held-out images, PSNR/SSIM on 8-bit values, LPIPS. */
export function validate(exp: Experiment, loss: CombinedLoss, val: Tensor): Validation {
  return noGrad(() => {
    const wasTraining = exp.model.training;
    exp.model.eval();
    const { images } = exp.model.forward(val, { withImages: true });
    if (wasTraining) exp.stages[exp.stages.length - 1]!.train();
    const y = images[images.length - 1]!;
    const scores = meanImageScores(val, y);
    const lpips = loss.lpips ? ops.mean(loss.lpips.distance(y, val)).item() : undefined;
    const picture = validationGrid(val, images);
    for (const t of images) t.release();
    return { ...scores, lpips, ...picture };
  });
}

/** The task of training the last encoder stage of `c`. */
export async function inversionTask(c: Config, runsRoot: string, log: (line: string) => void): Promise<TrainingTask<Float32Array>> {
  const exp = buildExperiment(c, { runsRoot });
  const loss = new CombinedLoss({ ...c.loss, seed: c.seed });
  const stage = c.stages;
  const trained = exp.stages[stage - 1]!;
  trained.train();
  const S = c.encoder.inputSize, B = c.train.batchSize;
  const data = c.data.kind === 'folder' ? folderSource(c, log) : c.data.kind === 'facesjs' ? facesSource(c, S) : syntheticSource(c, exp);
  const val = await data.validation();
  val.persistent = true;
  return {
    describe: `stage ${stage} of ${c.stages}, ${trained.numParameters().toLocaleString('en-US')} trainable parameters, ${data.describe}`,
    randomInit: [...exp.randomInit, ...loss.randomInitialised],
    stage,
    optimizer: makeOptimizer(c.train, trained.parameters()),
    imagesPerStep: B,
    stateDict: () => exp.model.stateDict(),
    loadStateDict: (state, context) => exp.model.loadStateDict(state, { context }),
    batch: (step) => data.batch(step),
    loss: (batch, step) => {
      const x = Tensor.fromArray(batch, [B, 3, S, S]);
      const { images } = exp.model.forward(x, { trainFrom: stage, withImages: true, noise: c.train.noise, rng: new Rng(c.seed * 7919 + step) });
      return loss.forward(images[images.length - 1]!, x);
    },
    validate: () => validate(exp, loss, val),
    skipped: data.skipped,
  };
}
