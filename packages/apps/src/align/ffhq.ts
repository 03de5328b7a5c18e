// FFHQ face alignment as pure functions: 68 landmarks -> the FFHQ quad -> the similarity that maps
// the photo onto the aligned square, the warp itself, its inverse, and pasting an aligned
// (reconstructed) face back into the photo through a feathered mask.
//
// The quad follows the FFHQ dataset script (Karras et al.): with the eyes the means of landmarks
// 36-41 and 42-47 and the mouth the mean of landmarks 48 and 54,
//   x = eye_to_eye - flipud(eye_to_mouth) * [-1, 1];  x /= |x|
//   x *= max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|);   y = flipud(x) * [-1, 1]
//   c = eye_avg + 0.1 eye_to_mouth;  quad = [c - x - y, c - x + y, c + x + y, c + x - y]
// (top-left, bottom-left, bottom-right, top-right of the aligned image; qsize = 2 |x|).
//
// Coordinates: pixel centres at integers (pixel (i, j) covers [i - 0.5, i + 0.5] x [j - 0.5, j + 0.5]),
// as dlib's and face-api's landmarks. The FFHQ script hands `quad + 0.5` to PIL's QUAD transform,
// whose pixel centres lie at half-integers, so aligned pixel (u, v) of an S x S output samples the
// photo at q0 + 2x (u + 0.5) / S + 2y (v + 0.5) / S: that is the transform below.
//
// Resampling: bilinear, with box supersampling when the quad is larger than the output (the
// minification FFHQ handles with its antialiased shrink), and samples outside the photo mirrored
// back into it (reflection, as FFHQ's padding; FFHQ's additional blur of the padded border is not
// done).

/** A point [x, y] in pixels. */
export type Point = [number, number];

/** A 2-D affine map as the top two rows [a, b, c, d, e, f]: x' = a x + b y + c, y' = d x + e y + f. */
export type Affine = [number, number, number, number, number, number];

/** An 8-bit RGB image, rows top to bottom, 3 bytes a pixel. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface FfhqQuad {
  eyeLeft: Point;
  eyeRight: Point;
  mouth: Point;
  /** Centre of the crop. */
  center: Point;
  /** Half the crop's side along the aligned x axis (points right in the aligned image). */
  x: Point;
  /** Half the crop's side along the aligned y axis (points down). */
  y: Point;
  /** Corners: top-left, bottom-left, bottom-right, top-right of the aligned image. */
  quad: [Point, Point, Point, Point];
  /** Side of the crop in photo pixels (2 |x|). */
  qsize: number;
}

const mean = (pts: Point[]): Point => {
  let sx = 0, sy = 0;
  for (const [x, y] of pts) { sx += x; sy += y; }
  return [sx / pts.length, sy / pts.length];
};

/** Checks 68 finite landmarks. */
export function checkLandmarks68(landmarks: readonly Point[]): void {
  if (!Array.isArray(landmarks) || landmarks.length !== 68) throw new Error(`FFHQ alignment needs 68 landmarks, got ${Array.isArray(landmarks) ? landmarks.length : typeof landmarks}`);
  for (const p of landmarks) {
    if (!Array.isArray(p) || p.length !== 2 || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) throw new Error(`FFHQ alignment: landmark ${JSON.stringify(p)} is not a finite [x, y]`);
  }
}

