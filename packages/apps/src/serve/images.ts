// Uploaded image bytes to 8-bit RGB, under limits checked before anything is decoded (sharp reads
// the header for the size first), and [-1, 1] CHW images to PNG data URLs for the page.
import sharp from 'sharp';
import { chwToHwc } from '@sgi/experiment';
import type { RgbImage } from '../align/ffhq.js';
import { chwToRgb } from '../align/faces.js';
import { HttpError, formatBytes } from './http.js';

export interface ImageLimits {
  /** Largest accepted width and height in pixels (default 4096). */
  maxSide: number;
}

/**
 * Decodes an uploaded image (PNG, JPEG, WebP, GIF, TIFF, AVIF... its first frame; EXIF orientation
 * applied, transparency on white) to 8-bit RGB. Errors carry the status the API answers with:
 * 400 empty, 415 not an image, 413 too many pixels, 400 truncated or corrupt.
 */
export async function decodeUpload(bytes: Buffer, limits: ImageLimits): Promise<RgbImage> {
  if (bytes.length === 0) throw new HttpError(400, 'the upload is empty: choose an image file (PNG, JPEG, WebP...)');
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>["metadata"]>>;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new HttpError(415, `this file (${formatBytes(bytes.length)}) is not an image: upload a PNG, JPEG, WebP, GIF, TIFF or AVIF photo`);
  }
  const { width, height, format } = meta;
  if (!width || !height) throw new HttpError(415, `this file is not an image with a size (format: ${format ?? 'unknown'})`);
  if (width > limits.maxSide || height > limits.maxSide) {
    throw new HttpError(413, `image too large: ${width}x${height} pixels (the limit is ${limits.maxSide}x${limits.maxSide}); scale it down first`);
  }
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: limits.maxSide * limits.maxSide, failOn: 'warning' })
      .rotate().flatten({ background: '#ffffff' }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    throw new HttpError(400, `the ${format ?? ''} image could not be decoded (truncated or corrupt?): ${(e as Error).message}`.replace('the  image', 'the image'));
  }
}

/**
 * A [-1, 1] CHW image [3, S, S] as a PNG data URL: 8-bit values truncated as pSp's tensor2im (what
 * every written reconstruction uses), or rounded (inputs: an 8-bit upload comes back exactly).
 */
export async function pngDataUrl(data: Float32Array, size: number, rounding: 'truncate' | 'round' = 'truncate'): Promise<string> {
  const hwc = rounding === 'round' ? chwToRgb(data, size).data : chwToHwc(data, size, size);
  const png = await sharp(Buffer.from(hwc.buffer, hwc.byteOffset, hwc.length), { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}
