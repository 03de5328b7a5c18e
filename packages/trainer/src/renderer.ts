// Training the face-world generator as a renderer: the mapping network reads the parameter code of
// a face (instead of Gaussian z), the synthesis network draws it, and L2 + LPIPS pull the drawing
// towards facesjs's rendering of the same face. W then carries the faces' semantics, and sampling
// the generator is drawing random faces. The generator is the same StyleGAN2 code as the 1024 one.
import * as path from 'node:path';
import { Tensor, meanImageScores, noGrad, ops, resolveDevice, serializeSafetensors, writeFileAtomic, type StyleGAN2Generator } from '@sgi/core';
import { CombinedLoss } from '@sgi/losses';
import {
  FACE_SEEDS, FACE_STATISTICS_SEED, buildGenerator, faceCodes, fitDirection, readCheckpoint, renderedFaces, runCheckpoint, runDirFor, trainingFaceSeed, writeDirection, type Config,
} from '@sgi/experiment';
import { ATTRIBUTES, FACE_CODE_DIM, encodeFaces, faceLabels, renderBatch, sampleFaces } from '@sgi/faces';
import { makeOptimizer } from './optim/index.js';
import type { TrainingTask } from './loop.js';
import { SINGLE_PROCESS, type World } from './distributed.js';
import { emptyValidation, validationGrid, validationShard } from './inversion.js';

/** The file a renderer run writes beside its checkpoints: the generator as a rosinality-style checkpoint. */
export const GENERATOR_EXPORT = 'generator.safetensors';

interface RendererBatch {
  codes: Float32Array;
  images: Float32Array;
}

/** Images of the generator for codes [B, zDim]: one W per face, the same for every layer. */
function draw(generator: StyleGAN2Generator, codes: Tensor): Tensor {
  const B = codes.shape[0]!;
  const w = generator.mapping(codes);
  const wPlus = ops.expand(ops.reshape(w, [B, 1, generator.styleDim]), [B, generator.nLatent, generator.styleDim]);
  return generator.synthesis(wPlus, { noise: 'stored' });
}

/**
 * Writes the generator as {g_ema.*, latent_avg} (what `generator.checkpoint` reads), with its
 * architecture in the metadata (latent_avg: the mean W of random training faces), and beside it
 * directions/<attribute>.npy: InterFaceGAN editing directions fitted to the faces' labels in W
 * (directions/directions.json says how separable each attribute is and how far an edit must go).
 */
export function exportGenerator(c: Config, generator: StyleGAN2Generator, file: string): void {
  const n = c.generator.meanLatentSamples;
  const faces = sampleFaces(FACE_STATISTICS_SEED, n);
  const D = generator.styleDim;
  const w = noGrad(() => {
    const codes = Tensor.fromArray(encodeFaces(faces), [n, FACE_CODE_DIM], generator.device);
    const out = generator.mapping(codes);
    codes.release();
    const host = out.toArray();
    out.release();
    return host;
  });
  const latentAvg = new Float32Array(D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) latentAvg[d] += w[i * D + d]! / n;
  const entries: [string, { shape: readonly number[]; data: Float32Array }][] = [];
  for (const [k, t] of generator.stateDict()) entries.push([`g_ema.${k}`, { shape: t.shape, data: t.toArray() }]);
  entries.push(['latent_avg', { shape: [D], data: latentAvg }]);
  const { size, styleDim, nMlp, channels, lrMlp, input } = c.generator;
  writeFileAtomic(file, serializeSafetensors(entries, {
    sgi_generator: JSON.stringify({ size, styleDim, nMlp, channels, lrMlp, input, zDim: generator.zDim, trainedBy: c.name }),
  }));
  const labels = faces.map(faceLabels);
  const dir = path.join(path.dirname(file), 'directions');
  const summary: Record<string, unknown> = {};
  for (const attr of ATTRIBUTES) {
    const y = labels.map((l) => l[attr]);
    const positives = y.filter((v) => v === 1).length;
    if (positives < 10 || positives > n - 10) continue; // too rare in this world to fit
    const fit = fitDirection(w, y, D);
    writeDirection(path.join(dir, `${attr}.npy`), fit.normal, generator.nLatent);
    summary[attr] = { accuracy: fit.accuracy, separation: fit.separation, positives: fit.positives, count: fit.count };
  }
  writeFileAtomic(path.join(dir, 'directions.json'), `${JSON.stringify({ space: 'W (repeated on every layer of W+)', fittedOn: `${n} training faces`, directions: summary }, null, 2)}\n`);
}

