// PyTorch checkpoints (torch.save) without Python: the zip format (PyTorch >= 1.6) and the legacy
// pickle-stream format, read through the restricted unpickler in pickle.ts.
//
// Zip format: an archive whose single top folder (its name varies) holds data.pkl, the pickled
// object whose tensors refer to storages by persistent id ('storage', storage_type, key, location,
// numel), the raw storages as data/<key> and optionally byteorder ('little'/'big'). PyTorch writes
// the entries STORED; DEFLATE entries (re-zipped archives, .npz) are inflated with node:zlib.
//
// Legacy format: five things in a row: the magic-number pickle, the protocol-version pickle
// (1001), the sys_info pickle (byte order, type sizes), the main pickle (persistent ids
// ('storage', storage_type, root_key, location, numel, view_metadata)), a pickle listing storage
// keys, then for each key an 8-byte element count followed by the raw data.
//
// Storages of any dtype and any device tag ('cuda:0' etc.) are read to the CPU; tensors are
// materialised as float32 HostTensors honouring storage_offset, size and stride. Each storage is
// decoded once: a float32 little-endian storage whose bytes are 4-byte aligned in the file is used
// in place (no copy), any other one is decoded to one float32 copy. Contiguous tensors are then
// views (subarray) of their storage, so tensors sharing a storage share memory as they do in
// PyTorch; only non-contiguous views (transposes, strided slices) are gathered into their own data.
//
// Untrusted files (limits in limits.ts): everything decoded, inflated or gathered is charged to the
// file's decode budget (16 x its size + 64 MiB) before it is allocated; sizes, strides, offsets and
// element counts must be non-negative safe integers and every view must lie inside its storage,
// else the error names the tensor's key; flattenStateDict refuses cycles and structures whose
// shared parts would expand past its walk budget when named as a tree.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import type { HostTensor } from './safetensors.js';
import { DTYPE_SIZE, decodeElements, type DtypeCode } from './npy.js';
import {
  PyGlobal, PyObject, pyRepr, pyTuple, unpickle,
  type GlobalHandler, type PyValue,
} from './pickle.js';
import { DecodeBudget, LOADER_LIMITS, LoaderLimitError, safeProduct, type LoaderLimits } from './limits.js';

/** The object a checkpoint holds: Maps, arrays, primitives and HostTensors (see pickle.ts). */
export type TorchObject = PyValue;
export type TorchFormat = 'pytorch-zip' | 'pytorch-legacy';

export class TorchCheckpointError extends Error {
  constructor(file: string, msg: string) {
    super(`${file}: cannot read PyTorch checkpoint: ${msg}`);
    this.name = 'TorchCheckpointError';
  }
}

// ---------------------------------------------------------------------------------------------
// Minimal zip reader (central directory, zip64, STORED and DEFLATE entries, CRC-32 check).

export class ZipError extends Error {
  constructor(file: string, msg: string) {
    super(`${file}: corrupt or truncated zip archive: ${msg}`);
    this.name = 'ZipError';
  }
}

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

const SIG_LOCAL = 0x04034b50, SIG_CENTRAL = 0x02014b50, SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50, SIG_EOCD64_LOCATOR = 0x07064b50;

export function isZip(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x50 && buf[1] === 0x4b &&
    ((buf[2] === 3 && buf[3] === 4) || (buf[2] === 5 && buf[3] === 6));
}

