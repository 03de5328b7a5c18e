// safetensors read/write: 8-byte little-endian header length, JSON header, raw little-endian data.
// Reads every dtype people store (F32, F64, F16, BF16, integer, bool) as float32 arrays.
import * as fs from 'node:fs';
import { shapeStr } from '../shape.js';

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

export function parseSafetensors(buf: Buffer, file = '<buffer>'): SafetensorsFile {
  if (buf.length < 8) throw new SafetensorsError(file, `only ${buf.length} bytes (truncated)`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen <= 0 || 8 + headerLen > buf.length) {
    throw new SafetensorsError(file, `header length ${headerLen} exceeds the file size ${buf.length} (truncated or corrupt)`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  } catch (e) {
    throw new SafetensorsError(file, `header is not JSON (${(e as Error).message})`);
  }
  const base = 8 + headerLen;
  const tensors = new Map<string, HostTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') { metadata = (entry ?? {}) as Record<string, string>; continue; }
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (!e || typeof e.dtype !== 'string' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) {
      throw new SafetensorsError(file, `entry '${name}' lacks dtype, shape or data_offsets`);
    }
    const size = DTYPE_BYTES[e.dtype];
    if (!size) throw new SafetensorsError(file, `entry '${name}' has unsupported dtype ${e.dtype}`);
    const [start, end] = e.data_offsets;
    const numel = e.shape.reduce((a, b) => a * b, 1);
    if (end - start !== numel * size) {
      throw new SafetensorsError(file, `entry '${name}' spans ${end - start} bytes but ${e.dtype} ${shapeStr(e.shape)} needs ${numel * size}`);
    }
    if (start < 0 || base + end > buf.length) throw new SafetensorsError(file, `entry '${name}' lies beyond the end of the file (truncated)`);
    tensors.set(name, { dtype: e.dtype, shape: e.shape, data: decode(buf, base + start, numel, e.dtype) });
  }
  return { tensors, metadata };
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

/** Writes atomically: temporary file, fsync, rename. */
export function writeSafetensors(file: string, tensors: Iterable<[string, { shape: readonly number[]; data: Float32Array }]>, metadata?: Record<string, string>): void {
  writeFileAtomic(file, serializeSafetensors(tensors, metadata));
}

export function writeFileAtomic(file: string, data: Buffer | string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    if (typeof data === "string") fs.writeSync(fd, data);
    else fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
