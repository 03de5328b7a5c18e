// Image metrics on host arrays (8-bit H x W x C images by default) and the conversion of
// network outputs to 8-bit images. Conventions: see psnr.ts, ssim.ts and image.ts.
export { psnr, mse, type PsnrOptions } from './psnr.js';
export { ssim, describeMetricConventions, type SsimOptions, type SsimWindow } from './ssim.js';
export {
  tensorToImage, tensorToImages, unitToUint8, checkSameShape,
  type ImageLike, type Uint8Image, type Rounding, type FloatSource,
} from './image.js';
export { meanImageScores } from './scores.js';