/** The FFHQ crop quad of a face from its 68 landmarks (iBUG 300-W order, as dlib and face-api). */
export function ffhqQuad(landmarks: readonly Point[]): FfhqQuad {
  checkLandmarks68(landmarks);
  const eyeLeft = mean(landmarks.slice(36, 42) as Point[]);
  const eyeRight = mean(landmarks.slice(42, 48) as Point[]);
  const mouth = mean([landmarks[48]!, landmarks[54]!]);
  const eyeAvg: Point = [(eyeLeft[0] + eyeRight[0]) / 2, (eyeLeft[1] + eyeRight[1]) / 2];
  const e2e: Point = [eyeRight[0] - eyeLeft[0], eyeRight[1] - eyeLeft[1]];
  const e2m: Point = [mouth[0] - eyeAvg[0], mouth[1] - eyeAvg[1]];
  // flipud([m0, m1]) * [-1, 1] = [-m1, m0]
  let x: Point = [e2e[0] + e2m[1], e2e[1] - e2m[0]];
  const norm = Math.hypot(x[0], x[1]);
  if (!(norm > 1e-9)) throw new Error('FFHQ alignment: degenerate landmarks (eyes and mouth coincide)');
  const len = Math.max(Math.hypot(e2e[0], e2e[1]) * 2.0, Math.hypot(e2m[0], e2m[1]) * 1.8);
  x = [(x[0] / norm) * len, (x[1] / norm) * len];
  const y: Point = [-x[1], x[0]];
  const c: Point = [eyeAvg[0] + e2m[0] * 0.1, eyeAvg[1] + e2m[1] * 0.1];
  const quad: [Point, Point, Point, Point] = [
    [c[0] - x[0] - y[0], c[1] - x[1] - y[1]],
    [c[0] - x[0] + y[0], c[1] - x[1] + y[1]],
    [c[0] + x[0] + y[0], c[1] + x[1] + y[1]],
    [c[0] + x[0] - y[0], c[1] + x[1] - y[1]],
  ];
  return { eyeLeft, eyeRight, mouth, center: c, x, y, quad, qsize: 2 * len };
}

/**
 * The map from aligned pixels (size x size) to photo pixels for a quad (top-left, bottom-left,
 * bottom-right, top-right). Exact for FFHQ's quads, which are squares; for any other quad it is the
 * affine map through its top-left, bottom-left and top-right corners.
 */
export function alignedToImage(quad: readonly Point[], size: number): Affine {
  if (!(Number.isInteger(size) && size > 0)) throw new Error(`aligned size must be a positive integer, got ${size}`);
  const [q0, q1, , q3] = quad as [Point, Point, Point, Point];
  const ax = [(q3[0] - q0[0]) / size, (q3[1] - q0[1]) / size];
  const ay = [(q1[0] - q0[0]) / size, (q1[1] - q0[1]) / size];
  // p = q0 + ax (u + 0.5) + ay (v + 0.5)
  return [ax[0]!, ay[0]!, q0[0] + 0.5 * (ax[0]! + ay[0]!), ax[1]!, ay[1]!, q0[1] + 0.5 * (ax[1]! + ay[1]!)];
}

/** The map from photo pixels to aligned pixels (size x size) for a quad: the inverse of alignedToImage. */
export function imageToAligned(quad: readonly Point[], size: number): Affine {
  return invertAffine(alignedToImage(quad, size));
}

/** The FFHQ transform photo -> aligned (size x size) of a face's 68 landmarks. */
export function ffhqTransform(landmarks: readonly Point[], size: number): { quad: FfhqQuad; matrix: Affine } {
  const quad = ffhqQuad(landmarks);
  return { quad, matrix: imageToAligned(quad.quad, size) };
}

export function applyAffine(m: Affine, p: Point): Point {
  return [m[0] * p[0] + m[1] * p[1] + m[2], m[3] * p[0] + m[4] * p[1] + m[5]];
}

