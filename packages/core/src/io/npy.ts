// NumPy .npy files (format versions 1.0, 2.0 and 3.0) and the element decoding shared by the
// checkpoint readers. Reads bool/integer/float arrays of any byte order, C or Fortran order,
// as float32 HostTensors; writes float32 ('<f4', C order).
//
// Untrusted files (limits in limits.ts): the header is at most 64 KiB with literals nested at most
// 32 deep (numpy itself reads 10000 bytes by default); the shape must hold non-negative integers
// whose product is below 2^53, and the data must hold every element the shape claims, so the
// decoded array is at most 4 x the file's size.
import * as fs from 'node:fs';
import { halfToFloat, type HostTensor } from './safetensors.js';
import { writeFileAtomic } from './atomic_file.js';
import { LOADER_LIMITS, LoaderLimitError, safeProduct, type LoaderLimits } from './limits.js';

/** Element types, named like safetensors dtypes. */
export type DtypeCode = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

export const DTYPE_SIZE: Readonly<Record<DtypeCode, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

const NPY_KIND: Record<string, DtypeCode> = {
  f8: 'F64', f4: 'F32', f2: 'F16', i8: 'I64', i4: 'I32', i2: 'I16', i1: 'I8',
  u8: 'U64', u4: 'U32', u2: 'U16', u1: 'U8', b1: 'BOOL',
};

/** Maps a NumPy type string ('<f4', '>i8', '|u1', 'float32'...) to an element type and byte order. */
export function numpyDescrToCode(descr: string): { code: DtypeCode; little: boolean } | null {
  const named: Record<string, string> = {
    float64: 'f8', float32: 'f4', float16: 'f2', int64: 'i8', int32: 'i4', int16: 'i2', int8: 'i1',
    uint64: 'u8', uint32: 'u4', uint16: 'u2', uint8: 'u1', bool: 'b1', '?': 'b1', d: 'f8', f: 'f4', e: 'f2',
    q: 'i8', l: 'i8', i: 'i4', h: 'i2', b: 'i1', Q: 'u8', L: 'u8', I: 'u4', H: 'u2', B: 'u1',
  };
  const m = /^([<>|=]?)(.+)$/.exec(descr);
  if (!m) return null;
  const order = m[1]!;
  const body = named[m[2]!] ?? m[2]!;
  const code = NPY_KIND[body === 'b' ? 'i1' : body];
  if (!code) return null;
  const little = order === '>' ? false : order === '<' || order === '|' || order === '' ? true : isHostLittleEndian();
  return { code, little };
}

function isHostLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

let halfLut: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!halfLut) {
    halfLut = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfLut[h] = halfToFloat(h);
  }
  return halfLut;
}

/** Decodes n elements of `code` starting at byte `offset` of `bytes` into float32. */
export function decodeElements(bytes: Uint8Array, offset: number, n: number, code: DtypeCode, little = true): Float32Array {
  const size = DTYPE_SIZE[code];
  if (offset < 0 || offset + n * size > bytes.length) {
    throw new RangeError(`decodeElements: ${n} x ${code} at offset ${offset} exceeds ${bytes.length} bytes`);
  }
  const abs = bytes.byteOffset + offset;
  if (code === 'F32' && little && isHostLittleEndian()) {
    // one allocation + memcpy, whatever the alignment of the source
    return new Float32Array(Uint8Array.prototype.slice.call(bytes, offset, offset + n * 4).buffer);
  }
  const out = new Float32Array(n);
  if (code === 'U8' || code === 'BOOL') { out.set(bytes.subarray(offset, offset + n)); return out; }
  const v = new DataView(bytes.buffer, abs, n * size);
  switch (code) {
    case 'F64': for (let i = 0; i < n; i++) out[i] = v.getFloat64(i * 8, little); break;
    case 'F32': for (let i = 0; i < n; i++) out[i] = v.getFloat32(i * 4, little); break;
    case 'F16': {
      const lut = halfTable();
      for (let i = 0; i < n; i++) out[i] = lut[v.getUint16(i * 2, little)]!;
      break;
    }
    case 'BF16': { // bfloat16 is the top half of a float32
      const bits = new Uint32Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) bits[i] = v.getUint16(i * 2, little) << 16;
      break;
    }
    case 'I64': for (let i = 0; i < n; i++) out[i] = Number(v.getBigInt64(i * 8, little)); break;
    case 'U64': for (let i = 0; i < n; i++) out[i] = Number(v.getBigUint64(i * 8, little)); break;
    case 'I32': for (let i = 0; i < n; i++) out[i] = v.getInt32(i * 4, little); break;
    case 'U32': for (let i = 0; i < n; i++) out[i] = v.getUint32(i * 4, little); break;
    case 'I16': for (let i = 0; i < n; i++) out[i] = v.getInt16(i * 2, little); break;
    case 'U16': for (let i = 0; i < n; i++) out[i] = v.getUint16(i * 2, little); break;
    case 'I8': for (let i = 0; i < n; i++) out[i] = v.getInt8(i); break;
  }
  return out;
}

