// What the latent-space applications (edit, directions, interpolate, mix) share: W+ codes as host
// arrays with their shape, read from .npy (any float type, checked against the generator's W+
// shape) or obtained by inverting an image, and written back as .npy [nLatent, styleDim].
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readNpy, writeNpy } from '@sgi/core';
import { listImages, IMAGE_EXTENSIONS } from '@sgi/experiment';
import { checkCodeShape, type Inverter } from './inverter.js';

/** A latent code or direction as read from a file: its declared shape and its values (row-major). */
export interface Latent {
  shape: readonly number[];
  data: Float32Array;
}

/** The W+ shape of a generator: nLatent layers of styleDim values. */
export interface CodeShape {
  nLatent: number;
  styleDim: number;
}

/**
 * The values of `latent` as one W+ code [nLatent * styleDim], after checking its shape
 * ([nLatent, styleDim] or [1, nLatent, styleDim]); the error names both shapes.
 */
export function codeValues(what: string, latent: Latent, s: CodeShape): Float32Array {
  checkCodeShape(what, latent.shape, s.nLatent, s.styleDim);
  if (latent.data.length !== s.nLatent * s.styleDim) {
    throw new Error(`${what} holds ${latent.data.length} values, but its shape [${latent.shape.join(', ')}] and this generator's W+ [${s.nLatent}, ${s.styleDim}] need ${s.nLatent * s.styleDim}`);
  }
  return latent.data;
}

/** A W+ code of this generator as a Latent (shape [nLatent, styleDim]). */
export function asLatent(code: Float32Array, s: CodeShape): Latent {
  return { shape: [s.nLatent, s.styleDim], data: code };
}

/** Reads a .npy code or direction and checks it against the generator's W+ shape. */
export function readLatent(file: string, s: CodeShape, what = path.basename(file)): Float32Array {
  return codeValues(what, readNpy(file), s);
}

/** Writes one W+ code as .npy of shape [nLatent, styleDim]. */
export function writeLatent(file: string, code: Float32Array, s: CodeShape): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeNpy(file, { shape: [s.nLatent, s.styleDim], data: codeValues(path.basename(file), asLatent(code, s), s) });
}

/** True for a .npy file (a latent code) rather than an image. */
export function isLatentFile(file: string): boolean {
  return path.extname(file).toLowerCase() === '.npy';
}

/** The images an input names: the file itself, or every image in a folder (sorted, recursive). */
export function inputImages(input: string): string[] {
  if (!fs.existsSync(input)) throw new Error(`input not found: ${input}`);
  if (fs.statSync(input).isDirectory()) return listImages(input);
  if (!IMAGE_EXTENSIONS.has(path.extname(input).toLowerCase())) {
    throw new Error(`${input} is not an image (${[...IMAGE_EXTENSIONS].join(', ')}) or a folder of images`);
  }
  return [input];
}

/** A file's name without folder and extension (the stem of what an app writes for it). */
export function stem(file: string): string {
  return path.basename(file).replace(/\.[^.]+$/, '');
}

export interface SourceCode {
  /** W+ code [nLatent * styleDim]. */
  code: Float32Array;
  /** The input image [3, S, S] in [-1, 1], when the source was an image. */
  image?: Float32Array;
  /** What the generator makes of the code [3, S, S] (the inversion's last stage for an image). */
  reconstruction: Float32Array;
}

/** Inverts one image [3, S, S]: its code and reconstruction (the last stage's). */
export function invertOne(inv: Inverter, image: Float32Array): SourceCode {
  const r = inv.invert(image);
  return { code: r.codes, image, reconstruction: r.stages[r.stages.length - 1]! };
}

/** The code of an image file (inverted) or of a .npy latent (read and shape-checked, then synthesised). */
export async function sourceCode(inv: Inverter, file: string): Promise<SourceCode> {
  if (!fs.existsSync(file)) throw new Error(`input not found: ${file}`);
  if (isLatentFile(file)) {
    const code = readLatent(file, inv);
    return { code, reconstruction: inv.synthesize(code) };
  }
  return invertOne(inv, await inv.readImage(file));
}

/**
 * Output name stems of input files: their names without extension, or, where two files of a
 * folder's subfolders share one, their paths below `base` joined with '__'.
 */
export function uniqueStems(files: readonly string[], base: string): string[] {
  const plain = files.map(stem);
  const seen = new Map<string, number>();
  for (const s of plain) seen.set(s, (seen.get(s) ?? 0) + 1);
  return files.map((f, i) => (seen.get(plain[i]!)! > 1 ? path.relative(base, f).replace(/\.[^.]+$/, '').split(path.sep).join('__') : plain[i]!));
}

/** Copies layer `l` of a W+ code [nLatent * D]. */
export function layer(code: Float32Array, l: number, D: number): Float32Array {
  return code.slice(l * D, (l + 1) * D);
}
