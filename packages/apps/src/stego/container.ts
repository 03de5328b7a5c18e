// Hiding a byte string in an 8-bit image with +-1 changes: the carrier's colour values are
// permuted by a keyed permutation; the first n0 of them carry a 48-bit frame (message length,
// STC height, a check byte) with a fixed height-7 STC, the rest the message with an STC of the chosen
// height. Both are masked by a keyed stream and both H_hat submatrices are keyed, so without the key
// the bits read back are noise. The STC works on least significant bits; each bit it flips becomes
// a +1 or -1 change of that value (the cheaper direction; HILL costs are symmetric, so a keyed coin
// decides, and values at 0 or 255 only move inwards), so no value moves by more than 1 or leaves
// [0, 255]. Costs default to HILL (cost.ts).
import { hillCosts } from './cost.js';
import { keyedPermutation, keyedRandom } from './keys.js';
import { DEFAULT_MAX_PATH_BYTES, checkHeight, hhatWidth, makeHhat, stcEmbed, stcExtract } from './stc.js';
import { crc32 } from './crc32.js';

/** An interleaved 8-bit image (H x W x channels, row-major); channels past `colourChannels` are alpha and never changed. */
export interface PixelImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
  colourChannels: number;
}

/** Raised when a hidden message cannot be read back: wrong key, modified image, or none hidden. */
export class StegoError extends Error {
  override name = 'StegoError';
}

export const DEFAULT_HEIGHT = 10;
/** Default ceiling on the embedding rate, in embedded bits per pixel (frame included). */
export const DEFAULT_MAX_BPP = 0.5;
/** Frame: message length (32 bits), STC height (8 bits), check byte (8 bits). */
export const FRAME_BITS = 48;
const FRAME_HEIGHT = 7;
/** The frame's cover: at most 16 values per frame bit, at most a quarter of the carrier. */
export function frameCoverLength(n: number): number {
  return Math.min(FRAME_BITS * 16, Math.floor(n / 4));
}
/** Smallest carrier (colour values). */
export const MIN_COVER = 4 * FRAME_BITS;

export interface EmbedOptions {
  /** Passphrase (default: the empty key, which anyone can use). */
  key?: string;
  /** STC constraint height, 7..12 (default 10). */
  height?: number;
  /** Largest embedding rate accepted, bits per pixel (default 0.5). */
  maxBpp?: number;
  /** Cost of changing each value (same layout as the image; default HILL). */
  costs?: Float64Array;
  /** Viterbi decision memory before segmenting (bytes). */
  maxPathBytes?: number;
}

export interface Capacity {
  /** Colour values of the carrier (n). */
  coverValues: number;
  pixels: number;
  maxBpp: number;
  /** Largest message, in bits (a whole number of bytes), the frame excluded. */
  maxMessageBits: number;
}

export function capacity(img: Pick<PixelImage, 'width' | 'height' | 'colourChannels'>, maxBpp = DEFAULT_MAX_BPP): Capacity {
  const pixels = img.width * img.height;
  const n = pixels * img.colourChannels;
  const byRate = Math.floor(maxBpp * pixels) - FRAME_BITS;
  const byCover = n - frameCoverLength(n);
  const bits = n < MIN_COVER ? 0 : Math.max(0, Math.min(byRate, byCover));
  return { coverValues: n, pixels, maxBpp, maxMessageBits: Math.floor(bits / 8) * 8 };
}

/** Throws (naming the numbers) unless a message of `bytes` bytes fits the carrier under `maxBpp`. */
export function checkFits(img: Pick<PixelImage, 'width' | 'height' | 'colourChannels'>, bytes: number, maxBpp = DEFAULT_MAX_BPP): void {
  if (!(maxBpp > 0)) throw new Error(`the maximum embedding rate must be positive, got ${maxBpp} bpp`);
  const cap = capacity(img, maxBpp);
  if (cap.coverValues < MIN_COVER) throw new Error(`the carrier is too small: ${img.width}x${img.height} with ${img.colourChannels} colour channel(s) has ${cap.coverValues} values, at least ${MIN_COVER} are needed`);
  const bits = 8 * bytes;
  if (bits > cap.maxMessageBits) {
    const bpp = (bits + FRAME_BITS) / cap.pixels;
    const minSide = Math.ceil(Math.sqrt((bits + FRAME_BITS) / maxBpp));
    throw new Error(`payload too large: ${bits} bits + ${FRAME_BITS} frame bits = ${bpp.toFixed(3)} bpp in a ${img.width}x${img.height} carrier, over the maximum of ${maxBpp} bpp (${cap.maxMessageBits} message bits); use a carrier of at least ${minSide}x${minSide} pixels or fewer bits per value`);
  }
}

