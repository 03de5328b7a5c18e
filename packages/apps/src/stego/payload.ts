// The hidden payload: a W+ code quantised to `bits` bits per value, uniformly between a minimum and
// a maximum stored in the header (one pair per style layer, or one for the whole code), then
// a CRC-32 over header and data. Layout (big-endian):
//   0  magic 'SGIW'            4  version (1)          5  bits per value (2..16)
//   6  range mode (0 global, 1 per layer)             7  reserved (0)
//   8  nLatent (u16)          10  styleDim (u16)
//  12  ranges: (1 or nLatent) x (min f32, max f32)
//   .  data length in bytes (u32), data: the quantised values packed MSB first
//   .  CRC-32 of everything before it (u32)
// Quantisation: q = round((v - min) / step), step = (max - min) / (2^bits - 1); v' = min + q step,
// so |v - v'| <= step / 2.
import { crc32 } from './crc32.js';
import { StegoError, READ_FAILURE } from './container.js';

export const PAYLOAD_MAGIC = 'SGIW';
export const PAYLOAD_VERSION = 1;
export type RangeMode = 'layer' | 'global';

export interface QuantisedCode {
  bits: number;
  nLatent: number;
  styleDim: number;
  range: RangeMode;
  /** Minimum and maximum per range group (nLatent groups for 'layer', 1 for 'global'), float32 values. */
  lo: Float32Array;
  hi: Float32Array;
  /** Quantised values, nLatent * styleDim of them. */
  q: Uint16Array;
}

export function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 2 || bits > 16) throw new Error(`bits per value must be an integer from 2 to 16, got ${bits}`);
}

/** Header, data and checksum bytes of a code of this shape (what gets hidden). */
export function payloadBytes(nLatent: number, styleDim: number, bits: number, range: RangeMode = 'layer'): number {
  const groups = range === 'layer' ? nLatent : 1;
  return 12 + groups * 8 + 4 + Math.ceil((nLatent * styleDim * bits) / 8) + 4;
}

export function quantiseCode(code: Float32Array, nLatent: number, styleDim: number, bits = 8, range: RangeMode = 'layer'): QuantisedCode {
  checkBits(bits);
  if (range !== 'layer' && range !== 'global') throw new Error(`range must be 'layer' or 'global', got '${range}'`);
  if (code.length !== nLatent * styleDim) throw new Error(`a W+ code of [${nLatent}, ${styleDim}] has ${nLatent * styleDim} values, got ${code.length}`);
  if (nLatent > 65535 || styleDim > 65535) throw new Error('W+ code too large for the payload header');
  const groups = range === 'layer' ? nLatent : 1;
  const per = code.length / groups;
  const lo = new Float32Array(groups), hi = new Float32Array(groups);
  const q = new Uint16Array(code.length);
  const levels = 2 ** bits - 1;
  for (let g = 0; g < groups; g++) {
    let a = Infinity, b = -Infinity;
    for (let i = g * per; i < (g + 1) * per; i++) {
      const v = code[i]!;
      if (!Number.isFinite(v)) throw new Error(`the W+ code holds a non-finite value (${v}) at ${i}`);
      if (v < a) a = v;
      if (v > b) b = v;
    }
    lo[g] = a;
    hi[g] = b;
    const step = (hi[g]! - lo[g]!) / levels;
    for (let i = g * per; i < (g + 1) * per; i++) q[i] = step > 0 ? Math.min(levels, Math.max(0, Math.round((code[i]! - lo[g]!) / step))) : 0;
  }
  return { bits, nLatent, styleDim, range, lo, hi, q };
}

export function dequantiseCode(c: QuantisedCode): Float32Array {
  const groups = c.lo.length;
  const per = c.q.length / groups;
  const levels = 2 ** c.bits - 1;
  const out = new Float32Array(c.q.length);
  for (let g = 0; g < groups; g++) {
    const step = (c.hi[g]! - c.lo[g]!) / levels;
    for (let i = g * per; i < (g + 1) * per; i++) out[i] = c.lo[g]! + c.q[i]! * step;
  }
  return out;
}