export class NpyError extends Error {
  constructor(file: string, msg: string) {
    super(`${file}: not a valid .npy file: ${msg}`);
    this.name = 'NpyError';
  }
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function isNpy(buf: Uint8Array): boolean {
  return buf.length >= 6 && NPY_MAGIC.every((b, i) => buf[i] === b);
}

/**
 * Parses the Python literal of an .npy header: dicts, tuples, lists, strings, ints, True/False/None.
 * Recursive descent, so nesting is capped (`maxDepth`) to fail with a message, not a stack overflow.
 */
function parseHeaderLiteral(src: string, file: string, maxDepth: number): unknown {
  let i = 0;
  const ws = () => { while (i < src.length && /\s/.test(src[i]!)) i++; };
  const shown = src.length > 200 ? `${src.slice(0, 200).trim()}...` : src.trim();
  const bad = (what: string): never => { throw new NpyError(file, `header ${JSON.stringify(shown)}: ${what} at character ${i}`); };
  const value = (depth: number): unknown => {
    ws();
    const c = src[i];
    if (c === '{' || c === '(' || c === '[') {
      if (depth >= maxDepth) bad(`literals nest deeper than ${maxDepth} levels`);
      const close = c === '{' ? '}' : c === '(' ? ')' : ']';
      i++;
      const items: unknown[] = [];
      const entries: [unknown, unknown][] = [];
      for (;;) {
        ws();
        if (src[i] === close) { i++; break; }
        const v = value(depth + 1);
        ws();
        if (c === '{') {
          if (src[i] !== ':') bad("expected ':'");
          i++;
          entries.push([v, value(depth + 1)]);
          ws();
        } else items.push(v);
        if (src[i] === ',') { i++; continue; }
        if (src[i] === close) { i++; break; }
        bad(`expected ',' or '${close}'`);
      }
      return c === '{' ? new Map(entries) : items;
    }
    if (c === "'" || c === '"') {
      const end = src.indexOf(c, i + 1);
      if (end < 0) bad('unterminated string');
      const s = src.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    // numbers are read whole (fractions too) so that a bad shape is reported as a bad shape
    const m = /^(True|False|None|-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?L?)/.exec(src.slice(i, i + 400));
    if (!m) return bad('unexpected token');
    i += m[0].length;
    return m[0] === 'True' ? true : m[0] === 'False' ? false : m[0] === 'None' ? null : Number(m[0].replace(/L$/, ''));
  };
  const v = value(0);
  ws();
  if (i !== src.length) bad('trailing characters');
  return v;
}

export function parseNpy(buf: Uint8Array, file = '<buffer>', limits?: Partial<LoaderLimits>): HostTensor {
  const l = { ...LOADER_LIMITS, ...limits };
  if (!isNpy(buf)) throw new NpyError(file, 'missing the \\x93NUMPY magic');
  if (buf.length < 10) throw new NpyError(file, `only ${buf.length} bytes (truncated)`);
  const major = buf[6]!;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerLen: number, start: number;
  if (major === 1) { headerLen = dv.getUint16(8, true); start = 10; }
  else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new NpyError(file, `only ${buf.length} bytes (truncated)`);
    headerLen = dv.getUint32(8, true); start = 12;
  } else throw new NpyError(file, `unsupported format version ${major}.${buf[7]}`);
  if (start + headerLen > buf.length) throw new NpyError(file, `header of ${headerLen} bytes exceeds the file size ${buf.length} (truncated)`);
  if (headerLen > l.maxNpyHeader) {
    throw new LoaderLimitError(file, `its .npy header of ${headerLen} bytes is larger than the limit of ${l.maxNpyHeader} bytes (see io/limits.ts)`);
  }
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(buf.subarray(start, start + headerLen));
  const header = parseHeaderLiteral(text, file, l.maxNpyHeaderDepth);
  if (!(header instanceof Map)) throw new NpyError(file, 'header is not a dict');
  const descr = header.get('descr'), fortran = header.get('fortran_order'), shape = header.get('shape');
  if (typeof descr !== 'string') {
    throw new NpyError(file, `structured dtype ${JSON.stringify(descr)} is not supported (only plain numeric arrays)`);
  }
  const dt = numpyDescrToCode(descr);
  if (!dt) throw new NpyError(file, `dtype '${descr}' is not supported (bool, integer and float arrays are)`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new NpyError(file, `bad shape ${JSON.stringify(shape)}: sizes must be non-negative integers below 2^53`);
  }
  const dims = shape as number[];
  const n = safeProduct(dims);
  if (Number.isNaN(n)) throw new NpyError(file, `shape [${dims.join(', ')}] has more than 2^53 elements`);
  const dataStart = start + headerLen;
  const need = n * DTYPE_SIZE[dt.code];
  if (dataStart + need > buf.length) {
    throw new NpyError(file, `${descr} [${dims.join(', ')}] needs ${need} data bytes but only ${buf.length - dataStart} remain (truncated)`);
  }
  let data = decodeElements(buf, dataStart, n, dt.code, dt.little);
  if (fortran === true && dims.length > 1) data = fortranToCOrder(data, dims);
  return { dtype: dt.code, shape: dims, data };
}

/** Reorders column-major (Fortran) data into row-major (C) order. */
export function fortranToCOrder(src: Float32Array, shape: readonly number[]): Float32Array {
  const n = src.length, nd = shape.length;
  const out = new Float32Array(n);
  const fstride = new Array<number>(nd);
  let acc = 1;
  for (let d = 0; d < nd; d++) { fstride[d] = acc; acc *= shape[d]!; }
  const idx = new Array<number>(nd).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    out[i] = src[off]!;
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) { off += fstride[d]!; break; }
      off -= (shape[d]! - 1) * fstride[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

export function readNpy(file: string): HostTensor {
  if (!fs.existsSync(file)) throw new Error(`${file}: file not found`);
  return parseNpy(fs.readFileSync(file), file);
}

/** Serialises float32 data as a version 1.0 (2.0 if the header needs it) '<f4' C-order .npy. */
export function serializeNpy(t: { shape: readonly number[]; data: Float32Array }): Buffer {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (n !== t.data.length) throw new Error(`serializeNpy: shape [${t.shape.join(', ')}] has ${n} elements but data has ${t.data.length}`);
  const shapeLit = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeLit}, }`;
  let major = 1, prefix = 10;
  if (dict.length + 1 + prefix > 65535) { major = 2; prefix = 12; }
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  dict = dict + ' '.repeat(total - prefix - dict.length - 1) + '\n';
  const out = Buffer.alloc(total + n * 4);
  Buffer.from(NPY_MAGIC).copy(out, 0);
  out[6] = major;
  out[7] = 0;
  if (major === 1) out.writeUInt16LE(dict.length, 8);
  else out.writeUInt32LE(dict.length, 8);
  out.write(dict, prefix, 'latin1');
  const dv = new DataView(out.buffer, out.byteOffset + total, n * 4);
  for (let i = 0; i < n; i++) dv.setFloat32(i * 4, t.data[i]!, true);
  return out;
}

/** Writes a float32 .npy atomically (temporary file, fsync, rename). */
export function writeNpy(file: string, t: { shape: readonly number[]; data: Float32Array }): void {
  writeFileAtomic(file, serializeNpy(t));
}