export interface EmbedReport {
  stego: PixelImage;
  /** Message bits (the frame excluded). */
  messageBits: number;
  /** Message and frame bits. */
  embeddedBits: number;
  /** Embedded bits per pixel and per colour value. */
  bpp: number;
  bitsPerValue: number;
  height: number;
  /** Changed values (each by exactly 1). */
  changes: number;
  /** Total cost of the changes. */
  distortion: number;
  /** PSNR of the stego against the carrier over the colour values (dB; Infinity when identical). */
  psnr: number;
  maxAbsDiff: number;
  /** Time for the cost map and the embedding (s). */
  seconds: number;
  costSeconds: number;
}

/** Indices (into `data`) of the colour values, in carrier order. */
function coverIndices(img: PixelImage): Uint32Array {
  const { width, height, channels, colourChannels } = img;
  if (img.data.length !== width * height * channels) throw new Error(`image data holds ${img.data.length} values, not ${width}x${height}x${channels}`);
  if (!(colourChannels >= 1 && colourChannels <= channels)) throw new Error(`colourChannels must be 1..${channels}, got ${colourChannels}`);
  const out = new Uint32Array(width * height * colourChannels);
  let k = 0;
  for (let p = 0; p < width * height; p++) for (let c = 0; c < colourChannels; c++) out[k++] = p * channels + c;
  return out;
}

/** The carrier positions in keyed order: data indices of the cover sequence. */
function keyedCover(img: PixelImage, key: string): Uint32Array {
  const idx = coverIndices(img);
  const perm = keyedPermutation(idx.length, key);
  const out = new Uint32Array(idx.length);
  for (let j = 0; j < idx.length; j++) out[j] = idx[perm[j]!]!;
  return out;
}

function maskBits(bits: Uint8Array, key: string, purpose: string): Uint8Array {
  const mask = keyedRandom(key, purpose).bits(new Uint8Array(bits.length));
  for (let i = 0; i < bits.length; i++) bits[i]! ^= mask[i]!;
  return bits;
}

function bytesToBits(bytes: Uint8Array): Uint8Array {
  const bits = new Uint8Array(bytes.length * 8);
  for (let i = 0; i < bytes.length; i++) for (let b = 0; b < 8; b++) bits[i * 8 + b] = (bytes[i]! >>> (7 - b)) & 1;
  return bits;
}

function bitsToBytes(bits: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(bits.length >>> 3);
  for (let i = 0; i < bytes.length; i++) {
    let v = 0;
    for (let b = 0; b < 8; b++) v = (v << 1) | bits[i * 8 + b]!;
    bytes[i] = v;
  }
  return bytes;
}

function frameBytes(messageBits: number, height: number): Uint8Array {
  const f = new Uint8Array(6);
  const v = new DataView(f.buffer);
  v.setUint32(0, messageBits);
  f[4] = height;
  f[5] = crc32(f.subarray(0, 5)) & 0xff;
  return f;
}

const frameHhat = (key: string, n0: number) => makeHhat(keyedRandom(key, 'hhat-frame'), hhatWidth(n0, FRAME_BITS), FRAME_HEIGHT);
const mainHhat = (key: string, n1: number, m: number, h: number) => makeHhat(keyedRandom(key, 'hhat-message'), hhatWidth(n1, m), h);

