// Restoration and translation tasks (the paper's Sections 5.3 and 5.4): what the encoder sees
// instead of the clean image (config `task`). Pure functions on CHW float batches [n, 3, S, S] in
// [-1, 1] (a new array out, the input untouched), plus the face world's exact paired data.
//
// Randomness: every image has its own seed, so a batch's degradation depends only on (run seed,
// step, index in the batch) in training (degradeSeed: a resumed run sees the same inputs) and only
// on the image's index at evaluation (evalDegradeSeed: every method and every run is scored on the
// same degraded inputs). Each image's draws come from its own Rng in a fixed order.
//
// - colorization: ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B) in all three channels. With
//   keepLuminance the run's output (taskOutput) keeps the input's luma and takes its colour from the
//   reconstruction.
// - inpainting: one rectangle set to 0 (mid-gray); width and height drawn independently as whole
//   pixels in [ceil(minSize * S), floor(maxSize * S)], the position uniform with the whole
//   rectangle inside the image.
// - super_resolution: a factor k drawn from `factors`; down to S/k by k x k box means ('box') or
//   bilinear point samples at the low-resolution pixel centres ('bilinear', no anti-aliasing), then
//   up to S by bilinear interpolation with half-pixel centres and clamped borders ('bilinear', as
//   PyTorch's align_corners=False) or by repeating pixels ('nearest'). Factor 1 is the identity.
// - denoise: x + sigma * N(0, 1), sigma uniform in task.sigma; not clipped.
// - sketch: the face world's renderSketch of the same seed (gray, in all three channels); else the
//   sketch of the same file name in task.pairedPath; else an XDoG sketch of the image itself.
// - segmentation: the face world's renderSegmentation of the same seed as its FACE_CLASSES colours;
//   else the colour-coded map of the same file name in task.pairedPath (resized nearest). The
//   encoder always gets 3 channels (the class colours), never one-hot maps.
//
// A fixed level (FixedLevel: a factor, a noise std or a square rectangle's side) replaces the
// random draw of that level only: every draw is still made in the same order, so an image degraded
// at the level its seed would have drawn is exactly the randomly degraded image (the per-level
// restoration report scores each level on the same held-out images).
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { Rng, ops, type Tensor } from '@sgi/core';
import { renderSegmentation, renderSketch, sampleFace, segmentationColours, toChw } from '@sgi/faces';
import type { TaskConfig } from './config.js';
import { IMAGE_EXTENSIONS, flipHorizontal, hwcToChw, loadImage } from './images.js';

export type Task = TaskConfig;
export type TaskKind = Task['kind'];
export const TASK_KINDS: readonly TaskKind[] = ['colorization', 'inpainting', 'super_resolution', 'denoise', 'sketch', 'segmentation'];

// ---------------------------------------------------------------------------------------------
// Seeds

function mix(h: number, v: number): number {
  h = Math.imul((h ^ (v >>> 0)) >>> 0, 0x9e3779b1) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Seed of the degradation of image `index` of training batch `step` of a run seeded `runSeed`. */
export function degradeSeed(runSeed: number, step: number, index: number): number {
  return mix(mix(mix(mix(0x7a5c0de, runSeed), Math.floor(step / 2 ** 32)), step >>> 0), index);
}

/** Seeds of the degradations of a training batch. */
export function degradeSeeds(runSeed: number, step: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => degradeSeed(runSeed, step, i));
}

/** Seed of the degradation of evaluation (and validation) image `index`: the same for every run and method. */
export function evalDegradeSeed(index: number): number {
  return mix(mix(0xe7a1, 0x5eed), index);
}

/** Seeds of evaluation images first .. first + count - 1. */
export function evalDegradeSeeds(count: number, first = 0): number[] {
  return Array.from({ length: count }, (_, i) => evalDegradeSeed(first + i));
}

// ---------------------------------------------------------------------------------------------
// Pure degradations

function countOf(x: Float32Array, size: number): number {
  const plane = 3 * size * size;
  if (x.length === 0 || x.length % plane !== 0) throw new Error(`degrade: ${x.length} values are not a batch [n, 3, ${size}, ${size}]`);
  return x.length / plane;
}

/** ITU-R 601 luma weights of R, G, B (they sum to 1). */
const LUMA = [0.299, 0.587, 0.114] as const;

