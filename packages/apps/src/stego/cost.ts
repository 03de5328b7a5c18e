// The embedding cost map: HILL (B. Li, M. Wang, J. Huang, X. Li, "A new cost function for spatial
// image steganography", IEEE ICIP 2014). Per colour channel: the residual of the high-pass KB filter
// [-1 2 -1; 2 -4 2; -1 2 -1], its magnitude averaged over 3x3 (L1), the reciprocal, and that averaged
// over 15x15 (L2):  rho = L2 * (1 / (L1 * |KB * X| + eps)).  Textured regions (large residuals) get
// low costs and smooth ones high costs, so changes land where they are hardest to model. Costs are
// the same for +1 and -1 (HILL is symmetric); borders are mirrored ('symmetric' padding).

/** HILL's KB high-pass kernel (3x3, row-major). */
const KB = [-1, 2, -1, 2, -4, 2, -1, 2, -1];
/** eps of the reciprocal: flat regions get costs near 1/eps (very expensive, still finite). */
export const HILL_EPS = 1e-10;

/** Mirror index (MATLAB 'symmetric': ... 1 0 | 0 1 2 ... n-1 | n-1 n-2 ...), valid for any offset. */
function mirror(i: number, n: number): number {
  const p = 2 * n;
  let k = i % p;
  if (k < 0) k += p;
  return k < n ? k : p - 1 - k;
}

/** Mean over a (2r+1) x (2r+1) window with mirrored borders (separable; plane is H x W). */
export function boxMean(plane: Float64Array, width: number, height: number, r: number): Float64Array {
  const tmp = new Float64Array(plane.length);
  const out = new Float64Array(plane.length);
  const xs = new Int32Array(width + 2 * r + 1); // one spare: the running sums read one past the last window
  for (let i = 0; i < xs.length; i++) xs[i] = mirror(i - r, width);
  const ys = new Int32Array(height + 2 * r + 1);
  for (let i = 0; i < ys.length; i++) ys[i] = mirror(i - r, height);
  const k = 2 * r + 1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    // running sum along the row
    let s = 0;
    for (let i = 0; i < k; i++) s += plane[row + xs[i]!]!;
    for (let x = 0; x < width; x++) {
      tmp[row + x] = s;
      s += plane[row + xs[x + k]!]! - plane[row + xs[x]!]!;
    }
  }
  const norm = 1 / (k * k);
  for (let x = 0; x < width; x++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += tmp[ys[i]! * width + x]!;
    for (let y = 0; y < height; y++) {
      out[y * width + x] = s * norm;
      s += tmp[ys[y + k]! * width + x]! - tmp[ys[y]! * width + x]!;
    }
  }
  return out;
}

/** HILL costs of one channel plane (values 0..255, H x W, row-major). */
export function hillPlane(plane: Float64Array, width: number, height: number): Float64Array {
  const res = new Float64Array(plane.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const row = mirror(y + dy, height) * width;
        for (let dx = -1; dx <= 1; dx++) s += KB[(dy + 1) * 3 + dx + 1]! * plane[row + mirror(x + dx, width)]!;
      }
      res[y * width + x] = Math.abs(s);
    }
  }
  const l1 = boxMean(res, width, height, 1);
  for (let i = 0; i < l1.length; i++) l1[i] = 1 / (l1[i]! + HILL_EPS);
  return boxMean(l1, width, height, 7);
}

/**
 * HILL costs of every value of an interleaved 8-bit image (H x W x channels, row-major, as sharp's
 * raw output), in the same layout; each of the first `colourChannels` channels on its own, the rest
 * (alpha) Infinity (never changed).
 */
export function hillCosts(pixels: Uint8Array, width: number, height: number, channels: number, colourChannels = channels): Float64Array {
  if (pixels.length !== width * height * channels) throw new Error(`hillCosts: ${pixels.length} values are not ${width}x${height}x${channels}`);
  const out = new Float64Array(pixels.length).fill(Infinity);
  const plane = new Float64Array(width * height);
  for (let c = 0; c < colourChannels; c++) {
    for (let i = 0; i < plane.length; i++) plane[i] = pixels[i * channels + c]!;
    const rho = hillPlane(plane, width, height);
    for (let i = 0; i < plane.length; i++) out[i * channels + c] = rho[i]!;
  }
  return out;
}
