// The built-in face world as the experiments see it: rendered faces as image batches, and the
// parameter codes a face-world generator ('facesjs' input) maps to W.
import { Tensor } from '@sgi/core';
import { FACE_CODE_DIM, SEEDS, encodeFaces, renderBatch, sampleFaces } from '@sgi/faces';

/** Seeds of the world's splits (training, held-out evaluation, demos). */
export { SEEDS as FACE_SEEDS } from '@sgi/faces';

/**
 * Held-out seeds before this offset are for validation during training; evaluation (tables, the
 * face-world report) starts here, so no evaluated face was ever looked at while training.
 */
export const FACE_EVAL_OFFSET = 4096;

/** The training faces the mean latent and the editing directions are computed over. */
export const FACE_STATISTICS_SEED = SEEDS.train + 0x5eed0;

/** First seed of the training faces of step `step` (batches of `batchSize`, never reaching the held-out range). */
export function trainingFaceSeed(runSeed: number, step: number, batchSize: number): number {
  return SEEDS.train + ((runSeed * 1000003 + step * batchSize) % (SEEDS.heldOut - batchSize));
}

/** Faces of seeds first .. first + count - 1, rendered at size: [count, 3, size, size] floats in [-1, 1]. */
export function renderedFaces(first: number, count: number, size: number): Promise<Float32Array> {
  return renderBatch(sampleFaces(first, count), size);
}

/** Parameter codes of those faces as a tensor [count, FACE_CODE_DIM]. */
export function faceCodes(first: number, count: number): Tensor {
  return Tensor.fromArray(encodeFaces(sampleFaces(first, count)), [count, FACE_CODE_DIM]);
}

/** Held-out faces (never drawn in training) for validation and evaluation. */
export function heldOutFaces(count: number, size: number, offset = 0): Promise<Float32Array> {
  return renderedFaces(SEEDS.heldOut + offset, count, size);
}
