// Image files: listing image folders, decoding any image sharp reads to [-1, 1] CHW floats at the
// encoder's input size (transparent pixels composited on a stated background), and writing
// [-1, 1] CHW images as PNG grids. Used by training, evaluation and every command that reads or
// writes pictures.
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { Tensor } from '@sgi/core';

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff']);

export function listImages(dir: string): string[] {
  if (!fs.existsSync(dir)) throw new Error(`image folder not found: ${dir}`);
  if (!fs.statSync(dir).isDirectory()) throw new Error(`not a folder: ${dir}`);
  const files = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => IMAGE_EXTENSIONS.has(path.extname(f).toLowerCase()))
    .map((f) => path.join(dir, f))
    .sort();
  if (files.length === 0) throw new Error(`no images (${[...IMAGE_EXTENSIONS].join(', ')}) found in ${dir}`);
  return files;
}

/** Where images have transparent pixels they are composited on this colour (not turned black). */
export const IMAGE_BACKGROUND = '#ffffff';

/** Decodes any image sharp reads to RGB (transparency composited on `background`, white by default), resized to size x size, as CHW float32 in [-1, 1]. */
export async function loadImage(file: string, size: number, opts: { background?: string } = {}): Promise<Float32Array> {
  let raw: Buffer;
  try {
    raw = await sharp(file)
      .flatten({ background: opts.background ?? IMAGE_BACKGROUND })
      .toColourspace('srgb')
      .resize(size, size, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer();
  } catch (e) {
    throw new Error(`cannot read image ${file}: ${(e as Error).message}`);
  }
  return hwcToChw(raw, size, size);
}

export function hwcToChw(raw: Uint8Array, h: number, w: number): Float32Array {
  const out = new Float32Array(3 * h * w);
  const plane = h * w;
  for (let i = 0; i < plane; i++) {
    out[i] = raw[i * 3]! / 127.5 - 1;
    out[plane + i] = raw[i * 3 + 1]! / 127.5 - 1;
    out[2 * plane + i] = raw[i * 3 + 2]! / 127.5 - 1;
  }
  return out;
}

/** [-1, 1] CHW floats to 8-bit HWC (pSp's tensor2im: clamp((x+1)/2) * 255, truncated). */
export function chwToHwc(data: Float32Array, h: number, w: number, offset = 0): Uint8Array {
  const out = new Uint8Array(h * w * 3);
  const plane = h * w;
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      const v = (data[offset + c * plane + i]! + 1) / 2;
      out[i * 3 + c] = Math.floor(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  return out;
}

/** Flips CHW images (batch-major) horizontally in place. */
export function flipHorizontal(data: Float32Array, offset: number, h: number, w: number): void {
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++) {
      const row = offset + (c * h + y) * w;
      for (let x = 0; x < w >> 1; x++) {
        const a = data[row + x]!;
        data[row + x] = data[row + w - 1 - x]!;
        data[row + w - 1 - x] = a;
      }
    }
  }
}

/** Loads a list of files as one tensor batch (validation, evaluation). */
export async function loadBatch(files: string[], size: number): Promise<Tensor> {
  const plane = 3 * size * size;
  const data = new Float32Array(files.length * plane);
  const imgs = await Promise.all(files.map((f) => loadImage(f, size)));
  imgs.forEach((img, i) => data.set(img, i * plane));
  return Tensor.fromArray(data, [files.length, 3, size, size]);
}

/** Writes a grid of [-1, 1] CHW images (rows x cols, row-major list) as a PNG. */
export async function writeImageGrid(file: string, images: { data: Float32Array; offset: number }[], size: number, cols: number): Promise<void> {
  const rows = Math.ceil(images.length / cols);
  const W = cols * size, H = rows * size;
  const canvas = new Uint8Array(W * H * 3).fill(255);
  images.forEach((img, k) => {
    const hwc = chwToHwc(img.data, size, size, img.offset);
    const ox = (k % cols) * size, oy = Math.floor(k / cols) * size;
    for (let y = 0; y < size; y++) canvas.set(hwc.subarray(y * size * 3, (y + 1) * size * 3), ((oy + y) * W + ox) * 3);
  });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp(Buffer.from(canvas), { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
}
