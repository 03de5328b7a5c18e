// safetensors read/write: 8-byte little-endian header length, JSON header, raw little-endian data.
// Reads every dtype people store (F32, F64, F16, BF16, integer, bool) as float32 arrays.
//
// Untrusted files (limits in limits.ts): the header is at most 100 MB; every entry is validated
// before anything is decoded: shapes hold non-negative integers with a product below 2^53,
// data_offsets are integers with 0 <= start <= end <= the data size and end - start = the shape's
// element count x the dtype's size, and no two entries' byte ranges overlap. Every byte of data is
// therefore decoded at most once: the tensors take at most 4 x the file's size.
import { writeFileAtomic } from './atomic_file.js';
import * as fs from 'node:fs';
import { shapeStr } from '../shape.js';
import { LOADER_LIMITS, LoaderLimitError, safeProduct, type LoaderLimits } from './limits.js';

export interface HostTensor {
  dtype: string;
  shape: number[];
  data: Float32Array;
}
export interface SafetensorsFile {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

const DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export class SafetensorsError extends Error {
  constructor(file: string, msg: string) {
    super(`${file}: not a valid safetensors file: ${msg}`);
  }
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  numel: number;
  start: number;
  end: number;
}

export function parseSafetensors(buf: Buffer, file = '<buffer>', limits?: Partial<LoaderLimits>): SafetensorsFile {
  const l = { ...LOADER_LIMITS, ...limits };
  if (buf.length < 8) throw new SafetensorsError(file, `only ${buf.length} bytes (truncated)`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen <= 0 || 8 + headerLen > buf.length) {
    throw new SafetensorsError(file, `header length ${headerLen} exceeds the file size ${buf.length} (truncated or corrupt)`);
  }
  if (headerLen > l.maxSafetensorsHeader) {
    throw new LoaderLimitError(file, `its safetensors header of ${headerLen} bytes is larger than the limit of ${l.maxSafetensorsHeader} bytes (see io/limits.ts)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  } catch (e) {
    throw new SafetensorsError(file, `header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new SafetensorsError(file, 'header is not a JSON object');
  const base = 8 + headerLen;
  const entries: Entry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') { metadata = checkMetadata(entry, file); continue; }
    entries.push(checkEntry(name, entry, buf.length - base, file));
  }
  checkNoOverlap(entries, file);
  const tensors = new Map<string, HostTensor>();
  for (const e of entries) tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decode(buf, base + e.start, e.numel, e.dtype) });
  return { tensors, metadata };
}

const short = (name: string): string => (name.length > 120 ? `${name.slice(0, 117)}...` : name);
const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** One header entry, checked against the data section of `dataBytes` bytes. */
function checkEntry(name: string, entry: unknown, dataBytes: number, file: string): Entry {
  const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
  const what = `entry '${short(name)}'`;
  if (!e || typeof e !== 'object' || typeof e.dtype !== 'string' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
    throw new SafetensorsError(file, `${what} lacks dtype, shape or data_offsets`);
  }
  const size = DTYPE_BYTES[e.dtype];
  if (!size || !Object.prototype.hasOwnProperty.call(DTYPE_BYTES, e.dtype)) throw new SafetensorsError(file, `${what} has unsupported dtype ${short(e.dtype)}`);
  const shape = e.shape as unknown[];
  if (!shape.every(isIndex)) {
    throw new SafetensorsError(file, `${what} has shape ${short(JSON.stringify(shape))}: sizes must be non-negative integers`);
  }
  const numel = safeProduct(shape);
  if (Number.isNaN(numel)) throw new SafetensorsError(file, `${what} has shape ${shapeStr(shape as number[])} of more than 2^53 elements`);
  const offsets = e.data_offsets as unknown[];
  const [start, end] = offsets;
  if (offsets.length !== 2 || !isIndex(start) || !isIndex(end) || start > end) {
    throw new SafetensorsError(file, `${what} has data_offsets ${short(JSON.stringify(offsets))}: expected [start, end] with 0 <= start <= end`);
  }
  if (end - start !== numel * size) {
    throw new SafetensorsError(file, `${what} spans ${end - start} bytes but ${e.dtype} ${shapeStr(shape as number[])} needs ${numel * size}`);
  }
  if (end > dataBytes) {
    throw new SafetensorsError(file, `${what} has data_offsets [${start}, ${end}] beyond the end of the data (${dataBytes} bytes; truncated or corrupt)`);
  }
  return { name, dtype: e.dtype, shape: shape as number[], numel, start, end };
}

/** Byte ranges may not overlap: each byte of data belongs to one tensor (and is decoded once). */
function checkNoOverlap(entries: Entry[], file: string): void {
  const ranges = entries.filter((e) => e.end > e.start).sort((a, b) => a.start - b.start);
  for (let i = 1; i < ranges.length; i++) {
    const a = ranges[i - 1]!, b = ranges[i]!;
    if (b.start < a.end) {
      throw new SafetensorsError(file, `entries '${short(a.name)}' (bytes [${a.start}, ${a.end})) and '${short(b.name)}' ` +
        `(bytes [${b.start}, ${b.end})) overlap`);
    }
  }
}

function checkMetadata(v: unknown, file: string): Record<string, string> {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    throw new SafetensorsError(file, '__metadata__ must map names to strings');
  }
  return v as Record<string, string>;
}

export function readSafetensors(file: string): SafetensorsFile {
  if (!fs.existsSync(file)) throw new Error(`${file}: file not found`);
  return parseSafetensors(fs.readFileSync(file), file);
}

function decode(buf: Buffer, offset: number, n: number, dtype: string): Float32Array {
  const out = new Float32Array(n);
  const view = new DataView(buf.buffer, buf.byteOffset + offset, n * DTYPE_BYTES[dtype]!);
  switch (dtype) {
    case 'F32':
      if ((buf.byteOffset + offset) % 4 === 0) out.set(new Float32Array(buf.buffer, buf.byteOffset + offset, n));
      else for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'F64': for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true); break;
    case 'F16': for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true)); break;
    case 'BF16': {
      const tmp = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < n; i++) { tmp.setUint32(0, view.getUint16(i * 2, true) << 16); out[i] = tmp.getFloat32(0); }
      break;
    }
    case 'I64': for (let i = 0; i < n; i++) out[i] = Number(view.getBigInt64(i * 8, true)); break;
    case 'I32': for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true); break;
    case 'I16': for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true); break;
    case 'I8': for (let i = 0; i < n; i++) out[i] = view.getInt8(i); break;
    case 'U8': case 'BOOL': for (let i = 0; i < n; i++) out[i] = view.getUint8(i); break;
  }
  return out;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Serialises float32 tensors (name order kept) with optional string metadata. */
export function serializeSafetensors(tensors: Iterable<[string, { shape: readonly number[]; data: Float32Array }]>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    chunks.push(t.data);
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keep the data 8-byte aligned
  const headerBuf = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBuf.length + offset);
  out.writeBigUInt64LE(BigInt(headerBuf.length), 0);
  headerBuf.copy(out, 8);
  let pos = 8 + headerBuf.length;
  for (const c of chunks) {
    Buffer.from(c.buffer, c.byteOffset, c.byteLength).copy(out, pos);
    pos += c.byteLength;
  }
  return out;
}

/** Writes atomically (see io/atomic_file.ts: every byte checked, fsync, rename, fsync of the folder). */
export function writeSafetensors(file: string, tensors: Iterable<[string, { shape: readonly number[]; data: Float32Array }]>, metadata?: Record<string, string>): void {
  writeFileAtomic(file, serializeSafetensors(tensors, metadata));
}

