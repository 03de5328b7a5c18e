// Secure deep hiding (the paper's Section 5.1): the W+ code of a secret face, quantised, framed and
// checksummed (stego/payload.ts), is hidden in a PNG carrier by +-1 changes that minimise the HILL
// distortion with syndrome-trellis codes (stego/); the receiver with the key reads the code back and
// regenerates the face with the generator. Only lossless carriers work: JPEG is refused (lossy
// recompression destroys the embedded bits), and the stego is always written as PNG.
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { writeNpy } from '@sgi/core';
import { writeImageGrid } from '@sgi/experiment';
import type { Inverter } from './inverter.js';
import {
  DEFAULT_HEIGHT, DEFAULT_MAX_BPP, checkBits, checkFits, checkHeight, decodePayload, dequantiseCode, embedMessage, encodePayload, extractMessage,
  payloadBytes, quantiseCode, StegoError, type EmbedReport, type PixelImage, type QuantisedCode, type RangeMode,
} from './stego/index.js';

/** Reads an 8-bit image as interleaved values (alpha, if any, kept apart from the colour channels). */
export async function readStegoPixels(file: string): Promise<PixelImage & { format: string }> {
  if (!fs.existsSync(file)) throw new Error(`image not found: ${file}`);
  let meta: Metadata;
  try {
    meta = await sharp(file).metadata();
  } catch (e) {
    throw new Error(`cannot read image ${file}: ${(e as Error).message}`);
  }
  if (meta.depth && meta.depth !== 'uchar' && meta.depth !== 'char') throw new Error(`${file} has ${meta.depth} samples; only 8-bit images are supported (convert it to 8 bits per channel first)`);
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  const channels = info.channels;
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
    channels,
    colourChannels: info.hasAlpha ? channels - 1 : channels,
    format: meta.format ?? 'unknown',
  };
}

/** Reads a carrier: PNG only (JPEG refused with the reason, other formats asked to be converted). */
export async function readCarrierPng(file: string): Promise<PixelImage> {
  const img = await readStegoPixels(file);
  if (img.format === 'jpeg' || img.format === 'jpg') {
    throw new Error(`${file} is a JPEG: JPEG carriers are refused because lossy (re)compression destroys the embedded bits (and a JPEG saved as PNG betrays its history); use a PNG carrier`);
  }
  if (img.format !== 'png') throw new Error(`${file} is ${img.format}: only PNG carriers are supported; convert it losslessly to PNG first`);
  return img;
}

/** Writes an 8-bit image losslessly as PNG (creating the folder). */
export async function writeStegoPng(file: string, img: PixelImage): Promise<void> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: img.channels as 1 | 2 | 3 | 4 } })
    .png({ compressionLevel: 9 })
    .toFile(file);
}

export interface HideCodeOptions {
  key?: string;
  /** Bits per W+ value (default 8). */
  bits?: number;
  /** Quantisation ranges: per style layer (default) or one for the code. */
  range?: RangeMode;
  /** STC constraint height 7..12 (default 10). */
  height?: number;
  /** Largest embedding rate accepted (bpp, default 0.5). */
  maxBpp?: number;
}

export interface HideCodeReport extends EmbedReport {
  quantised: QuantisedCode;
  payloadBytes: number;
}

/** Checks (before any work) that a code of this shape fits the carrier; throws with the numbers. */
export function checkCodeFits(carrier: Pick<PixelImage, 'width' | 'height' | 'colourChannels'>, nLatent: number, styleDim: number, opts: HideCodeOptions = {}): number {
  checkBits(opts.bits ?? 8);
  const bytes = payloadBytes(nLatent, styleDim, opts.bits ?? 8, opts.range ?? 'layer');
  try {
    checkFits(carrier, bytes, opts.maxBpp ?? DEFAULT_MAX_BPP);
  } catch (e) {
    throw new Error(`a [${nLatent}, ${styleDim}] W+ code at ${opts.bits ?? 8} bits per value does not fit: ${(e as Error).message}`);
  }
  return bytes;
}

