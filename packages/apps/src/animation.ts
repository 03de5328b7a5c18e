// Animated images (WebP, GIF) from frames: what interpolation (and any app that makes a sequence)
// writes. The frames are stacked into one raw image whose page height is a frame's, which sharp
// encodes as an animation (looping forever, `delayMs` per frame).
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp, { type GifOptions, type WebpOptions } from 'sharp';
import { chwToHwc } from '@sgi/experiment';

export type FrameSize = number | { width: number; height: number };

/** Writes 8-bit HWC RGB frames as an animated .webp or .gif (chosen by the extension). */
export async function writeAnimation(file: string, frames: readonly Uint8Array[], size: FrameSize, delayMs = 100): Promise<void> {
  const { width, height } = typeof size === 'number' ? { width: size, height: size } : size;
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.webp' && ext !== '.gif') throw new Error(`${file}: an animation is written as .webp or .gif`);
  if (frames.length === 0) throw new Error(`${file}: no frames`);
  const per = width * height * 3;
  frames.forEach((f, i) => {
    if (f.length !== per) throw new Error(`${file}: frame ${i} has ${f.length} bytes, not ${width}x${height}x3 = ${per}`);
  });
  if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 65535) throw new Error(`frame delay ${delayMs} ms is outside 0..65535`);
  await encodeAnimation(file, frames, width, height, { loop: 0, delay: frames.map(() => delayMs) }, { quality: 90 }, {});
}

/**
 * The one animation encoder: 8-bit HWC RGB frames (already checked to be width x height x 3) are
 * stacked into one raw image whose page height is a frame's, which sharp writes as an animated
 * WebP or GIF (by the file's extension) with the given per-frame delays and loop count.
 */
export async function encodeAnimation(
  file: string, frames: readonly Uint8Array[], width: number, height: number, anim: { loop: number; delay: number[] },
  webp: WebpOptions, gif: GifOptions,
): Promise<void> {
  const per = width * height * 3;
  const stacked = Buffer.alloc(per * frames.length);
  frames.forEach((f, i) => stacked.set(f, i * per));
  const img = sharp(stacked, { raw: { width, height: height * frames.length, channels: 3, pageHeight: height } });
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  await (path.extname(file).toLowerCase() === '.webp' ? img.webp({ ...anim, ...webp }) : img.gif({ ...anim, ...gif })).toFile(file);
}

/** 8-bit HWC frames of [-1, 1] CHW images [3, S, S] each. */
export function framesOf(images: readonly Float32Array[], size: number): Uint8Array[] {
  return images.map((im) => chwToHwc(im, size, size));
}