/** Grayscale (601 luma) in all three channels. */
export function grayscale(x: Float32Array, size: number): Float32Array {
  const n = countOf(x, size), P = size * size;
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    const o = b * 3 * P;
    for (let i = 0; i < P; i++) {
      const y = LUMA[0] * x[o + i]! + LUMA[1] * x[o + P + i]! + LUMA[2] * x[o + 2 * P + i]!;
      out[o + i] = y;
      out[o + P + i] = y;
      out[o + 2 * P + i] = y;
    }
  }
  return out;
}

export interface Rect { x: number; y: number; w: number; h: number }

/** Side lengths (pixels) an inpainting rectangle may take: [lo, hi]. */
export function inpaintingSides(size: number, minSize: number, maxSize: number): [number, number] {
  let lo = Math.max(1, Math.ceil(minSize * size - 1e-9));
  let hi = Math.min(size, Math.floor(maxSize * size + 1e-9));
  if (lo > hi) lo = hi = Math.min(size, Math.max(1, Math.round(((minSize + maxSize) / 2) * size)));
  return [lo, hi];
}

/**
 * A random rectangle for inpainting (draws w, h, x, y in this order); `side`: a square of that many
 * pixels instead of the drawn w and h (which are still drawn, so the position draws stay aligned).
 */
export function inpaintingRect(rng: Rng, size: number, minSize: number, maxSize: number, side?: number): Rect {
  const [lo, hi] = inpaintingSides(size, minSize, maxSize);
  let w = lo + rng.int(hi - lo + 1);
  let h = lo + rng.int(hi - lo + 1);
  if (side !== undefined) w = h = side;
  const x = rng.int(size - w + 1);
  const y = rng.int(size - h + 1);
  return { x, y, w, h };
}

/** The images with rectangle rects[i] of image i set to `value` in every channel. */
export function fillRects(x: Float32Array, size: number, rects: readonly Rect[], value = 0): Float32Array {
  const n = countOf(x, size), P = size * size;
  if (rects.length !== n) throw new Error(`fillRects: ${rects.length} rectangle(s) for ${n} image(s)`);
  const out = x.slice();
  rects.forEach((r, b) => {
    for (let c = 0; c < 3; c++) {
      for (let yy = r.y; yy < r.y + r.h; yy++) out.fill(value, (b * 3 + c) * P + yy * size + r.x, (b * 3 + c) * P + yy * size + r.x + r.w);
    }
  });
  return out;
}

/** Down-samples one plane by `k` (size divisible by k). */
function downPlane(src: Float32Array, off: number, size: number, k: number, mode: 'box' | 'bilinear'): Float32Array {
  const s = size / k;
  const out = new Float32Array(s * s);
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      if (mode === 'box') {
        let sum = 0;
        for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) sum += src[off + (y * k + dy) * size + x * k + dx]!;
        out[y * s + x] = sum / (k * k);
      } else {
        out[y * s + x] = bilinearAt(src, off, size, (y + 0.5) * k - 0.5, (x + 0.5) * k - 0.5);
      }
    }
  }
  return out;
}

/** Bilinear sample of a size x size plane at (fy, fx), borders clamped. */
function bilinearAt(src: Float32Array, off: number, size: number, fy: number, fx: number): number {
  fy = Math.min(Math.max(fy, 0), size - 1);
  fx = Math.min(Math.max(fx, 0), size - 1);
  const y0 = Math.floor(fy), x0 = Math.floor(fx);
  const y1 = Math.min(y0 + 1, size - 1), x1 = Math.min(x0 + 1, size - 1);
  const ay = fy - y0, ax = fx - x0;
  const top = src[off + y0 * size + x0]! * (1 - ax) + src[off + y0 * size + x1]! * ax;
  const bot = src[off + y1 * size + x0]! * (1 - ax) + src[off + y1 * size + x1]! * ax;
  return top * (1 - ay) + bot * ay;
}

/** Up-samples an s x s plane by k into out at `off`. */
function upPlane(low: Float32Array, s: number, k: number, mode: 'bilinear' | 'nearest', out: Float32Array, off: number): void {
  const size = s * k;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      out[off + y * size + x] = mode === 'nearest'
        ? low[Math.floor(y / k) * s + Math.floor(x / k)]!
        : bilinearAt(low, 0, s, (y + 0.5) / k - 0.5, (x + 0.5) / k - 0.5);
    }
  }
}