/** Quantisation step of each range group. */
export function quantisationSteps(c: QuantisedCode): Float64Array {
  const levels = 2 ** c.bits - 1;
  return Float64Array.from(c.lo, (lo, g) => (c.hi[g]! - lo) / levels);
}

export function encodePayload(c: QuantisedCode): Uint8Array {
  checkBits(c.bits);
  const groups = c.range === 'layer' ? c.nLatent : 1;
  if (c.lo.length !== groups || c.hi.length !== groups || c.q.length !== c.nLatent * c.styleDim) throw new Error('inconsistent quantised code');
  const out = new Uint8Array(payloadBytes(c.nLatent, c.styleDim, c.bits, c.range));
  const v = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = PAYLOAD_MAGIC.charCodeAt(i);
  out[4] = PAYLOAD_VERSION;
  out[5] = c.bits;
  out[6] = c.range === 'layer' ? 1 : 0;
  v.setUint16(8, c.nLatent);
  v.setUint16(10, c.styleDim);
  let o = 12;
  for (let g = 0; g < groups; g++, o += 8) {
    v.setFloat32(o, c.lo[g]!);
    v.setFloat32(o + 4, c.hi[g]!);
  }
  const dataBytes = Math.ceil((c.q.length * c.bits) / 8);
  v.setUint32(o, dataBytes);
  o += 4;
  let bit = o * 8;
  for (let i = 0; i < c.q.length; i++) {
    const q = c.q[i]!;
    for (let b = c.bits - 1; b >= 0; b--, bit++) if ((q >>> b) & 1) out[bit >>> 3]! |= 0x80 >>> (bit & 7);
  }
  o += dataBytes;
  v.setUint32(o, crc32(out.subarray(0, o)));
  return out;
}

/** Reads a payload back; a checksum mismatch (wrong key, modified stego) is a StegoError. */
export function decodePayload(bytes: Uint8Array): QuantisedCode {
  if (bytes.length < 20) throw new StegoError(`${READ_FAILURE} (payload of ${bytes.length} bytes is too short)`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - 4;
  const want = v.getUint32(end), got = crc32(bytes.subarray(0, end));
  if (want !== got) throw new StegoError(`${READ_FAILURE} (CRC-32 ${got.toString(16).padStart(8, '0')}, expected ${want.toString(16).padStart(8, '0')})`);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== PAYLOAD_MAGIC) throw new StegoError(`the hidden message is not an sgi W+ code (magic '${magic}')`);
  if (bytes[4] !== PAYLOAD_VERSION) throw new StegoError(`hidden W+ code format version ${bytes[4]} is not supported (this sgi reads version ${PAYLOAD_VERSION})`);
  const bits = bytes[5]!;
  const range: RangeMode = bytes[6] === 1 ? 'layer' : 'global';
  const nLatent = v.getUint16(8), styleDim = v.getUint16(10);
  const groups = range === 'layer' ? nLatent : 1;
  if (bits < 2 || bits > 16 || bytes[6]! > 1 || nLatent === 0 || styleDim === 0 || payloadBytes(nLatent, styleDim, bits, range) !== bytes.length) {
    throw new StegoError('the hidden W+ code header is inconsistent');
  }
  const lo = new Float32Array(groups), hi = new Float32Array(groups);
  let o = 12;
  for (let g = 0; g < groups; g++, o += 8) {
    lo[g] = v.getFloat32(o);
    hi[g] = v.getFloat32(o + 4);
  }
  const dataBytes = v.getUint32(o);
  o += 4;
  if (dataBytes !== Math.ceil((nLatent * styleDim * bits) / 8)) throw new StegoError('the hidden W+ code header is inconsistent (data length)');
  const q = new Uint16Array(nLatent * styleDim);
  let bit = o * 8;
  for (let i = 0; i < q.length; i++) {
    let x = 0;
    for (let b = 0; b < bits; b++, bit++) x = (x << 1) | ((bytes[bit >>> 3]! >>> (7 - (bit & 7))) & 1);
    q[i] = x;
  }
  return { bits, nLatent, styleDim, range, lo, hi, q };
}
