// SSIM (Wang et al. 2004) on H x W x C (channel-last) or H x W images, computed as
// scikit-image's structural_similarity does, in double:
//   per channel: mu_x, mu_y, E[x^2], E[y^2], E[xy] by a separable window (valid positions only:
//   the window lies entirely inside the image, no padding), sigma_x^2 = cov_norm (E[x^2] - mu_x^2),
//   likewise sigma_y^2 and sigma_xy; C1 = (K1 L)^2, C2 = (K2 L)^2;
//   S = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2));
//   the channel's SSIM = mean of S; the image's SSIM = mean over channels.
// Windows:
//   'gaussian'  (default, the paper's / Wang et al.'s): 11 taps, sigma 1.5 (scipy radius
//               int(3.5 sigma + 0.5) = 5), weights exp(-x^2 / (2 sigma^2)) normalised to sum 1,
//               population covariance (cov_norm 1).
//   'uniform7'  (scikit-image's default): 7 x 7 box, sample covariance (cov_norm 49/48).
// Two 1-d passes per statistic: O(H W taps) per channel, no padding.
import { checkSameShape, type ImageLike } from './image.js';

export type SsimWindow = 'gaussian' | 'uniform7';

export interface SsimOptions {
  window?: SsimWindow;
  /** The value range of the data, L (255 for 8-bit images, 2 for [-1, 1]). */
  dataRange?: number;
}

const K1 = 0.01;
const K2 = 0.03;
const SIGMA = 1.5;
const TRUNCATE = 3.5;

interface WindowSpec {
  taps: Float64Array;
  covNorm: number;
}

function windowSpec(window: SsimWindow): WindowSpec {
  if (window === 'gaussian') {
    const radius = Math.floor(TRUNCATE * SIGMA + 0.5);
    const taps = new Float64Array(2 * radius + 1);
    let sum = 0;
    for (let i = -radius; i <= radius; i++) sum += taps[i + radius] = Math.exp((-0.5 / (SIGMA * SIGMA)) * i * i);
    for (let i = 0; i < taps.length; i++) taps[i]! /= sum;
    return { taps, covNorm: 1 };
  }
  if (window === 'uniform7') {
    const size = 7, np = size * size;
    return { taps: new Float64Array(size).fill(1 / size), covNorm: np / (np - 1) };
  }
  throw new Error(`ssim: window must be 'gaussian' or 'uniform7', got '${String(window)}'`);
}

/** A short description of the SSIM / PSNR conventions, to print with every table. */
export function describeMetricConventions(window: SsimWindow = 'gaussian', dataRange = 255): string {
  const ssimText = window === 'gaussian'
    ? 'SSIM: 11x11 Gaussian window (sigma 1.5), population covariance'
    : 'SSIM: 7x7 uniform window (scikit-image default), sample covariance';
  return `${ssimText}, K1 ${K1}, K2 ${K2}, L ${dataRange}, valid (unpadded) positions, per channel then averaged; PSNR: MAX ${dataRange}, MSE over all pixels and channels`;
}

/** Mean SSIM of two images of the same shape (H x W x C channel-last, or H x W). */
export function ssim(a: ImageLike, b: ImageLike, opts: SsimOptions = {}): number {
  checkSameShape('ssim', a, b);
  const shape = a.shape;
  if (shape.length !== 2 && shape.length !== 3) {
    throw new Error(`ssim: expected an H x W or H x W x C image, got shape [${shape.join(', ')}]`);
  }
  const [h, w] = shape as [number, number];
  const c = shape.length === 3 ? shape[2]! : 1;
  const range = opts.dataRange ?? 255;
  if (!(range > 0 && Number.isFinite(range))) throw new Error(`ssim: dataRange must be a positive number, got ${range}`);
  const win = opts.window ?? 'gaussian';
  const spec = windowSpec(win);
  const k = spec.taps.length;
  if (h < k || w < k) throw new Error(`ssim: the image (${h} x ${w}) is smaller than the ${k} x ${k} '${win}' window`);
  if (c < 1) throw new Error('ssim: the image has no channels');
  const ctx = new SsimContext(h, w, k);
  let total = 0;
  for (let ch = 0; ch < c; ch++) total += ctx.channel(a.data, b.data, c, ch, spec, range);
  return total / c;
}

/** Buffers of the separable passes, reused across channels. */
class SsimContext {
  private readonly ho: number;
  private readonly wo: number;
  /** Horizontal pass results (h x wo) of x, y, xx, yy, xy. */
  private readonly hx: Float64Array;
  private readonly hy: Float64Array;
  private readonly hxx: Float64Array;
  private readonly hyy: Float64Array;
  private readonly hxy: Float64Array;
  private readonly rowX: Float64Array;
  private readonly rowY: Float64Array;

  constructor(private readonly h: number, private readonly w: number, k: number) {
    this.ho = h - k + 1;
    this.wo = w - k + 1;
    const n = h * this.wo;
    this.hx = new Float64Array(n);
    this.hy = new Float64Array(n);
    this.hxx = new Float64Array(n);
    this.hyy = new Float64Array(n);
    this.hxy = new Float64Array(n);
    this.rowX = new Float64Array(w);
    this.rowY = new Float64Array(w);
  }

  channel(da: ArrayLike<number>, db: ArrayLike<number>, c: number, ch: number, spec: WindowSpec, range: number): number {
    const { h, w, ho, wo, hx, hy, hxx, hyy, hxy, rowX, rowY } = this;
    const taps = spec.taps, k = taps.length;
    // Horizontal pass over every row.
    for (let y = 0; y < h; y++) {
      const base = y * w;
      for (let x = 0; x < w; x++) {
        rowX[x] = da[(base + x) * c + ch]!;
        rowY[x] = db[(base + x) * c + ch]!;
      }
      const o = y * wo;
      for (let x = 0; x < wo; x++) {
        let sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
        for (let t = 0; t < k; t++) {
          const wt = taps[t]!, vx = rowX[x + t]!, vy = rowY[x + t]!;
          sx += wt * vx;
          sy += wt * vy;
          sxx += wt * vx * vx;
          syy += wt * vy * vy;
          sxy += wt * vx * vy;
        }
        hx[o + x] = sx;
        hy[o + x] = sy;
        hxx[o + x] = sxx;
        hyy[o + x] = syy;
        hxy[o + x] = sxy;
      }
    }
    // Vertical pass at the valid positions, then the SSIM map and its mean.
    const c1 = (K1 * range) ** 2, c2 = (K2 * range) ** 2, cov = spec.covNorm;
    let total = 0;
    for (let y = 0; y < ho; y++) {
      for (let x = 0; x < wo; x++) {
        let ux = 0, uy = 0, uxx = 0, uyy = 0, uxy = 0;
        for (let t = 0; t < k; t++) {
          const wt = taps[t]!, i = (y + t) * wo + x;
          ux += wt * hx[i]!;
          uy += wt * hy[i]!;
          uxx += wt * hxx[i]!;
          uyy += wt * hyy[i]!;
          uxy += wt * hxy[i]!;
        }
        const vx = cov * (uxx - ux * ux);
        const vy = cov * (uyy - uy * uy);
        const vxy = cov * (uxy - ux * uy);
        const num = (2 * ux * uy + c1) * (2 * vxy + c2);
        const den = (ux * ux + uy * uy + c1) * (vx + vy + c2);
        total += num / den;
      }
    }
    return total / (ho * wo);
  }
}