let crcTable: Uint32Array | undefined;
function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  if (native) return native(data) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private readonly view: DataView;
  /** What inflating entries may allocate (shared with the caller's decoding of the same file). */
  readonly budget: DecodeBudget;

  constructor(readonly buf: Uint8Array, readonly file = '<buffer>', budget?: DecodeBudget) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.budget = budget ?? new DecodeBudget(file, buf.length);
    this.readCentralDirectory();
  }

  private fail(msg: string): never {
    throw new ZipError(this.file, msg);
  }

  private readCentralDirectory(): void {
    const b = this.buf, v = this.view;
    if (b.length < 22) this.fail(`only ${b.length} bytes`);
    // The end-of-central-directory record sits in the last 22 + 65535 bytes.
    let eocd = -1;
    for (let p = b.length - 22; p >= Math.max(0, b.length - 22 - 65535); p--) {
      if (v.getUint32(p, true) === SIG_EOCD && p + 22 + v.getUint16(p + 20, true) <= b.length) { eocd = p; break; }
    }
    if (eocd < 0) this.fail(`end-of-central-directory record not found in ${b.length} bytes (the file is truncated or not a zip)`);
    let count = v.getUint16(eocd + 10, true);
    let cdSize = v.getUint32(eocd + 12, true);
    let cdOffset = v.getUint32(eocd + 16, true);
    if (eocd >= 20 && v.getUint32(eocd - 20, true) === SIG_EOCD64_LOCATOR) {
      const p64 = Number(v.getBigUint64(eocd - 12, true));
      if (p64 + 56 > b.length || v.getUint32(p64, true) !== SIG_EOCD64) this.fail(`bad zip64 end-of-central-directory record at offset ${p64}`);
      count = Number(v.getBigUint64(p64 + 32, true));
      cdSize = Number(v.getBigUint64(p64 + 40, true));
      cdOffset = Number(v.getBigUint64(p64 + 48, true));
    }
    if (cdOffset + cdSize > b.length) this.fail(`central directory (offset ${cdOffset}, ${cdSize} bytes) lies beyond the end of the file (${b.length} bytes; truncated)`);
    let p = cdOffset;
    const dec = new TextDecoder('utf-8');
    for (let i = 0; i < count; i++) {
      if (p + 46 > b.length || v.getUint32(p, true) !== SIG_CENTRAL) this.fail(`central directory entry ${i} at offset ${p} has a bad signature`);
      const method = v.getUint16(p + 10, true);
      const crc = v.getUint32(p + 16, true);
      let compressedSize = v.getUint32(p + 20, true);
      let size = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true), extraLen = v.getUint16(p + 30, true), commentLen = v.getUint16(p + 32, true);
      let localHeaderOffset = v.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen + commentLen > b.length) this.fail(`central directory entry ${i} at offset ${p} is truncated`);
      const name = dec.decode(b.subarray(p + 46, p + 46 + nameLen));
      // zip64 extended information extra field (id 1): the 0xffffffff fields, in order.
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = v.getUint16(e, true), len = v.getUint16(e + 2, true);
        if (id === 1) {
          let q = e + 4;
          const next = (): number => { const x = Number(v.getBigUint64(q, true)); q += 8; return x; };
          if (size === 0xffffffff && q + 8 <= e + 4 + len) size = next();
          if (compressedSize === 0xffffffff && q + 8 <= e + 4 + len) compressedSize = next();
          if (localHeaderOffset === 0xffffffff && q + 8 <= e + 4 + len) localHeaderOffset = next();
        }
        e += 4 + len;
      }
      this.entries.set(name, { name, method, compressedSize, size, crc32: crc, localHeaderOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * The entry's bytes (a view into the archive for STORED entries), CRC-checked. A DEFLATE entry
   * inflates to at most the size its directory entry declares: that size is charged to the
   * budget before inflating (a bomb declaring terabytes fails at once) and zlib stops there (one
   * declaring a few bytes but inflating to gigabytes fails after those few bytes).
   */
  read(name: string, opts: { checkCrc?: boolean } = {}): Uint8Array {
    const e = this.entries.get(name);
    if (!e) this.fail(`entry '${name}' is missing`);
    const b = this.buf, v = this.view;
    const h = e.localHeaderOffset;
    if (h + 30 > b.length || v.getUint32(h, true) !== SIG_LOCAL) this.fail(`entry '${name}': bad local header signature at offset ${h}`);
    const start = h + 30 + v.getUint16(h + 26, true) + v.getUint16(h + 28, true);
    if (start + e.compressedSize > b.length) {
      this.fail(`entry '${name}' (${e.compressedSize} bytes at offset ${start}) lies beyond the end of the file (${b.length} bytes; truncated)`);
    }
    const raw = b.subarray(start, start + e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) data = raw;
    else if (e.method === 8) {
      this.budget.charge(e.size, `zip entry '${name}' (deflated; its directory entry declares ${e.size} bytes)`);
      try {
        data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
          this.fail(`entry '${name}' inflates to more than the ${e.size} bytes its directory entry declares (a zip bomb?)`);
        }
        this.fail(`entry '${name}': cannot inflate (${(err as Error).message})`);
      }
    } else this.fail(`entry '${name}' uses unsupported compression method ${e.method}`);
    if (data.length !== e.size) this.fail(`entry '${name}' has ${data.length} bytes, the directory says ${e.size}`);
    if (opts.checkCrc !== false && crc32(data) !== e.crc32) this.fail(`entry '${name}' fails its CRC-32 check (data corrupted)`);
    return data;
  }
}