/** Exports the best generator of a finished (or running) renderer run to `file` (see exportGenerator). */
export function exportRun(c: Config, runsRoot: string, file: string): string {
  if (c.kind !== 'renderer') throw new Error(`${c.name}: --export writes generators of renderer runs (kind: renderer); this config trains '${c.kind}'`);
  const runDir = runDirFor(c, runsRoot);
  const ck = runCheckpoint(runDir);
  if (!ck) throw new Error(`no checkpoint in ${runDir}: train it first (sgi train --config <this config>)`);
  const { generator, latentAvg } = buildGenerator(c, []);
  latentAvg.release();
  generator.loadStateDict(readCheckpoint(ck).model, { context: ck });
  exportGenerator(c, generator, file);
  generator.release();
  return file;
}

/** The task of training the generator of `c` as a renderer of face-world codes. */
export async function rendererTask(c: Config, world: World = SINGLE_PROCESS): Promise<TrainingTask<RendererBatch>> {
  const randomInit: string[] = [];
  const { generator, latentAvg } = buildGenerator(c, randomInit);
  latentAvg.release();
  const { device, why } = resolveDevice(c.device);
  generator.to(device).train().freeze(false);
  // the stored noise buffers are constants of the drawing, not weights
  for (const [k, t] of generator.stateDict()) if (k.startsWith('noises.')) t.requiresGrad = false;
  const loss = new CombinedLoss({ ...c.loss, seed: c.seed }).to(device);
  const S = c.generator.size, B = c.train.batchSize, V = c.train.valImages;
  if (c.encoder.inputSize !== S) throw new Error(`${c.name}: a renderer run compares the generator's ${S}x${S} images with renders at encoder.inputSize ${c.encoder.inputSize}: make them equal`);
  // a data-parallel job: rank r draws faces r*B .. r*B + B - 1 of the global batch (see inversion.ts)
  const first = (step: number) => trainingFaceSeed(c.seed, step, B * world.size) + world.rank * B;
  const valImages = Tensor.fromArray(await renderedFaces(FACE_SEEDS.heldOut, V, S), [V, 3, S, S], device);
  const valCodes = faceCodes(FACE_SEEDS.heldOut, V).moveTo(device);
  valImages.persistent = true;
  valCodes.persistent = true;
  const [valImagesShard, valCodesShard] = validationShard(world, valImages, valCodes);
  return {
    device: why,
    describe: `generator ${S}x${S} as a renderer of face-world codes, ${generator.numParameters().toLocaleString('en-US')} trainable parameters, faces rendered on the fly (validation: ${V} held-out faces)`,
    randomInit: [...randomInit.filter((r) => !r.startsWith('generator')), ...loss.randomInitialised],
    stage: 1,
    optimizer: makeOptimizer(c.train, generator.parameters().filter((p) => p.requiresGrad)),
    module: generator,
    imagesPerStep: B,
    stateDict: () => generator.stateDict(),
    loadStateDict: (state, context) => generator.loadStateDict(state, { context }),
    batch: async (step) => {
      const faces = sampleFaces(first(step), B); // drawn once: their codes and their renders
      return { codes: encodeFaces(faces), images: await renderBatch(faces, S) };
    },
    loss: (batch) => {
      const x = Tensor.fromArray(batch.images, [B, 3, S, S], device);
      const y = draw(generator, Tensor.fromArray(batch.codes, [B, FACE_CODE_DIM], device));
      return loss.forward(y, x);
    },
    validate: () => noGrad(() => {
      const count = valImagesShard!.shape[0]!;
      if (count === 0) return emptyValidation(S, loss.lpips !== null);
      const y = draw(generator, valCodesShard!);
      const scores = meanImageScores(valImagesShard!, y);
      const lpips = loss.lpips ? ops.mean(loss.lpips.distance(y, valImagesShard!)).item() : undefined;
      const picture = validationGrid(valImagesShard!, [y], 8);
      y.release();
      return { ...scores, count, lpips, ...picture };
    }),
    onBest: (runDir) => exportGenerator(c, generator, path.join(runDir, GENERATOR_EXPORT)),
  };
}
