// Real face images for tests (the sample faces that ship in data/faces): decoded with sharp to
// [1, 3, 256, 256] tensors in [-1, 1].
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { Tensor } from '@sgi/core';
import { repoFile } from '../../core/test/helpers.js';

/** The 6 sample faces of data/faces, sorted; throws if the folder is missing or holds fewer. */
export function faceImageFiles(): string[] {
  const dir = repoFile('data/faces');
  const files = fs.readdirSync(dir).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
  if (files.length < 6) throw new Error(`${dir} holds ${files.length} face image(s); the repository ships 6 (data/README.md)`);
  return files.map((f) => path.join(dir, f));
}

export type Variant = 'plain' | 'flip' | 'crop';

/** The image at 256, optionally mirrored, or cropped by 6% per side and resized back to 256. */
export async function loadFace(file: string, variant: Variant = 'plain'): Promise<Tensor> {
  let img = sharp(file).removeAlpha().resize(256, 256, { fit: 'fill' });
  if (variant === 'flip') img = img.flop();
  if (variant === 'crop') {
    const base = await img.png().toBuffer();
    img = sharp(base).extract({ left: 16, top: 16, width: 224, height: 224 }).resize(256, 256);
  }
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  const { width: w, height: h, channels: c } = info;
  const out = new Float32Array(3 * h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < 3; k++) {
    out[k * h * w + y * w + x] = data[(y * w + x) * c + k]! / 127.5 - 1;
  }
  return Tensor.fromArray(out, [1, 3, h, w]);
}