/** Hides a W+ code [nLatent, styleDim] in a carrier image (in memory). */
export function hideCode(carrier: PixelImage, code: Float32Array, nLatent: number, styleDim: number, opts: HideCodeOptions = {}): HideCodeReport {
  checkHeight(opts.height ?? DEFAULT_HEIGHT);
  checkCodeFits(carrier, nLatent, styleDim, opts);
  const quantised = quantiseCode(code, nLatent, styleDim, opts.bits ?? 8, opts.range ?? 'layer');
  const payload = encodePayload(quantised);
  const r = embedMessage(carrier, payload, { key: opts.key, height: opts.height, maxBpp: opts.maxBpp });
  return { ...r, quantised, payloadBytes: payload.length };
}

/** The W+ code hidden in a stego image with `key` (dequantised), and its quantised form. */
export function revealCode(stego: PixelImage, key = ''): { code: Float32Array; quantised: QuantisedCode } {
  const quantised = decodePayload(extractMessage(stego, key));
  return { code: dequantiseCode(quantised), quantised };
}

export interface HideFileReport extends HideCodeReport {
  out: string;
  carrier: { width: number; height: number };
}

/** sgi hide: inverts the secret face, hides its code in the PNG carrier, writes the stego PNG and checks it reads back. */
export async function hideImageFile(inv: Inverter, opts: HideCodeOptions & { secret: string; carrier: string; out: string }): Promise<HideFileReport> {
  if (path.extname(opts.out).toLowerCase() !== '.png') throw new Error(`--out must be a .png file (the stego is stored losslessly), got ${opts.out}`);
  checkHeight(opts.height ?? DEFAULT_HEIGHT);
  const carrier = await readCarrierPng(opts.carrier);
  checkCodeFits(carrier, inv.nLatent, inv.styleDim, opts); // before inverting or writing anything
  if (!fs.existsSync(opts.secret)) throw new Error(`secret image not found: ${opts.secret}`);
  const code = inv.invert(await inv.readImage(opts.secret)).codes;
  const r = hideCode(carrier, code, inv.nLatent, inv.styleDim, opts);
  await writeStegoPng(opts.out, r.stego);
  // the file as written must give the code back
  const back = revealCode(await readStegoPixels(opts.out), opts.key ?? '');
  const want = r.quantised.q;
  if (back.quantised.q.length !== want.length || back.quantised.q.some((q, i) => q !== want[i])) throw new Error(`${opts.out} does not read back the hidden code (internal error)`);
  return { ...r, out: opts.out, carrier: { width: carrier.width, height: carrier.height } };
}

export interface RevealFileReport {
  code: Float32Array;
  quantised: QuantisedCode;
  secretPng: string;
  codeNpy: string;
}

/** sgi reveal: reads the hidden code of a stego PNG, writes it (.npy) and the face it generates (secret.png). */
export async function revealImageFile(inv: Inverter, opts: { stego: string; outDir: string; key?: string }): Promise<RevealFileReport> {
  const img = await readStegoPixels(opts.stego);
  let r: { code: Float32Array; quantised: QuantisedCode };
  try {
    r = revealCode(img, opts.key ?? '');
  } catch (e) {
    if (!(e instanceof StegoError)) throw e;
    const hint = img.format === 'jpeg' ? ' (this is a JPEG: lossy compression destroys hidden bits)' : '';
    throw new StegoError(`${opts.stego}: ${e.message}${hint}`);
  }
  if (r.quantised.nLatent !== inv.nLatent || r.quantised.styleDim !== inv.styleDim) {
    throw new Error(`${opts.stego} hides a [${r.quantised.nLatent}, ${r.quantised.styleDim}] W+ code, but this config's generator uses [${inv.nLatent}, ${inv.styleDim}]: reveal with the config it was hidden with`);
  }
  fs.mkdirSync(opts.outDir, { recursive: true });
  const codeNpy = path.join(opts.outDir, 'secret.npy');
  const secretPng = path.join(opts.outDir, 'secret.png');
  writeNpy(codeNpy, { shape: [inv.nLatent, inv.styleDim], data: r.code });
  await writeImageGrid(secretPng, [{ data: inv.synthesize(r.code), offset: 0 }], inv.size, 1);
  return { ...r, secretPng, codeNpy };
}
