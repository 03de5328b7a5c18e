// PSNR = 10 log10(MAX^2 / MSE), MSE over every value (all pixels and channels), in double.
// MAX = dataRange: 255 for 8-bit images (the paper's convention; equal to MAX 2 on [-1, 1]).
// Identical images give Infinity (as scikit-image's peak_signal_noise_ratio).
import { asImage, checkSameShape, type ImageLike } from './image.js';

export interface PsnrOptions {
  /** The value range of the data (255 for 8-bit images, 2 for [-1, 1]). */
  dataRange?: number;
}

export function mse(a: ImageLike | ArrayLike<number>, b: ImageLike | ArrayLike<number>): number {
  return mseOf('mse', a, b);
}

function mseOf(fn: string, a: ImageLike | ArrayLike<number>, b: ImageLike | ArrayLike<number>): number {
  const ia = asImage(a), ib = asImage(b);
  const n = checkSameShape(fn, ia, ib);
  if (n === 0) throw new Error(`${fn}: the images are empty`);
  const da = ia.data, db = ib.data;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const d = da[i]! - db[i]!;
    sum += d * d;
  }
  return sum / n;
}

export function psnr(a: ImageLike | ArrayLike<number>, b: ImageLike | ArrayLike<number>, opts: PsnrOptions = {}): number {
  const range = opts.dataRange ?? 255;
  if (!(range > 0 && Number.isFinite(range))) throw new Error(`psnr: dataRange must be a positive number, got ${range}`);
  const m = mseOf('psnr', a, b);
  if (m === 0) return Infinity;
  return 10 * Math.log10((range * range) / m);
}
