// Face swap (the paper's Section 5): the central face region of a source face is pasted onto a
// target face through a soft mask (an ellipse over the inner face, eyes, nose and mouth, of an
// aligned face, with a feathered edge), and the pasted image is inverted: the generator turns the
// seams and the colour mismatch into one plausible face. Images are CHW [3, S, S] in [-1, 1] at the
// encoder's input size; the mask is [S, S] in [0, 1].
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeNpy } from '@sgi/core';
import { writeImageGrid } from '@sgi/experiment';
import type { Inverter } from './inverter.js';

/**
 * The mask's ellipse and feather, as fractions of the image side (so the same numbers work at
 * any resolution). The mask is 1 inside the ellipse and falls smoothly (smoothstep) to 0 over
 * `feather` beyond it, measured along the ray from the centre.
 */
export interface FaceMaskOptions {
  /** Centre, x (0 left, 1 right). */
  centerX: number;
  /** Centre, y (0 top, 1 bottom). */
  centerY: number;
  /** Half-width of the full-strength ellipse. */
  radiusX: number;
  /** Half-height of the full-strength ellipse. */
  radiusY: number;
  /** Width of the soft edge beyond the ellipse (0: a hard edge). */
  feather: number;
}

/**
 * Defaults for FFHQ-style aligned faces (eyes at about 45% of the height, 36% and 64% across,
 * the mouth at about 72%): brows, eyes, nose and mouth at full strength, fading out over the
 * cheeks and above the chin; hair, ears, jaw line and background stay the target's.
 */
export const DEFAULT_FACE_MASK: Readonly<FaceMaskOptions> = Object.freeze({ centerX: 0.5, centerY: 0.58, radiusX: 0.22, radiusY: 0.26, feather: 0.08 });

/** Checks mask options: finite, radii positive, feather not negative. */
export function checkMaskOptions(o: FaceMaskOptions): void {
  for (const [k, v] of Object.entries(o)) if (!Number.isFinite(v)) throw new Error(`face mask: ${k} must be a number, got ${v}`);
  if (o.radiusX <= 0 || o.radiusY <= 0) throw new Error(`face mask: radii must be positive, got ${o.radiusX}, ${o.radiusY}`);
  if (o.feather < 0) throw new Error(`face mask: feather must not be negative, got ${o.feather}`);
}

/** The soft face mask [size, size] (row-major, values in [0, 1]); pixel (x, y) is sampled at its centre. */
export function faceMask(size: number, opts: Partial<FaceMaskOptions> = {}): Float32Array {
  const o = { ...DEFAULT_FACE_MASK, ...opts };
  checkMaskOptions(o);
  const m = new Float32Array(size * size);
  // in pixels; dx of column x and of column size-1-x are exact negatives when centerX is 0.5
  const cx = o.centerX * size, cy = o.centerY * size, rx = o.radiusX * size, ry = o.radiusY * size, f = o.feather * size;
  for (let y = 0; y < size; y++) {
    const dy = y + 0.5 - cy;
    for (let x = 0; x < size; x++) {
      const dx = x + 0.5 - cx;
      // normalised radius: 1 on the ellipse
      const d = Math.sqrt((dx / rx) ** 2 + (dy / ry) ** 2);
      let v: number;
      if (d <= 1) v = 1;
      else if (f === 0) v = 0;
      else {
        // distance beyond the ellipse along the ray from the centre, in pixels
        const r = Math.sqrt(dx * dx + dy * dy);
        const t = Math.min(1, (r - r / d) / f);
        v = 1 - t * t * (3 - 2 * t);
      }
      m[y * size + x] = v;
    }
  }
  return m;
}

/**
 * The source's face on the target: mask * source + (1 - mask) * target per pixel and channel,
 * computed in doubles and stored as float32 (so a face pasted onto itself is itself exactly).
 */
