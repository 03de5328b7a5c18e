// Rendering faces: facesjs's SVG, cropped to a square around the head (the way FFHQ crops a photo
// around the face), rasterised by sharp (libvips/librsvg on libuv's worker threads, so rendering
// overlaps the engine's compute) and composited on white.
import sharp from 'sharp';
import { faceToSvgString, type FaceConfig } from 'facesjs';
import type { WorldFace } from './sample.js';

/** The square of facesjs's 400x600 canvas that holds the head: x, y, side. */
export const FACE_CROP = { x: 15, y: 115, side: 370 } as const;

/**
 * The face as an SVG document cropped to FACE_CROP. facesjs edits the face it draws (a hat
 * rewrites the hair style in place), so it draws a copy: the caller's face stays as it was.
 */
export function faceSvg(face: FaceConfig): string {
  const svg = faceToSvgString(structuredClone(face));
  const cropped = svg.replace(/viewBox="0 0 400 600"/, `viewBox="${FACE_CROP.x} ${FACE_CROP.y} ${FACE_CROP.side} ${FACE_CROP.side}"`);
  if (cropped === svg) throw new Error('facesjs SVG without the expected viewBox="0 0 400 600" (facesjs version changed?)');
  return cropped.replace(/width="100%" height="100%"/, 'width="400" height="400"');
}

/** Rasterises an SVG document to size x size RGB (HWC, 8-bit) on a white background. */
export async function rasterise(svg: string, size: number): Promise<Uint8Array> {
  const buf = await sharp(Buffer.from(svg), { density: Math.max(72, Math.ceil((72 * size) / 400) * 2) })
    .resize(size, size, { fit: 'fill', kernel: 'lanczos3' })
    .flatten({ background: '#ffffff' })
    .removeAlpha()
    .raw()
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** A face rendered at size x size: RGB HWC 8-bit. */
export function renderFace(f: WorldFace, size: number): Promise<Uint8Array> {
  return rasterise(faceSvg(f.face), size);
}

/** 8-bit HWC RGB to CHW floats in [-1, 1] (the engine's image layout), written at `offset`. */
export function toChw(rgbHwc: Uint8Array, size: number, out = new Float32Array(3 * size * size), offset = 0): Float32Array {
  const plane = size * size;
  for (let i = 0; i < plane; i++) {
    out[offset + i] = rgbHwc[i * 3]! / 127.5 - 1;
    out[offset + plane + i] = rgbHwc[i * 3 + 1]! / 127.5 - 1;
    out[offset + 2 * plane + i] = rgbHwc[i * 3 + 2]! / 127.5 - 1;
  }
  return out;
}

/** Faces rendered as one CHW float batch [count, 3, size, size] in [-1, 1]. */
export async function renderBatch(faces: readonly WorldFace[], size: number): Promise<Float32Array> {
  const plane = 3 * size * size;
  const out = new Float32Array(faces.length * plane);
  const imgs = await Promise.all(faces.map((f) => renderFace(f, size)));
  imgs.forEach((img, i) => toChw(img, size, out, i * plane));
  return out;
}