/** Each image down-sampled by factors[i] and back up to `size` (factor 1: an exact copy). */
export function downUp(x: Float32Array, size: number, factors: readonly number[], down: 'box' | 'bilinear' = 'box', up: 'bilinear' | 'nearest' = 'bilinear'): Float32Array {
  const n = countOf(x, size), P = size * size;
  if (factors.length !== n) throw new Error(`downUp: ${factors.length} factor(s) for ${n} image(s)`);
  const out = x.slice();
  factors.forEach((k, b) => {
    if (!Number.isInteger(k) || k < 1 || size % k !== 0) throw new Error(`super-resolution factor ${k} does not divide the image size ${size}`);
    if (k === 1) return;
    for (let c = 0; c < 3; c++) {
      const off = (b * 3 + c) * P;
      upPlane(downPlane(x, off, size, k, down), size / k, k, up, out, off);
    }
  });
  return out;
}

/** Each image plus Gaussian noise of std sigmas[i], drawn from rngs[i]. */
export function addNoise(x: Float32Array, size: number, rngs: readonly Rng[], sigmas: readonly number[]): Float32Array {
  const n = countOf(x, size), plane = 3 * size * size;
  if (rngs.length !== n || sigmas.length !== n) throw new Error(`addNoise: ${rngs.length} generator(s) and ${sigmas.length} sigma(s) for ${n} image(s)`);
  const out = x.slice();
  for (let b = 0; b < n; b++) {
    const rng = rngs[b]!, s = sigmas[b]!;
    for (let i = b * plane; i < (b + 1) * plane; i++) out[i] = out[i]! + s * rng.normal();
  }
  return out;
}

function gaussianBlur(src: Float32Array, size: number, sigma: number): Float32Array {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const kernel = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += kernel[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < kernel.length; i++) kernel[i] = kernel[i]! / sum;
  const clamp = (v: number) => (v < 0 ? 0 : v >= size ? size - 1 : v);
  const tmp = new Float32Array(size * size), out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    let a = 0;
    for (let i = -r; i <= r; i++) a += kernel[i + r]! * src[y * size + clamp(x + i)]!;
    tmp[y * size + x] = a;
  }
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    let a = 0;
    for (let i = -r; i <= r; i++) a += kernel[i + r]! * tmp[clamp(y + i) * size + x]!;
    out[y * size + x] = a;
  }
  return out;
}

/**
 * XDoG sketches (Winnemöller et al. 2012) of images: on the luma in [0, 1], D = G_sigma - tau G_(k sigma)
 * with sigma = max(0.5, S / 128), k = 1.6, tau = 0.98; white where D >= eps (0), else
 * 1 + tanh(phi (D - eps)) with phi = 100: dark lines on white, flat regions white. In all three channels.
 */
