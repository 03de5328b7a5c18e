// Host images for the metrics, and the conversion of network outputs ([-1, 1], C x H x W) to
// 8-bit H x W x C images.
//
// pSp's tensor2im (which writes the images its evaluation scripts score) computes, in float32,
//   v = (x + 1) / 2;  v = clamp(v, 0, 1);  v = v * 255;  uint8 = v.astype('uint8')
// and numpy's astype truncates toward zero: 'truncate' (the default) reproduces it exactly
// (float32 arithmetic included). 'round' rounds to nearest (halves up; values are >= 0) after
// the same clamp, which is unbiased and is what most image writers do.

/** A host array with its shape (row-major): H x W x C images, H x W grey images, or any array for PSNR. */
export interface ImageLike {
  readonly data: ArrayLike<number>;
  readonly shape: readonly number[];
}

/** An 8-bit H x W x C image. */
export interface Uint8Image extends ImageLike {
  readonly data: Uint8Array;
  readonly shape: readonly [number, number, number];
}

export type Rounding = 'truncate' | 'round';

/** Something with a shape that can give its values as a Float32Array (a core Tensor) or a host array. */
export type FloatSource = ImageLike | { readonly shape: readonly number[]; toArray(): Float32Array };

function hostData(x: FloatSource): ArrayLike<number> {
  return 'toArray' in x && typeof x.toArray === 'function' ? x.toArray() : (x as ImageLike).data;
}

const f32 = Math.fround;

/** One [-1, 1] value to 8 bits, in float32 like pSp's tensor2im. */
export function unitToUint8(x: number, rounding: Rounding = 'truncate'): number {
  if (Number.isNaN(x)) return 0;
  let v = f32(f32(f32(x) + 1) / 2);
  v = v < 0 ? 0 : v > 1 ? 1 : v;
  v = f32(v * 255);
  return rounding === 'round' ? Math.floor(v + 0.5) : Math.trunc(v);
}

/** A [-1, 1] C x H x W image (a Tensor or host array) as an 8-bit H x W x C image. */
export function tensorToImage(x: FloatSource, opts: { rounding?: Rounding } = {}): Uint8Image {
  if (x.shape.length !== 3) throw new Error(`tensorToImage: expected a C x H x W image, got shape [${x.shape.join(', ')}]`);
  const [c, h, w] = x.shape as [number, number, number];
  return chwToImage(hostData(x), 0, c, h, w, opts.rounding ?? 'truncate');
}

/** A [-1, 1] N x C x H x W batch (a Tensor or host array) as N 8-bit H x W x C images. */
export function tensorToImages(x: FloatSource, opts: { rounding?: Rounding } = {}): Uint8Image[] {
  if (x.shape.length !== 4) throw new Error(`tensorToImages: expected an N x C x H x W batch, got shape [${x.shape.join(', ')}]`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const data = hostData(x);
  const out: Uint8Image[] = [];
  for (let i = 0; i < n; i++) out.push(chwToImage(data, i * c * h * w, c, h, w, opts.rounding ?? 'truncate'));
  return out;
}

function chwToImage(data: ArrayLike<number>, offset: number, c: number, h: number, w: number, rounding: Rounding): Uint8Image {
  if (rounding !== 'truncate' && rounding !== 'round') throw new Error(`tensorToImage: rounding must be 'truncate' or 'round', got '${rounding}'`);
  const out = new Uint8Array(c * h * w);
  const plane = h * w;
  for (let ch = 0; ch < c; ch++) {
    for (let p = 0; p < plane; p++) out[p * c + ch] = unitToUint8(data[offset + ch * plane + p]!, rounding);
  }
  return { data: out, shape: [h, w, c] };
}

/** Checks that two images have the same shape; returns the element count. */
export function checkSameShape(fn: string, a: ImageLike, b: ImageLike): number {
  const sa = a.shape, sb = b.shape;
  if (sa.length !== sb.length || sa.some((d, i) => d !== sb[i])) {
    throw new Error(`${fn}: images have different shapes [${sa.join(', ')}] and [${sb.join(', ')}]`);
  }
  const n = sa.reduce((p, d) => p * d, 1);
  if (a.data.length !== n || b.data.length !== n) {
    throw new Error(`${fn}: shape [${sa.join(', ')}] needs ${n} values, got ${a.data.length} and ${b.data.length}`);
  }
  return n;
}

/** Wraps a bare array as a 1-d image. */
export function asImage(x: ImageLike | ArrayLike<number>): ImageLike {
  return 'shape' in x && 'data' in x ? x : { data: x as ArrayLike<number>, shape: [(x as ArrayLike<number>).length] };
}
