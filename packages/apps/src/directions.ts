// Editing directions for a user's own generator (InterFaceGAN's method, as the paper uses it):
// invert a folder of faces with an attribute and one without, and fit the linear boundary between
// their codes (logistic regression, fitDirection in @sgi/experiment).
//
// Where the boundary is fitted: by default in W, each W+ code averaged over its layers first
// (space 'w'). InterFaceGAN's boundaries live in W, the shipped directions are W normals repeated
// on every layer, and with a few dozen images per folder a D-dimensional fit is far better
// conditioned than one over nLatent x D values. The W+ direction is the unit normal repeated on
// every layer, so a strength s moves every layer (and the layer average) by s along it.
// Space 'wplus' fits on the flattened W+ codes instead: the direction is then the unit normal in
// nLatent x D values (different per layer), for generators whose layers carry the attribute apart.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fitDirection, wPlusDirection } from '@sgi/experiment';
import type { Inverter } from './inverter.js';
import { codeValues, inputImages, type CodeShape, type Latent } from './latents.js';

export type DirectionSpace = 'w' | 'wplus';
export const DIRECTION_SPACES: readonly DirectionSpace[] = ['w', 'wplus'];

export interface LatentDirection {
  /** W+ direction [nLatent * styleDim] (points from the negative codes towards the positive ones). */
  direction: Float32Array;
  shape: [number, number];
  space: DirectionSpace;
  /** Training accuracy of the boundary (1: the folders' codes are linearly separable). */
  accuracy: number;
  /** Mean projection of the positive codes minus that of the negative ones, onto the unit normal. */
  separation: number;
  positives: number;
  negatives: number;
  count: number;
}

/** The average of a W+ code's layers: a code in W [styleDim]. */
export function meanOverLayers(code: Float32Array, s: CodeShape): Float32Array {
  const w = new Float32Array(s.styleDim);
  const acc = new Float64Array(s.styleDim);
  for (let l = 0; l < s.nLatent; l++) for (let d = 0; d < s.styleDim; d++) acc[d] += code[l * s.styleDim + d]!;
  for (let d = 0; d < s.styleDim; d++) w[d] = acc[d]! / s.nLatent;
  return w;
}

/**
 * Fits the direction between W+ codes with the attribute (`positive`) and without (`negative`),
 * each checked against the generator's shape.
 */
export function fitLatentDirection(positive: readonly Latent[], negative: readonly Latent[], s: CodeShape, opts: { space?: DirectionSpace; l2?: number; iterations?: number } = {}): LatentDirection {
  const space = opts.space ?? 'w';
  if (!DIRECTION_SPACES.includes(space)) throw new Error(`unknown direction space '${space}' (one of ${DIRECTION_SPACES.join(', ')})`);
  if (positive.length === 0 || negative.length === 0) throw new Error(`a direction needs codes on both sides: ${positive.length} positive, ${negative.length} negative`);
  const D = space === 'w' ? s.styleDim : s.nLatent * s.styleDim;
  const all = [...positive.map((c, i) => ({ c, what: `positive code ${i}` })), ...negative.map((c, i) => ({ c, what: `negative code ${i}` }))];
  const x = new Float32Array(all.length * D);
  all.forEach(({ c, what }, i) => {
    const code = codeValues(what, c, s);
    x.set(space === 'w' ? meanOverLayers(code, s) : code, i * D);
  });
  const labels = all.map((_, i) => (i < positive.length ? 1 : 0));
  const fit = fitDirection(x, labels, D, { l2: opts.l2, iterations: opts.iterations });
  const direction = space === 'w' ? wPlusDirection(fit.normal, s.nLatent).data : fit.normal;
  return {
    direction, shape: [s.nLatent, s.styleDim], space,
    accuracy: fit.accuracy, separation: fit.separation,
    positives: positive.length, negatives: negative.length, count: all.length,
  };
}

export interface FolderDirection extends LatentDirection {
  positiveFiles: string[];
  negativeFiles: string[];
  /** Images that could not be read (skipped), with why. */
  skipped: { file: string; error: string }[];
}

/** Inverts every image of the two folders (or files) and fits the direction between their codes. */
export async function directionFromImages(inv: Inverter, positiveInput: string, negativeInput: string, opts: { space?: DirectionSpace; l2?: number; iterations?: number; onSkip?: (file: string, error: string) => void } = {}): Promise<FolderDirection> {
  const skipped: { file: string; error: string }[] = [];
  const codesOf = async (input: string): Promise<{ files: string[]; codes: Latent[] }> => {
    const files: string[] = [];
    const codes: Latent[] = [];
    for (const f of inputImages(input)) {
      let image: Float32Array;
      try {
        image = await inv.readImage(f);
      } catch (e) {
        skipped.push({ file: f, error: (e as Error).message });
        opts.onSkip?.(f, (e as Error).message);
        continue;
      }
      files.push(f);
      codes.push({ shape: inv.codeShape, data: inv.invert(image).codes });
    }
    return { files, codes };
  };
  const pos = await codesOf(positiveInput);
  const neg = await codesOf(negativeInput);
  if (pos.codes.length === 0 || neg.codes.length === 0) {
    throw new Error(`a direction needs readable images on both sides: ${pos.codes.length} in ${positiveInput}, ${neg.codes.length} in ${negativeInput}`);
  }
  return { ...fitLatentDirection(pos.codes, neg.codes, inv, opts), positiveFiles: pos.files, negativeFiles: neg.files, skipped };
}

/** The JSON written beside a fitted direction: `edit --relative` reads `separation` from it. */
export function directionReport(d: LatentDirection, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    space: d.space === 'w' ? 'W (W+ codes averaged over layers; the normal repeated on every layer of W+)' : 'W+ (flattened codes; one unit normal over all layers)',
    shape: d.shape, accuracy: d.accuracy, separation: d.separation,
    positives: d.positives, negatives: d.negatives, count: d.count,
    ...extra,
  };
}

/** The JSON file beside a direction .npy (dir.npy -> dir.json). */
export function directionJsonPath(npyFile: string): string {
  return path.join(path.dirname(npyFile), path.basename(npyFile).replace(/\.npy$/i, '') + '.json');
}

export function writeDirectionReport(npyFile: string, report: Record<string, unknown>): string {
  const file = directionJsonPath(npyFile);
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}