export function xdogSketch(x: Float32Array, size: number, opts: { sigma?: number; k?: number; tau?: number; eps?: number; phi?: number } = {}): Float32Array {
  const n = countOf(x, size), P = size * size;
  const sigma = opts.sigma ?? Math.max(0.5, size / 128), k = opts.k ?? 1.6, tau = opts.tau ?? 0.98, eps = opts.eps ?? 0, phi = opts.phi ?? 100;
  const gray = grayscale(x, size);
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    const o = b * 3 * P;
    const g = new Float32Array(P);
    for (let i = 0; i < P; i++) g[i] = (gray[o + i]! + 1) / 2;
    const g1 = gaussianBlur(g, size, sigma), g2 = gaussianBlur(g, size, k * sigma);
    for (let i = 0; i < P; i++) {
      const d = g1[i]! - tau * g2[i]!;
      const v = (d >= eps ? 1 : 1 + Math.tanh(phi * (d - eps))) * 2 - 1;
      out[o + i] = v;
      out[o + P + i] = v;
      out[o + 2 * P + i] = v;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Paired data

/** The face world's sketches of the faces of `seeds`: [n, 3, S, S], gray in all three channels. */
export async function faceSketches(seeds: readonly number[], size: number): Promise<Float32Array> {
  const P = size * size;
  const out = new Float32Array(seeds.length * 3 * P);
  const sketches = await Promise.all(seeds.map((s) => renderSketch(sampleFace(s), size)));
  sketches.forEach((g, b) => {
    for (let i = 0; i < P; i++) {
      const v = g[i]! / 127.5 - 1;
      out[b * 3 * P + i] = v;
      out[b * 3 * P + P + i] = v;
      out[b * 3 * P + 2 * P + i] = v;
    }
  });
  return out;
}

/** The face world's label maps of the faces of `seeds` as their class colours (FACE_CLASSES): [n, 3, S, S]. */
export async function faceSegmentations(seeds: readonly number[], size: number): Promise<Float32Array> {
  const plane = 3 * size * size;
  const out = new Float32Array(seeds.length * plane);
  const maps = await Promise.all(seeds.map((s) => renderSegmentation(sampleFace(s), size)));
  maps.forEach((labels, b) => toChw(segmentationColours(labels, size), size, out, b * plane));
  return out;
}

/** The paired file of `file` in task.pairedPath: the same name, or the same stem with another image extension; null if none. */
export function pairedFile(task: Task, file: string): string | null {
  const dir = 'pairedPath' in task ? task.pairedPath : undefined;
  if (!dir) return null;
  const same = path.join(dir, path.basename(file));
  if (fs.existsSync(same)) return same;
  const stem = path.basename(file).replace(/\.[^.]+$/, '');
  for (const ext of IMAGE_EXTENSIONS) {
    const f = path.join(dir, stem + ext);
    if (fs.existsSync(f)) return f;
  }
  return null;
}

/**
 * An image as this task's encoder input: label maps (segmentation) resized with nearest neighbours
 * so no colours between classes appear, everything else as loadImage reads it.
 */
export async function loadTaskImage(task: Task | undefined, file: string, size: number): Promise<Float32Array> {
  if (task?.kind !== 'segmentation') return loadImage(file, size);
  try {
    const raw = await sharp(file).flatten({ background: '#ffffff' }).toColourspace('srgb').resize(size, size, { fit: 'fill', kernel: 'nearest' }).raw().toBuffer();
    return hwcToChw(raw, size, size);
  } catch (e) {
    throw new Error(`cannot read image ${file}: ${(e as Error).message}`);
  }
}

/** Where each image of a batch came from, for tasks with paired inputs. */
export interface ImageOrigin {
  /** Face-world seeds (data.kind facesjs): sketches and label maps are rendered from the same faces. */
  faceSeeds?: readonly number[];
  /** Image files (their pairs are looked up in task.pairedPath)... */
  files?: readonly string[];
  /** ...and whether each was flipped horizontally (its pair is flipped alike). */
  flips?: readonly boolean[];
}

// ---------------------------------------------------------------------------------------------
// Fixed levels

/**
 * A degradation level chosen instead of drawn: a super-resolution factor, a noise std (units of
 * the [-1, 1] range), or the side of a square inpainting rectangle (a fraction of the image side,
 * rounded to whole pixels; its position is still drawn).
 */
export type FixedLevel = { factor: number } | { sigma: number } | { size: number };

/** Each fixed level: the task it belongs to and the values it takes. */
const LEVELS: Record<string, { kind: TaskKind; valid: (v: number) => boolean; want: string }> = {
  factor: { kind: 'super_resolution', valid: (v) => Number.isInteger(v) && v >= 1, want: 'an integer >= 1' },
  sigma: { kind: 'denoise', valid: (v) => Number.isFinite(v) && v >= 0, want: 'a finite number >= 0' },
  size: { kind: 'inpainting', valid: (v) => v > 0 && v <= 1, want: 'a fraction of the side in (0, 1]' },
};

/** The level's value, checked against the task (errors name the level and the task). */
function fixedFor(task: Task, fixed: FixedLevel): number {
  const entries = Object.entries(fixed);
  const [key, value] = entries[0] ?? [];
  const def = key === undefined ? undefined : LEVELS[key];
  if (entries.length !== 1 || !def || typeof value !== 'number') throw new Error(`degrade: a fixed level is one of {factor}, {sigma}, {size}, got ${JSON.stringify(fixed)}`);
  if (def.kind !== task.kind) throw new Error(`degrade: a fixed ${key} is a level of ${def.kind}, not of ${task.kind}`);
  if (!def.valid(value)) throw new Error(`degrade: fixed ${key} ${value} is not ${def.want}`);
  return value;
}

/** The pixel side of a fixed inpainting rectangle of `fraction` of the image side. */
export function fixedSide(fraction: number, size: number): number {
  return Math.min(size, Math.max(1, Math.round(fraction * size)));
}

// ---------------------------------------------------------------------------------------------
// The task's input

/**
 * The degradations that need nothing but the images and seeds (every task but segmentation; a
 * sketch here is the XDoG sketch). `seeds[i]` seeds image i; `fixed`: every image at that level
 * instead of a drawn one (see FixedLevel).
 */
export function degrade(task: Task, clean: Float32Array, size: number, seeds: readonly number[], fixed?: FixedLevel): Float32Array {
  const n = countOf(clean, size);
  if (seeds.length !== n) throw new Error(`degrade: ${seeds.length} seed(s) for ${n} image(s)`);
  const level = fixed === undefined ? undefined : fixedFor(task, fixed);
  const rngs = seeds.map((s) => new Rng(s));
  // the drawn level, or the fixed one after the same draw
  const pick = (drawn: number) => level ?? drawn;
  switch (task.kind) {
    case 'colorization':
      return grayscale(clean, size);
    case 'inpainting': {
      const side = level === undefined ? undefined : fixedSide(level, size);
      return fillRects(clean, size, rngs.map((r) => inpaintingRect(r, size, task.minSize, task.maxSize, side)));
    }
    case 'super_resolution':
      return downUp(clean, size, rngs.map((r) => pick(task.factors[r.int(task.factors.length)]!)), task.down, task.up);
    case 'denoise':
      return addNoise(clean, size, rngs, rngs.map((r) => pick(task.sigma[0] + (task.sigma[1] - task.sigma[0]) * r.next())));
    case 'sketch':
      return xdogSketch(clean, size);
    case 'segmentation':
      throw new Error('segmentation: label maps cannot be computed from an image; they come from the face world or task.pairedPath');
  }
}

/**
 * The encoder input of a task for a batch of clean images [n, 3, S, S]: the paired data where the
 * task has it (face-world seeds, else task.pairedPath files), else degrade() (at `fixed` when given).
 */
export async function taskInput(task: Task, clean: Float32Array, size: number, seeds: readonly number[], origin: ImageOrigin = {}, fixed?: FixedLevel): Promise<Float32Array> {
  const n = countOf(clean, size);
  if (task.kind !== 'sketch' && task.kind !== 'segmentation') return degrade(task, clean, size, seeds, fixed);
  if (fixed !== undefined) fixedFor(task, fixed); // translation tasks have no levels: the error says so
  if (origin.faceSeeds) {
    if (origin.faceSeeds.length !== n) throw new Error(`${task.kind}: ${origin.faceSeeds.length} face seed(s) for ${n} image(s)`);
    return task.kind === 'sketch' ? faceSketches(origin.faceSeeds, size) : faceSegmentations(origin.faceSeeds, size);
  }
  if (task.pairedPath && origin.files) {
    if (origin.files.length !== n) throw new Error(`${task.kind}: ${origin.files.length} file(s) for ${n} image(s)`);
    const plane = 3 * size * size;
    const out = new Float32Array(n * plane);
    await Promise.all(origin.files.map(async (f, i) => {
      const p = pairedFile(task, f);
      if (!p) throw new Error(`${task.kind}: no paired ${task.kind === 'sketch' ? 'sketch' : 'label map'} for ${f} in ${task.pairedPath} (the same file name is expected)`);
      out.set(await loadTaskImage(task, p, size), i * plane);
      if (origin.flips?.[i]) flipHorizontal(out, i * plane, size, size);
    }));
    return out;
  }
  return degrade(task, clean, size, seeds);
}

/**
 * What a task's run outputs for the reconstruction `y` of the encoder input `input` (both
 * [n, 3, S, S] on one device): `y` itself, or for colorization with keepLuminance the input's
 * luminance with y's colour (y + luma(input) - luma(y) in every channel; the luma weights sum to 1,
 * so the output's luma is the input's exactly). Differentiable: training's loss sees this output.
 */
export function taskOutput(task: Task | undefined, input: Tensor, y: Tensor): Tensor {
  if (task?.kind !== 'colorization' || !task.keepLuminance) return y;
  const luma = (x: Tensor) => {
    const [r, g, b] = ops.split(x, [1, 1, 1], 1);
    return ops.add(ops.add(ops.mul(r!, LUMA[0]), ops.mul(g!, LUMA[1])), ops.mul(b!, LUMA[2]));
  };
  return ops.add(y, ops.sub(luma(input), luma(y)));
}

/** One line for logs and reports. */
export function describeTask(task: Task): string {
  switch (task.kind) {
    case 'colorization':
      return `colorization (grayscale input${task.keepLuminance ? '; the output keeps its luminance' : ''})`;
    case 'inpainting':
      return `inpainting (one rectangle set to 0, sides ${task.minSize}-${task.maxSize} of the image side)`;
    case 'super_resolution':
      return `super-resolution (x${task.factors.join('/')} ${task.down} down, ${task.up} up)`;
    case 'denoise':
      return `denoising (Gaussian noise, sigma ${task.sigma[0]}-${task.sigma[1]} in [-1, 1] units)`;
    case 'sketch':
      return `sketch to face (${task.pairedPath ? `sketches from ${task.pairedPath}` : 'face-world sketches, else XDoG'})`;
    case 'segmentation':
      return `segmentation to face (${task.classes} classes, colour-coded maps${task.pairedPath ? ` from ${task.pairedPath}` : ''})`;
  }
}
