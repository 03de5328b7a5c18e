// PSNR and SSIM of two batches of images [B, 3, H, W] in [-1, 1], on their 8-bit values (the
// conventions of psnr.ts and ssim.ts), averaged over the batch. PSNR of identical images is
// counted as 100 dB so that a mean stays finite.
import type { Tensor } from '../tensor.js';
import { psnr } from './psnr.js';
import { ssim } from './ssim.js';
import { tensorToImages } from './image.js';

export function meanImageScores(target: Tensor, output: Tensor): { psnr: number; ssim: number } {
  const a = tensorToImages(target), b = tensorToImages(output);
  if (a.length !== b.length) throw new Error(`meanImageScores: ${a.length} target image(s) but ${b.length} output image(s)`);
  let p = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    p += Math.min(psnr(a[i]!, b[i]!), 100);
    s += ssim(a[i]!, b[i]!);
  }
  return { psnr: p / a.length, ssim: s / a.length };
}