// ---------------------------------------------------------------------------------------------
// Torch globals: storages, tensor rebuilders and a few plain values.

interface StorageRoot {
  key: string;
  code: DtypeCode;
  /** The element count its persistent id declares; validated when the storage is decoded. */
  numel: number;
  location: string;
  decoded?: Float32Array;
}
/** What persistent_load returns: a storage, or (legacy) a view into one, validated when used. */
class StorageRef {
  constructor(readonly root: StorageRoot, readonly offset: number, readonly numel: number) {}
}

interface PendingTensor {
  tensor: HostTensor;
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

const STORAGE_DTYPES: Record<string, DtypeCode | null> = {
  DoubleStorage: 'F64', FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8',
  BoolStorage: 'BOOL', UntypedStorage: 'U8',
  ComplexFloatStorage: null, ComplexDoubleStorage: null, QInt8Storage: null, QUInt8Storage: null, QInt32Storage: null,
};

const TORCH_DTYPES = ['float64', 'float32', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool',
  'double', 'float', 'half', 'long', 'int', 'short'];

type Charge = (units: number, what: string) => void;
const noCharge: Charge = () => {};

/** A copy of a tuple of integers (any sign: ranges are checked where the tensor's key is known). */
function intList(v: PyValue, what: string, fail: (msg: string) => never, charge: Charge = noCharge): number[] {
  // charged before the scan: one size tuple may be shared by any number of tensors
  if (Array.isArray(v)) charge(v.length, what);
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x))) return fail(`${what} must be a tuple of ints, got ${pyRepr(v)}`);
  return [...(v as number[])];
}

/** A short printable form of a value that is expected to be a string (never String() of a container). */
function plain(v: PyValue): string {
  return typeof v === 'string' ? v : pyRepr(v);
}

function torchGlobals(pending: PendingTensor[]): Record<string, GlobalHandler> {
  const g: Record<string, GlobalHandler> = {};
  for (const [name, code] of Object.entries(STORAGE_DTYPES)) {
    g[`torch.${name}`] = { meta: { storageDtype: code, storageName: name } };
    g[`torch.cuda.${name}`] = { meta: { storageDtype: code, storageName: name } };
  }
  const rebuild: GlobalHandler['call'] = (args, fail, ctx) => {
    const [storage, offset, size, stride] = args;
    const charge: Charge = ctx ? (n, what) => ctx.charge(n, what) : noCharge;
    if (!(storage instanceof StorageRef)) return fail(`expected a storage, got ${pyRepr(storage)}`);
    if (typeof offset !== 'number' || !Number.isInteger(offset)) return fail(`bad storage offset ${pyRepr(offset)}`);
    const sz = intList(size, 'size', fail, charge);
    const st = stride === undefined || stride === null ? contiguousStride(sz) : intList(stride, 'stride', fail, charge);
    if (st.length !== sz.length) fail(`size ${pyRepr(size)} and stride ${pyRepr(stride)} differ in length`);
    const tensor: HostTensor = { dtype: storage.root.code, shape: sz, data: new Float32Array(0) };
    pending.push({ tensor, storage, offset, size: [...sz], stride: st });
    return tensor;
  };
  const passFirst = (args: readonly PyValue[]): PyValue => args[0];
  Object.assign(g, {
    'torch._utils._rebuild_tensor_v2': { call: rebuild },
    'torch._utils._rebuild_tensor': { call: rebuild },
    'torch._utils._rebuild_parameter': { call: passFirst },
    'torch._utils._rebuild_parameter_with_state': { call: passFirst },
    'torch._tensor._rebuild_from_type_v2': {
      call: (args: readonly PyValue[], fail: (msg: string) => never, ctx) => {
        const [fn, , fnArgs] = args;
        if (!(fn instanceof PyGlobal) || !fn.handler.call) return fail(`cannot rebuild with ${pyRepr(fn)}`);
        if (!Array.isArray(fnArgs)) return fail(`bad arguments ${pyRepr(fnArgs)}`);
        return fn.handler.call(fnArgs, fail, ctx);
      },
    },
    'torch.Size': {
      call: (args: readonly PyValue[], fail: (msg: string) => never, ctx) =>
        pyTuple(intList(args[0] ?? [], 'torch.Size', fail, ctx ? (n, what) => ctx.charge(n, what) : noCharge)),
    },
    'torch.device': { call: (args: readonly PyValue[]) => (args.length > 1 && args[1] !== null ? `${plain(args[0])}:${plain(args[1])}` : plain(args[0])) },
    'torch.Tensor': {},
    'torch.nn.parameter.Parameter': {},
    'torch.nn.Parameter': {},
    'torch.nn.parameter.Buffer': {},
  } satisfies Record<string, GlobalHandler>);
  for (const d of TORCH_DTYPES) g[`torch.${d}`] = {};
  return g;
}