/** Hides `message` in a copy of `img`; refuses (before any work) a message that does not fit. */
export function embedMessage(img: PixelImage, message: Uint8Array, opts: EmbedOptions = {}): EmbedReport {
  const key = opts.key ?? '';
  const h = opts.height ?? DEFAULT_HEIGHT;
  checkHeight(h);
  const maxBpp = opts.maxBpp ?? DEFAULT_MAX_BPP;
  checkFits(img, message.length, maxBpp);
  if (message.length === 0) throw new Error('the message is empty');
  const t0 = performance.now();
  const cover = keyedCover(img, key);
  const n = cover.length;
  const n0 = frameCoverLength(n);
  const costsRaw = opts.costs ?? hillCosts(img.data, img.width, img.height, img.channels, img.colourChannels);
  if (costsRaw.length !== img.data.length) throw new Error(`${costsRaw.length} costs for ${img.data.length} image values`);
  const t1 = performance.now();
  const lsb = new Uint8Array(n);
  const costs = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    lsb[j] = img.data[cover[j]!]! & 1;
    const c = costsRaw[cover[j]!]!;
    if (!(c >= 0)) throw new Error(`cost of value ${cover[j]} is ${c}; costs must be non-negative`);
    costs[j] = c;
  }
  const m = message.length * 8;
  const frame = maskBits(bytesToBits(frameBytes(m, h)), key, 'mask-frame');
  const body = maskBits(bytesToBits(message), key, 'mask-message');
  const maxPathBytes = opts.maxPathBytes ?? DEFAULT_MAX_PATH_BYTES;
  const rf = stcEmbed(lsb.subarray(0, n0), costs.subarray(0, n0), frame, frameHhat(key, n0), FRAME_HEIGHT, { maxPathBytes });
  const rm = stcEmbed(lsb.subarray(n0), costs.subarray(n0), body, mainHhat(key, n - n0, m, h), h, { maxPathBytes });

  const out = new Uint8Array(img.data);
  const coin = keyedRandom(key, 'sign');
  let changes = 0;
  const apply = (bits: Uint8Array, offset: number) => {
    for (let j = 0; j < bits.length; j++) {
      if (bits[j] === lsb[offset + j]) continue;
      const i = cover[offset + j]!;
      const v = out[i]!;
      out[i] = v === 0 ? 1 : v === 255 ? 254 : (coin.nextU32() & 1) ? v + 1 : v - 1;
      changes++;
    }
  };
  apply(rf.stego, 0);
  apply(rm.stego, n0);
  const t2 = performance.now();

  let sq = 0, maxAbsDiff = 0;
  for (let j = 0; j < n; j++) {
    const d = Math.abs(out[cover[j]!]! - img.data[cover[j]!]!);
    sq += d * d;
    if (d > maxAbsDiff) maxAbsDiff = d;
  }
  const mse = sq / n;
  return {
    stego: { ...img, data: out },
    messageBits: m,
    embeddedBits: m + FRAME_BITS,
    bpp: (m + FRAME_BITS) / (img.width * img.height),
    bitsPerValue: (m + FRAME_BITS) / n,
    height: h,
    changes,
    distortion: rf.distortion + rm.distortion,
    psnr: mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse),
    maxAbsDiff,
    seconds: (t2 - t0) / 1000,
    costSeconds: (t1 - t0) / 1000,
  };
}

const READ_FAILURE = 'checksum failed: wrong key, or the image was modified (for example re-saved lossily or resized), or it holds no hidden message';

/** The message hidden with `key`; throws StegoError when the frame does not check out. */
export function extractMessage(img: PixelImage, key = ''): Uint8Array {
  const cover = keyedCover(img, key);
  const n = cover.length;
  if (n < MIN_COVER) throw new StegoError(`the image is too small to hold a hidden message (${n} colour values)`);
  const n0 = frameCoverLength(n);
  const lsb = new Uint8Array(n);
  for (let j = 0; j < n; j++) lsb[j] = img.data[cover[j]!]! & 1;
  const frame = bitsToBytes(maskBits(stcExtract(lsb.subarray(0, n0), FRAME_BITS, frameHhat(key, n0)), key, 'mask-frame'));
  const m = new DataView(frame.buffer).getUint32(0);
  const h = frame[4]!;
  if ((crc32(frame.subarray(0, 5)) & 0xff) !== frame[5] || h < 7 || h > 12 || m === 0 || m % 8 !== 0 || m > n - n0) {
    throw new StegoError(`${READ_FAILURE} (the frame does not check out)`);
  }
  return bitsToBytes(maskBits(stcExtract(lsb.subarray(n0), m, mainHhat(key, n - n0, m, h)), key, 'mask-message'));
}

/** The same message hidden by naive LSB replacement at the first positions of the keyed order (a baseline for the costs). */
export function lsbReplacementDistortion(img: PixelImage, message: Uint8Array, costs: Float64Array, key = ''): { changes: number; distortion: number } {
  const cover = keyedCover(img, key);
  const bits = bytesToBits(message);
  if (bits.length > cover.length) throw new Error('message longer than the carrier');
  let changes = 0, distortion = 0;
  for (let j = 0; j < bits.length; j++) {
    if ((img.data[cover[j]!]! & 1) !== bits[j]) {
      changes++;
      distortion += costs[cover[j]!]!;
    }
  }
  return { changes, distortion };
}

export { READ_FAILURE };