export function invertAffine(m: Affine): Affine {
  const [a, b, c, d, e, f] = m;
  const det = a * e - b * d;
  if (!(Math.abs(det) > 1e-12) || !Number.isFinite(det)) throw new Error(`affine map [${m.join(', ')}] is not invertible`);
  const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

/** outer ∘ inner: first `inner`, then `outer`. */
export function composeAffine(outer: Affine, inner: Affine): Affine {
  const [a, b, c, d, e, f] = outer;
  const [A, B, C, D, E, F] = inner;
  return [a * A + b * D, a * B + b * E, a * C + b * F + c, d * A + e * D, d * B + e * E, d * C + e * F + f];
}

/** Pixel-centre map between square images of sides `from` and `to` (u' = (u + 0.5) to / from - 0.5). */
export function resizeAffine(from: number, to: number): Affine {
  const s = to / from;
  return [s, 0, 0.5 * s - 0.5, 0, s, 0.5 * s - 0.5];
}

/** Largest singular value of the linear part: photo pixels per aligned pixel for an aligned->photo map. */
export function affineScale(m: Affine): number {
  const [a, b, , d, e] = m;
  const s1 = a * a + b * b + d * d + e * e;
  const det = a * e - b * d;
  return Math.sqrt((s1 + Math.sqrt(Math.max(0, s1 * s1 - 4 * det * det))) / 2);
}

export type PaddingMode = 'reflect' | 'edge' | 'zero';

/** Mirrors (reflect, without repeating the edge pixel), clamps (edge) or flags (-1: zero) an index. */
function fold(i: number, n: number, mode: PaddingMode): number {
  if (i >= 0 && i < n) return i;
  if (mode === 'zero') return -1;
  if (mode === 'edge' || n === 1) return i < 0 ? 0 : n - 1;
  const period = 2 * (n - 1);
  let k = i % period;
  if (k < 0) k += period;
  return k < n ? k : period - k;
}

/** Bilinear sample of an RGB image at (x, y) (pixel centres at integers), written to out[o..o+2]. */
function sampleBilinear(img: RgbImage, x: number, y: number, mode: PaddingMode, out: Float64Array, o: number): void {
  const x0 = Math.floor(x), y0 = Math.floor(y);
  const fx = x - x0, fy = y - y0;
  const { width: W, height: H, data } = img;
  const xa = fold(x0, W, mode), xb = fold(x0 + 1, W, mode);
  const ya = fold(y0, H, mode), yb = fold(y0 + 1, H, mode);
  const w00 = (1 - fx) * (1 - fy), w10 = fx * (1 - fy), w01 = (1 - fx) * fy, w11 = fx * fy;
  for (let ch = 0; ch < 3; ch++) {
    let v = 0;
    if (ya >= 0 && xa >= 0) v += w00 * data[(ya * W + xa) * 3 + ch]!;
    if (ya >= 0 && xb >= 0) v += w10 * data[(ya * W + xb) * 3 + ch]!;
    if (yb >= 0 && xa >= 0) v += w01 * data[(yb * W + xa) * 3 + ch]!;
    if (yb >= 0 && xb >= 0) v += w11 * data[(yb * W + xb) * 3 + ch]!;
    out[o + ch]! += v;
  }
}

export interface WarpOptions {
  /** What samples outside the source become (default 'reflect'). */
  padding?: PaddingMode;
  /** Box supersampling when the map minifies (default true; at most 8 x 8 samples a pixel). */
  antialias?: boolean;
}

/**
 * Resamples `src` into a width x height image: output pixel (u, v) takes the source at
 * toSrc(u, v) (bilinear; averaged over an n x n grid inside the output pixel when the map shrinks
 * the source by n or more).
 */
export function warpAffine(src: RgbImage, toSrc: Affine, width: number, height: number, opts: WarpOptions = {}): RgbImage {
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) throw new Error(`warp: output size must be positive integers, got ${width}x${height}`);
  if (src.data.length !== src.width * src.height * 3) throw new Error(`warp: source has ${src.data.length} bytes, expected ${src.width}x${src.height}x3`);
  const mode = opts.padding ?? 'reflect';
  const n = opts.antialias === false ? 1 : Math.min(8, Math.max(1, Math.ceil(affineScale(toSrc) - 1e-6)));
  const out = new Uint8Array(width * height * 3);
  const acc = new Float64Array(3);
  const [a, b, c, d, e, f] = toSrc;
  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      acc.fill(0);
      for (let j = 0; j < n; j++) {
        const vv = v + (j + 0.5) / n - 0.5;
        for (let i = 0; i < n; i++) {
          const uu = u + (i + 0.5) / n - 0.5;
          sampleBilinear(src, a * uu + b * vv + c, d * uu + e * vv + f, mode, acc, 0);
        }
      }
      const o = (v * width + u) * 3;
      for (let ch = 0; ch < 3; ch++) out[o + ch] = Math.min(255, Math.max(0, Math.round(acc[ch]! / (n * n))));
    }
  }
  return { width, height, data: out };
}