export function pasteFace(source: Float32Array, target: Float32Array, mask: Float32Array): Float32Array {
  const plane = mask.length;
  if (source.length !== 3 * plane || target.length !== 3 * plane) {
    throw new Error(`pasteFace: source (${source.length} values) and target (${target.length}) must both be [3, S, S] for a mask of ${plane} pixels`);
  }
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const m = mask[i]!, k = c * plane + i;
      out[k] = m * source[k]! + (1 - m) * target[k]!;
    }
  }
  return out;
}

export interface SwapResult {
  mask: Float32Array;
  /** The pasted image [3, S, S]. */
  pasted: Float32Array;
  /** Its W+ code [1, nLatent, styleDim]. */
  code: Float32Array;
  /** Its reconstruction after each stage, [1, 3, S, S] each; the last is the swapped face. */
  stages: Float32Array[];
  /** Seconds the inversion took. */
  seconds: number;
}

/** Face swap: paste the source's inner face onto the target, then invert the pasted image. */
export function swapFaces(inv: Inverter, source: Float32Array, target: Float32Array, opts: Partial<FaceMaskOptions> = {}): SwapResult {
  const mask = faceMask(inv.size, opts);
  const pasted = pasteFace(source, target, mask);
  const t0 = performance.now();
  const r = inv.invert(pasted);
  const seconds = (performance.now() - t0) / 1000;
  return { mask, pasted, code: r.codes, stages: r.stages, seconds };
}

/** The mask as a grey [-1, 1] CHW image (white: the source, black: the target). */
export function maskImage(mask: Float32Array): Float32Array {
  const plane = mask.length;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) out[c * plane + i] = 2 * mask[i]! - 1;
  return out;
}

/** What runSwap wrote. */
export interface SwapFiles {
  pasted: string;
  reconstructed: string;
  stages: string;
  mask: string;
  overview: string;
  code: string;
  timing: string;
}

/**
 * Swaps the face of the `source` image file onto the `target` image file and writes into `outDir`:
 * pasted.png, reconstructed.png, stages.png (pasted | each stage), mask.png, swap.png (source |
 * target | mask | pasted | reconstructed), code.npy ([nLatent, styleDim]) and timing.json.
 */
export async function runSwap(inv: Inverter, sourceFile: string, targetFile: string, outDir: string, opts: Partial<FaceMaskOptions> = {}): Promise<{ result: SwapResult; files: SwapFiles }> {
  for (const f of [sourceFile, targetFile]) if (!fs.existsSync(f)) throw new Error(`image not found: ${f}`);
  const mask = { ...DEFAULT_FACE_MASK, ...opts };
  checkMaskOptions(mask);
  const source = await inv.readImage(sourceFile);
  const target = await inv.readImage(targetFile);
  const result = swapFaces(inv, source, target, mask);
  const S = inv.size;
  const at = (name: string) => path.join(outDir, name);
  const files: SwapFiles = {
    pasted: at('pasted.png'), reconstructed: at('reconstructed.png'), stages: at('stages.png'), mask: at('mask.png'),
    overview: at('swap.png'), code: at('code.npy'), timing: at('timing.json'),
  };
  fs.mkdirSync(outDir, { recursive: true });
  const whole = (data: Float32Array) => ({ data, offset: 0 });
  const last = result.stages[result.stages.length - 1]!;
  const maskImg = maskImage(result.mask);
  await writeImageGrid(files.pasted, [whole(result.pasted)], S, 1);
  await writeImageGrid(files.reconstructed, [whole(last)], S, 1);
  await writeImageGrid(files.stages, [whole(result.pasted), ...result.stages.map(whole)], S, 1 + result.stages.length);
  await writeImageGrid(files.mask, [whole(maskImg)], S, 1);
  await writeImageGrid(files.overview, [source, target, maskImg, result.pasted, last].map(whole), S, 5);
  writeNpy(files.code, { shape: inv.codeShape, data: result.code });
  fs.writeFileSync(files.timing, JSON.stringify({ checkpoint: inv.checkpoint, source: sourceFile, target: targetFile, mask, inversionSeconds: result.seconds }, null, 2));
  return { result, files };
}
