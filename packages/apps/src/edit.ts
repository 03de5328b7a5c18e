// Semantic editing (the paper's Section 5, with InterFaceGAN directions): invert a face, then move
// its W+ code along an attribute direction, W+ + s * direction, for each strength s. A direction is
// [nLatent, styleDim] (the face world's in pretrained/faces/directions/, FFHQ's in
// pretrained/editing/). Strengths are in W units, or in units of the direction's `separation` (the
// projection gap between faces with and without the attribute) when relative.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_WEIGHTS_DIR, workspaceRoot } from '@sgi/experiment';
import type { Inverter } from './inverter.js';
import { codeValues, invertOne, type CodeShape, type Latent } from './latents.js';

/**
 * The edited codes code + s * direction, one per strength. Strength 0 returns an exact copy of
 * the code (bit-identical, also for -0 components). Refuses a code or direction of the wrong shape.
 */
export function editCodes(code: Latent, direction: Latent, strengths: readonly number[], s: CodeShape, what = 'direction'): Float32Array[] {
  const c = codeValues('latent', code, s);
  const d = codeValues(what, direction, s);
  return strengths.map((k) => {
    if (!Number.isFinite(k)) throw new Error(`strength ${k} is not a finite number`);
    if (k === 0) return c.slice();
    const out = new Float32Array(c.length);
    for (let i = 0; i < c.length; i++) out[i] = c[i]! + k * d[i]!;
    return out;
  });
}

/** Parses "-3,-1.5,0,1.5,3" into numbers; refuses anything that is not a finite number. */
export function parseStrengths(text: string): number[] {
  const parts = text.split(',').map((t) => t.trim()).filter((t) => t.length > 0);
  if (parts.length === 0) throw new Error(`--strengths: no strengths in '${text}' (e.g. -3,-1.5,0,1.5,3)`);
  return parts.map((t) => {
    const v = Number(t);
    if (!Number.isFinite(v)) throw new Error(`--strengths: '${t}' is not a number (in '${text}')`);
    return v;
  });
}

/** The shipped face-world directions' folder. */
export function faceDirectionsDir(root = workspaceRoot()): string {
  return path.join(root, DEFAULT_WEIGHTS_DIR, 'faces', 'directions');
}

export interface DirectionInfo {
  file: string;
  /** Projection gap between faces with and without the attribute (W units), when known. */
  separation?: number;
  accuracy?: number;
}

/** The face world's direction of an attribute (pretrained/faces/directions/<attr>.npy) with its directions.json entry. */
export function attributeDirection(attribute: string, dir = faceDirectionsDir()): DirectionInfo {
  const index = path.join(dir, 'directions.json');
  const known = fs.existsSync(index) ? (JSON.parse(fs.readFileSync(index, 'utf8')) as { directions?: Record<string, { separation?: number; accuracy?: number }> }).directions ?? {} : {};
  const file = path.join(dir, `${attribute}.npy`);
  if (!fs.existsSync(file)) {
    const names = Object.keys(known).length ? Object.keys(known) : fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.npy')).map((f) => f.slice(0, -4)) : [];
    throw new Error(`no direction for attribute '${attribute}' (${file} not found); known attributes: ${names.join(', ') || 'none'}`);
  }
  return { file, separation: known[attribute]?.separation, accuracy: known[attribute]?.accuracy };
}

/**
 * What is known about a direction file: the separation from `<name>.json` beside it (what
 * `sgi directions` writes) or from a `directions.json` in its folder naming it.
 */
export function directionInfo(file: string): DirectionInfo {
  const own = file.replace(/\.npy$/i, '') + '.json';
  if (fs.existsSync(own)) {
    const j = JSON.parse(fs.readFileSync(own, 'utf8')) as { separation?: number; accuracy?: number };
    if (typeof j.separation === 'number') return { file, separation: j.separation, accuracy: j.accuracy };
  }
  const index = path.join(path.dirname(file), 'directions.json');
  if (fs.existsSync(index)) {
    const entry = (JSON.parse(fs.readFileSync(index, 'utf8')) as { directions?: Record<string, { separation?: number; accuracy?: number }> }).directions?.[path.basename(file).replace(/\.npy$/i, '')];
    if (entry) return { file, separation: entry.separation, accuracy: entry.accuracy };
  }
  return { file };
}

/** Strengths in W units: relative ones are multiplied by the separation (which must then be known). */
export function absoluteStrengths(strengths: readonly number[], relative: boolean, info: DirectionInfo): number[] {
  if (!relative) return [...strengths];
  if (info.separation === undefined || !Number.isFinite(info.separation)) {
    throw new Error(`relative strengths need the direction's separation, but none is known for ${info.file} (looked for ${info.file.replace(/\.npy$/i, '')}.json and directions.json beside it); use absolute strengths (drop --relative)`);
  }
  return strengths.map((k) => k * info.separation!);
}

export interface EditResult {
  /** The inversion's code and reconstruction. */
  code: Float32Array;
  reconstruction: Float32Array;
  /** One edited code and image [3, S, S] per strength, in order. */
  codes: Float32Array[];
  images: Float32Array[];
}

/** Inverts one image [3, S, S] and edits it with each strength (W units). */
export function editImage(inv: Inverter, image: Float32Array, direction: Latent, strengths: readonly number[], what = 'direction'): EditResult {
  codeValues(what, direction, inv); // refuse a wrong direction before inverting
  const src = invertOne(inv, image);
  const codes = editCodes({ shape: inv.codeShape, data: src.code }, direction, strengths, inv, what);
  return { code: src.code, reconstruction: src.reconstruction, codes, images: codes.map((c) => inv.synthesize(c)) };
}

/** A strength as it appears in file names: 0, 1.5, -3 (never "+"). */
export function strengthLabel(k: number): string {
  return Object.is(k, -0) ? '0' : String(Number(k.toPrecision(6)));
}