export interface AlignedFace {
  image: RgbImage;
  quad: FfhqQuad;
  /** photo -> aligned pixels. */
  matrix: Affine;
  size: number;
}

/** Crops and aligns the face with these 68 landmarks to size x size, as FFHQ does. */
export function alignFace(photo: RgbImage, landmarks: readonly Point[], size: number, opts: WarpOptions = {}): AlignedFace {
  const { quad, matrix } = ffhqTransform(landmarks, size);
  return { image: warpAffine(photo, invertAffine(matrix), size, size, opts), quad, matrix, size };
}

/**
 * The paste-back mask in aligned pixels: 1 inside the square, falling to 0 at its border over
 * `feather` (a fraction of the side) with a smoothstep, so the pasted face has no visible seam.
 */
export function featherWeight(u: number, v: number, size: number, feather: number): number {
  const inside = Math.min(u + 0.5, v + 0.5, size - (u + 0.5), size - (v + 0.5));
  if (inside <= 0) return 0;
  const f = feather * size;
  if (f <= 0) return 1;
  const t = Math.min(1, inside / f);
  return t * t * (3 - 2 * t);
}

export interface PasteOptions {
  /** Width of the soft edge as a fraction of the aligned side (default 0.1). */
  feather?: number;
}

/**
 * Pastes an aligned face (any square size: the map is rescaled to it) back into the photo it came
 * from: every photo pixel the aligned square covers is blended with the face, sampled through the
 * inverse transform, by the feathered mask. `matrix` maps photo -> aligned pixels of an aligned
 * image of side `alignedSize`. Returns a new image.
 */
export function pasteBack(photo: RgbImage, face: RgbImage, matrix: Affine, alignedSize: number, opts: PasteOptions = {}): RgbImage {
  if (face.width !== face.height) throw new Error(`paste-back: the aligned face must be square, got ${face.width}x${face.height}`);
  const feather = opts.feather ?? 0.1;
  if (!(feather >= 0 && feather <= 0.5)) throw new Error(`paste-back: feather must be in [0, 0.5], got ${feather}`);
  const S = face.width;
  const toFace = composeAffine(resizeAffine(alignedSize, S), matrix);
  const toPhoto = invertAffine(toFace);
  const out = new Uint8Array(photo.data);
  // bounding box of the aligned square in the photo
  const corners = [[-0.5, -0.5], [S - 0.5, -0.5], [S - 0.5, S - 0.5], [-0.5, S - 0.5]].map((p) => applyAffine(toPhoto, p as Point));
  const x0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[0])))), x1 = Math.min(photo.width - 1, Math.ceil(Math.max(...corners.map((p) => p[0]))));
  const y0 = Math.max(0, Math.floor(Math.min(...corners.map((p) => p[1])))), y1 = Math.min(photo.height - 1, Math.ceil(Math.max(...corners.map((p) => p[1]))));
  const acc = new Float64Array(3);
  const [a, b, c, d, e, f] = toFace;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const u = a * x + b * y + c, v = d * x + e * y + f;
      const w = featherWeight(u, v, S, feather);
      if (w <= 0) continue;
      acc.fill(0);
      sampleBilinear(face, u, v, 'edge', acc, 0);
      const o = (y * photo.width + x) * 3;
      for (let ch = 0; ch < 3; ch++) out[o + ch] = Math.min(255, Math.max(0, Math.round(w * acc[ch]! + (1 - w) * photo.data[o + ch]!)));
    }
  }
  return { width: photo.width, height: photo.height, data: out };
}

/** PSNR (dB) between two 8-bit images of one size. */
export function psnr8(a: RgbImage, b: RgbImage): number {
  if (a.width !== b.width || a.height !== b.height) throw new Error(`psnr: sizes differ (${a.width}x${a.height} and ${b.width}x${b.height})`);
  let se = 0;
  for (let i = 0; i < a.data.length; i++) { const t = a.data[i]! - b.data[i]!; se += t * t; }
  const mse = se / a.data.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}