function contiguousStride(size: readonly number[]): number[] {
  const st = new Array<number>(size.length);
  let acc = 1;
  for (let d = size.length - 1; d >= 0; d--) { st[d] = acc; acc *= size[d]!; }
  return st;
}

function storageFromType(type: PyValue, fail: (msg: string) => never): DtypeCode {
  if (!(type instanceof PyGlobal) || !type.handler.meta || !('storageDtype' in type.handler.meta)) {
    return fail(`expected a torch storage type, got ${pyRepr(type)}`);
  }
  const code = type.handler.meta.storageDtype as DtypeCode | null;
  if (!code) return fail(`${type.qualname} tensors are not supported (complex and quantized dtypes are not)`);
  return code;
}

/** The storage of `key` (one per key; a key used with two dtypes is refused). */
function storageRoot(roots: Map<string, StorageRoot>, key: string, code: DtypeCode, numel: number, location: PyValue,
                     fail: (msg: string) => never): StorageRoot {
  let root = roots.get(key);
  if (!root) { root = { key, code, numel, location: plain(location) }; roots.set(key, root); }
  else if (root.code !== code) fail(`storage '${key}' is used both as ${root.code} and as ${code}`);
  return root;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const HOST_LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A storage's n elements as float32: a view of `bytes` itself when they already are aligned
 * little-endian float32 (no copy), else one decoded copy, charged to the file's budget.
 */
function decodeStorage(bytes: Uint8Array, offset: number, n: number, code: DtypeCode, little: boolean,
                       budget: DecodeBudget, what: string): Float32Array {
  if (code === 'F32' && little && HOST_LITTLE && (bytes.byteOffset + offset) % 4 === 0) {
    return new Float32Array(bytes.buffer, bytes.byteOffset + offset, n);
  }
  budget.charge(n * 4, `decoding ${what}`);
  return decodeElements(bytes, offset, n, code, little);
}

const shortName = (s: string): string => (s.length > 120 ? `${s.slice(0, 117)}...` : s);

/**
 * Names of the pending tensors for error messages: their first dotted path in the unpickled
 * object, found on first use by one walk that visits every container once.
 */
class TensorNames {
  private names?: Map<HostTensor, string>;
  constructor(private readonly root: TorchObject, private readonly pending: readonly PendingTensor[]) {}

  of(t: HostTensor): string {
    if (!this.names) this.names = this.collect();
    return this.names.get(t) ?? `#${this.pending.findIndex((p) => p.tensor === t)}`;
  }

  private collect(): Map<HostTensor, string> {
    const names = new Map<HostTensor, string>();
    const seen = new Set<object>();
    const queue: [PyValue, string][] = [[this.root, '']];
    const join = (a: string, b: string) => shortName(a ? `${a}.${b}` : b);
    for (let i = 0; i < queue.length && names.size < this.pending.length; i++) {
      const [v, name] = queue[i]!;
      if (typeof v !== 'object' || v === null || seen.has(v)) continue;
      seen.add(v);
      if (isHostTensor(v)) names.set(v, name || 'tensor');
      else if (v instanceof Map) for (const [k, x] of v) queue.push([x, join(name, plain(k as PyValue))]);
      else if (Array.isArray(v)) v.forEach((x, j) => queue.push([x, join(name, String(j))]));
      else if (v instanceof PyObject && v.attrs) queue.push([v.attrs, name]);
    }
    return names;
  }
}

/**
 * A tensor's data: a view (subarray) of its decoded storage when contiguous, else its elements
 * gathered into a new array (charged to the budget). Every size, stride and offset must be a
 * non-negative integer and the view must lie inside its storage; `err` names the tensor.
 */
function materialize(p: PendingTensor, src: Float32Array, budget: DecodeBudget, err: (msg: string) => never): Float32Array {
  const { size, stride } = p;
  const key = p.storage.root.key;
  const viewStart = p.storage.offset, viewLen = p.storage.numel;
  if (!isCount(viewStart) || !isCount(viewLen)) err(`storage view of '${key}' at offset ${viewStart} of ${viewLen} elements: both must be non-negative integers`);
  if (viewStart + viewLen > src.length) err(`storage view [${viewStart}, ${viewStart + viewLen}) reaches past the end of storage '${key}' (${src.length} elements)`);
  if (!isCount(p.offset)) err(`storage offset ${p.offset} must be a non-negative integer`);
  if (!size.every((d) => isCount(d))) err(`size [${size.join(', ')}] must hold non-negative integers`);
  if (!stride.every((d) => isCount(d))) err(`stride [${stride.join(', ')}] must hold non-negative integers`);
  const numel = safeProduct(size);
  if (Number.isNaN(numel)) err(`size [${size.join(', ')}] has more than 2^53 elements`);
  if (numel === 0) return new Float32Array(0);
  // The last element the view reaches; doubles of non-negative terms cannot wrap around.
  const base = viewStart + p.offset;
  let last = base, contiguous = true;
  const cs = contiguousStride(size);
  for (let d = 0; d < size.length; d++) {
    last += (size[d]! - 1) * stride[d]!;
    if (size[d]! > 1 && stride[d] !== cs[d]) contiguous = false;
  }
  const limit = viewStart + viewLen;
  if (last >= limit) {
    err(`size [${size.join(', ')}], stride [${stride.join(', ')}] at storage offset ${p.offset} reaches element ${last} ` +
      `of storage '${key}', which has ${limit} elements`);
  }
  if (contiguous) return src.subarray(base, base + numel);
  budget.charge(numel * 4, `gathering the non-contiguous view of storage '${key}'`);
  const out = new Float32Array(numel);
  const nd = size.length;
  const idx = new Array<number>(nd).fill(0);
  let off = base;
  for (let i = 0; i < numel; i++) {
    out[i] = src[off]!;
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d]! < size[d]!) { off += stride[d]!; break; }
      off -= (size[d]! - 1) * stride[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** An error about one tensor, naming the file, the tensor's key and its storage. */
function tensorError(file: string, names: TensorNames, p: PendingTensor): (msg: string) => never {
  return (msg) => {
    throw new TorchCheckpointError(file, `tensor '${names.of(p.tensor)}' (storage '${shortName(p.storage.root.key)}'): ${msg}`);
  };
}

function finish(file: string, names: TensorNames, pending: PendingTensor[], budget: DecodeBudget,
                decode: (root: StorageRoot, err: (msg: string) => never) => Float32Array): void {
  for (const p of pending) {
    const err = tensorError(file, names, p);
    const root = p.storage.root;
    if (!root.decoded) root.decoded = decode(root, err);
    p.tensor.data = materialize(p, root.decoded, budget, err);
  }
}

// ---------------------------------------------------------------------------------------------
// The two formats.

function readZipCheckpoint(buf: Uint8Array, file: string, budget: DecodeBudget, limits?: Partial<LoaderLimits>): TorchObject {
  const zip = new ZipArchive(buf, file, budget);
  const pkls = [...zip.entries.keys()].filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl')).sort((a, b) => a.length - b.length);
  if (!pkls.length) {
    throw new TorchCheckpointError(file, `zip archive without a data.pkl entry (not a torch.save checkpoint; entries: ${[...zip.entries.keys()].slice(0, 5).join(', ')})`);
  }
  const pklName = pkls[0]!;
  const prefix = pklName.slice(0, pklName.length - 'data.pkl'.length);
  if (zip.has(`${prefix}constants.pkl`) && [...zip.entries.keys()].some((n) => n.startsWith(`${prefix}code/`))) {
    throw new TorchCheckpointError(file, 'this is a TorchScript archive (torch.jit.save); save the model\'s state_dict() with torch.save instead');
  }
  let little = true;
  if (zip.has(`${prefix}byteorder`)) {
    const bo = new TextDecoder().decode(zip.read(`${prefix}byteorder`).subarray(0, 64)).trim();
    if (bo !== 'little' && bo !== 'big') throw new TorchCheckpointError(file, `unknown byteorder '${bo}'`);
    little = bo === 'little';
  }
  const roots = new Map<string, StorageRoot>();
  const pending: PendingTensor[] = [];
  const { value } = unpickle(zip.read(pklName), {
    file: `${file}:${pklName}`,
    globals: torchGlobals(pending),
    limits,
    persistentLoad: (pid, fail) => {
      if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) return fail(`unexpected persistent id ${pyRepr(pid)}`);
      const [, type, key, location, numel] = pid;
      const code = storageFromType(type, fail);
      if (typeof key !== 'string' || typeof numel !== 'number') return fail(`bad storage id ${pyRepr(pid)}`);
      const root = storageRoot(roots, key, code, numel, location, fail);
      return new StorageRef(root, 0, root.numel);
    },
  });
  finish(file, new TensorNames(value, pending), pending, budget, (root, err) => {
    if (!isCount(root.numel)) err(`storage '${root.key}' declares ${root.numel} elements; the count must be a non-negative integer`);
    const name = `${prefix}data/${root.key}`;
    if (!zip.has(name)) err(`storage '${root.key}' (entry ${name}) is missing from the archive`);
    const bytes = zip.read(name);
    const need = root.numel * DTYPE_SIZE[root.code];
    if (bytes.length < need) err(`storage '${root.key}' has ${bytes.length} bytes, ${root.numel} x ${root.code} needs ${need}`);
    return decodeStorage(bytes, 0, root.numel, root.code, little, budget, `storage '${root.key}'`);
  });
  return value;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function readLegacyCheckpoint(buf: Uint8Array, file: string, budget: DecodeBudget, limits?: Partial<LoaderLimits>): TorchObject {
  const magic = unpickle(buf, { file, limits });
  if (magic.value !== LEGACY_MAGIC) {
    throw new TorchCheckpointError(file, `a pickle, but not a torch.save checkpoint (first value ${pyRepr(magic.value)} is not PyTorch's magic number)`);
  }
  const version = unpickle(buf, { file, offset: magic.end, limits });
  if (version.value !== 1001) throw new TorchCheckpointError(file, `unsupported legacy protocol version ${pyRepr(version.value)} (expected 1001)`);
  const sysInfo = unpickle(buf, { file, offset: version.end, limits });
  let little = true;
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) little = false;

  const roots = new Map<string, StorageRoot>();
  const views = new Map<string, StorageRef>();
  const pending: PendingTensor[] = [];
  const main = unpickle(buf, {
    file,
    offset: sysInfo.end,
    globals: torchGlobals(pending),
    limits,
    persistentLoad: (pid, fail) => {
      if (!Array.isArray(pid)) return fail(`unexpected persistent id ${pyRepr(pid)}`);
      if (pid[0] === 'module') return fail('the checkpoint pickles a whole nn.Module; save its state_dict() instead');
      if (pid[0] !== 'storage' || pid.length < 5) return fail(`unexpected persistent id ${pyRepr(pid)}`);
      const [, type, key, location, numel, viewMeta] = pid;
      const code = storageFromType(type, fail);
      if (typeof key !== 'string' || typeof numel !== 'number') return fail(`bad storage id ${pyRepr(pid)}`);
      const root = storageRoot(roots, key, code, numel, location, fail);
      if (viewMeta === null || viewMeta === undefined) return new StorageRef(root, 0, root.numel);
      if (!Array.isArray(viewMeta) || viewMeta.length !== 3) return fail(`bad storage view ${pyRepr(viewMeta)}`);
      const [viewKey, offset, size] = viewMeta as PyValue[];
      if (typeof viewKey !== 'string' || typeof offset !== 'number' || typeof size !== 'number') return fail(`bad storage view ${pyRepr(viewMeta)}`);
      let ref = views.get(viewKey);
      if (!ref) { ref = new StorageRef(root, offset, size); views.set(viewKey, ref); }
      return ref;
    },
  });
  const keys = unpickle(buf, { file, offset: main.end, limits });
  if (!Array.isArray(keys.value)) throw new TorchCheckpointError(file, `storage key list is ${pyRepr(keys.value)}`);
  const names = new TensorNames(main.value, pending);
  const user = (root: StorageRoot): string => {
    const p = pending.find((q) => q.storage.root === root);
    return p ? ` (used by tensor '${names.of(p.tensor)}')` : '';
  };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = keys.end;
  for (const k of keys.value as PyValue[]) {
    if (typeof k !== 'string') throw new TorchCheckpointError(file, `storage key ${pyRepr(k)} is not a string`);
    const key = k;
    const root = roots.get(key);
    if (!root) throw new TorchCheckpointError(file, `storage '${shortName(key)}' is listed but no tensor uses it`);
    const what = `storage '${shortName(key)}'${user(root)}`;
    if (!isCount(root.numel)) throw new TorchCheckpointError(file, `${what} declares ${root.numel} elements; the count must be a non-negative integer`);
    if (pos + 8 > buf.length) throw new TorchCheckpointError(file, `truncated: the element count of ${what} at byte offset ${pos} lies beyond the end of the file (${buf.length} bytes)`);
    const count = Number(little ? dv.getBigInt64(pos, true) : dv.getBigInt64(pos, false));
    pos += 8;
    if (!isCount(count)) throw new TorchCheckpointError(file, `${what} at byte offset ${pos - 8} holds ${count} elements; the count must be a non-negative integer`);
    const nbytes = count * DTYPE_SIZE[root.code];
    if (count < root.numel) throw new TorchCheckpointError(file, `${what} at byte offset ${pos - 8} holds ${count} elements, its tensors need ${root.numel}`);
    if (pos + nbytes > buf.length) {
      throw new TorchCheckpointError(file, `truncated: ${what} needs ${nbytes} bytes at byte offset ${pos} but the file ends at ${buf.length}`);
    }
    root.decoded = decodeStorage(buf, pos, count, root.code, little, budget, what);
    pos += nbytes;
  }
  finish(file, names, pending, budget, (root, err) => err(`storage '${shortName(root.key)}' has no data in the file`));
  return main.value;
}

/**
 * Parses torch.save output held in memory. Float32 tensors may be views into `buf` (see the top
 * of this file): keep it unchanged while they are in use. `limits` overrides io/limits.ts.
 */
export function parseTorchCheckpoint(buf: Uint8Array, file = '<buffer>', limits?: Partial<LoaderLimits>): { format: TorchFormat; root: TorchObject } {
  const budget = new DecodeBudget(file, buf.length, limits);
  if (isZip(buf)) return { format: 'pytorch-zip', root: readZipCheckpoint(buf, file, budget, limits) };
  if (buf.length >= 2 && buf[0] === 0x80) return { format: 'pytorch-legacy', root: readLegacyCheckpoint(buf, file, budget, limits) };
  throw new TorchCheckpointError(file, 'neither a zip archive (PyTorch >= 1.6) nor a legacy pickle stream (first byte 0x80)');
}

/** Reads a .pt/.pth file (zip or legacy format). Tensors come back as float32 HostTensors. */
export function readTorchCheckpoint(file: string): TorchObject {
  if (!fs.existsSync(file)) throw new TorchCheckpointError(file, 'file not found');
  return parseTorchCheckpoint(fs.readFileSync(file), file).root;
}

// ---------------------------------------------------------------------------------------------
// State dicts.

export function isHostTensor(v: unknown): v is HostTensor {
  return typeof v === 'object' && v !== null && (v as HostTensor).data instanceof Float32Array &&
    Array.isArray((v as HostTensor).shape) && typeof (v as HostTensor).dtype === 'string';
}

export interface FlattenOptions {
  /** Keys whose contents are flattened without adding the key itself (default ['state_dict']). */
  unwrap?: readonly string[];
  /** Receives every non-tensor leaf (numbers, strings, option dicts' values, ...) by dotted name. */
  extras?: Map<string, PyValue>;
  /** File name for error messages. */
  file?: string;
  /** Overrides of the walk budget and nesting depth (io/limits.ts). */
  limits?: Partial<LoaderLimits>;
}

/** Entries (and key characters) of the distinct Maps and arrays reachable from `obj`: the size of the graph, not of the tree. */
function distinctSize(obj: PyValue): number {
  const seen = new Set<object>();
  const todo: PyValue[] = [obj];
  let size = 0;
  while (todo.length) {
    const v = todo.pop();
    if (!(v instanceof Map || Array.isArray(v)) || seen.has(v)) continue;
    seen.add(v);
    size += 1 + (v instanceof Map ? v.size : v.length);
    if (v instanceof Map) for (const [k, x] of v) { size += String(k).length; todo.push(x); }
    else for (const x of v) todo.push(x);
  }
  return size;
}

/**
 * Nested dicts/lists of tensors -> dotted names. `{g_ema: sd, latent_avg: t}` gives 'g_ema.<name>'
 * and 'latent_avg'; `{state_dict: sd, opts: {...}}` gives the names inside sd (opts go to extras).
 *
 * A container reached along several paths (shared in the pickle) is named along each of them, as
 * PyTorch would when loading it, but the walk is budgeted: it may visit at most 16 x the distinct
 * entries of the graph + 2^18 (io/limits.ts), so a structure that only expands when walked as a
 * tree (a list of the same dict twice, nested 40 levels deep: 2^40 paths) is refused at once
 * instead of running forever. Cycles and nesting deeper than 1000 levels are refused too.
 */
export function flattenStateDict(obj: TorchObject, prefix = '', opts: FlattenOptions = {}): Map<string, HostTensor> {
  const limits = { ...LOADER_LIMITS, ...opts.limits };
  const file = opts.file ?? '<checkpoint>';
  const unwrap = new Set(opts.unwrap ?? ['state_dict']);
  const out = new Map<string, HostTensor>();
  const join = (a: string, b: string) => (a ? `${a}.${b}` : b);
  const distinct = distinctSize(obj);
  const budget = limits.walkFactor * distinct + limits.walkSlack;
  let spent = 0;
  const charge = (units: number, at: string): void => {
    spent += units;
    if (spent > budget) {
      throw new LoaderLimitError(file, `naming its tensors visits more than ${budget} entries (${limits.walkFactor} x the ${distinct} ` +
        `distinct entries of its object graph + ${limits.walkSlack}; see io/limits.ts), at '${shortName(at)}': containers are ` +
        'shared so often that the structure expands (exponentially) when walked as a tree');
    }
  };
  const isContainerOrTensor = (v: unknown): boolean => v instanceof Map || isHostTensor(v) || Array.isArray(v);
  // a scan of an array costs its length: a long list may be shared by many paths too
  const holdsContainers = (v: PyValue[], at: string): boolean => { charge(v.length, at); return v.some(isContainerOrTensor); };
  const isContainer = (v: PyValue, at: string) => v instanceof Map || isHostTensor(v) || (Array.isArray(v) && holdsContainers(v, at));
  const onPath = new Set<object>();
  const walk = (v: PyValue, name: string, depth: number): void => {
    charge(1, name);
    if (isHostTensor(v)) {
      const n = name || 'tensor';
      charge(n.length, n);
      if (out.has(n)) throw new Error(`flattenStateDict: two tensors are named '${n}'`);
      out.set(n, v);
      return;
    }
    const isMap = v instanceof Map;
    if (isMap || (Array.isArray(v) && holdsContainers(v, name))) {
      if (onPath.has(v as object)) throw new LoaderLimitError(file, `its object graph is cyclic: '${shortName(name)}' contains itself`);
      if (depth >= limits.maxDepth) {
        throw new LoaderLimitError(file, `its objects nest deeper than ${limits.maxDepth} levels (at '${shortName(name)}'; see io/limits.ts)`);
      }
      onPath.add(v as object);
      if (isMap) {
        for (const [k, x] of v as Map<unknown, PyValue>) {
          const key = String(k);
          walk(x, unwrap.has(key) && isContainer(x, name) ? name : join(name, key), depth + 1);
        }
      } else (v as PyValue[]).forEach((x, i) => walk(x, join(name, String(i)), depth + 1));
      onPath.delete(v as object);
      return;
    }
    charge(name.length, name);
    opts.extras?.set(name, v);
  };
  walk(obj, prefix, 0);
  return out;
}
