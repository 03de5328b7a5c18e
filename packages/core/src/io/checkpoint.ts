// One entry point for weight files: picks the reader from the file's content (not its extension)
// and returns named float32 tensors plus string metadata; converts any of them to safetensors.
// Every reader works within the resource limits of limits.ts (untrusted files cannot hang or
// exhaust the process); `limits` overrides them for one call.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseSafetensors, writeSafetensors, type HostTensor } from './safetensors.js';
import { isNpy, parseNpy } from './npy.js';
import { PyObject, type PyValue } from './pickle.js';
import { ZipArchive, flattenStateDict, isHostTensor, isZip, parseTorchCheckpoint, type TorchObject } from './torch.js';
import { DecodeBudget, LOADER_LIMITS, type LoaderLimits } from './limits.js';

// The limits are part of the loaders' API (re-exported here, so io/index.ts picks them up).
export { DecodeBudget, LOADER_LIMITS, LoaderLimitError, type LoaderLimits } from './limits.js';

export type CheckpointFormat = 'safetensors' | 'pytorch-zip' | 'pytorch-legacy' | 'npy' | 'npz';

export const SUPPORTED_FORMATS =
  'PyTorch .pt/.pth (zip format or legacy pickle format), safetensors, NumPy .npy and .npz';

export interface LoadedTensors {
  tensors: Map<string, HostTensor>;
  /** String metadata: safetensors' __metadata__, or `format`, `source` and (PyTorch) `extras`, a JSON of the non-tensor leaves. */
  metadata: Record<string, string>;
  format: CheckpointFormat;
  /** The whole unpickled object of a PyTorch checkpoint (options, epochs, ... stay reachable). */
  root?: TorchObject;
}

/** Identifies a weight file from its first bytes; null when it is none of the supported formats. */
export function detectFormat(buf: Uint8Array): CheckpointFormat | 'zip' | null {
  if (isZip(buf)) return 'zip';
  if (isNpy(buf)) return 'npy';
  if (buf.length >= 2 && buf[0] === 0x80 && buf[1]! >= 2 && buf[1]! <= 5) return 'pytorch-legacy';
  if (buf.length >= 10) {
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const n = dv.getBigUint64(0, true);
    if (n > 1n && n <= BigInt(buf.length - 8) && buf[8] === 0x7b /* { */) return 'safetensors';
  }
  return null;
}

function describeStart(buf: Uint8Array): string {
  const head = [...buf.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return `first bytes ${head}`;
}

/** Loads every tensor of a weight file as float32, choosing the reader by content. */
export function loadTensors(file: string, opts: { limits?: Partial<LoaderLimits> } = {}): LoadedTensors {
  if (!fs.existsSync(file)) throw new Error(`${file}: file not found (supported formats: ${SUPPORTED_FORMATS})`);
  if (fs.statSync(file).isDirectory()) throw new Error(`${file}: is a directory, not a weight file (supported formats: ${SUPPORTED_FORMATS})`);
  const buf = fs.readFileSync(file);
  if (buf.length === 0) throw new Error(`${file}: file is empty (0 bytes); expected one of: ${SUPPORTED_FORMATS}`);
  const kind = detectFormat(buf);
  const source = path.basename(file);
  switch (kind) {
    case 'safetensors': {
      const st = parseSafetensors(buf, file, opts.limits);
      return { tensors: st.tensors, metadata: st.metadata, format: 'safetensors' };
    }
    case 'npy': {
      const t = parseNpy(buf, file, opts.limits);
      const name = source.replace(/\.npy$/i, '') || 'tensor';
      return { tensors: new Map([[name, t]]), metadata: { format: 'npy', source, dtype: t.dtype }, format: 'npy' };
    }
    case 'zip': {
      // one budget for the archive: members inflate within 16 x the file size + 64 MiB in all
      const zip = new ZipArchive(buf, file, new DecodeBudget(file, buf.length, opts.limits));
      const names = [...zip.entries.keys()];
      if (names.some((n) => n === 'data.pkl' || n.endsWith('/data.pkl'))) return fromTorch(buf, file, source, opts.limits);
      const arrays = names.filter((n) => n.toLowerCase().endsWith('.npy'));
      if (!arrays.length) {
        throw new Error(`${file}: a zip archive that is neither a PyTorch checkpoint (no data.pkl) nor a NumPy .npz (no .npy entries); supported formats: ${SUPPORTED_FORMATS}`);
      }
      const tensors = new Map<string, HostTensor>();
      for (const n of arrays) {
        const t = parseNpy(zip.read(n), `${file}:${n}`, opts.limits);
        // Directory entries may all point at one member's bytes: each decoded array is charged,
        // so at most one array (<= 4 x its member) is decoded past the budget.
        zip.budget.charge(t.data.byteLength, `decoding array '${n}'`);
        tensors.set(n.replace(/\.npy$/i, ''), t);
      }
      return { tensors, metadata: { format: 'npz', source }, format: 'npz' };
    }
    case 'pytorch-legacy':
      return fromTorch(buf, file, source, opts.limits);
    default: {
      const tar = buf.length > 262 && buf.subarray(257, 262).toString('latin1') === 'ustar';
      if (tar) throw new Error(`${file}: a tar archive (the pre-1.0 torch.save format is not supported; re-save it with a recent PyTorch); supported formats: ${SUPPORTED_FORMATS}`);
      throw new Error(`${file}: unrecognised file format (${describeStart(buf)}, ${buf.length} bytes); supported formats: ${SUPPORTED_FORMATS}`);
    }
  }
}

function fromTorch(buf: Buffer, file: string, source: string, limits?: Partial<LoaderLimits>): LoadedTensors {
  const { format, root } = parseTorchCheckpoint(buf, file, limits);
  const extras = new Map<string, PyValue>();
  const tensors = flattenStateDict(root, '', { extras, file, limits });
  const metadata: Record<string, string> = { format, source };
  if (extras.size) {
    const obj: Record<string, unknown> = {};
    const walk = jsonWalk(limits?.jsonBudget);
    for (const [k, v] of extras) {
      if (walk.left <= 0) break; // the rest would only be '...'
      obj[k || 'value'] = toJsonable(v, 0, walk);
    }
    const json = JSON.stringify(obj);
    if (json.length <= 1 << 20) metadata.extras = json;
  }
  return { tensors, metadata, format, root };
}

/**
 * The state of one toJsonable copy: `left` work units (one per value, plus string lengths) and
 * the containers on the current path. Shared by the calls that build one metadata object, so
 * the copy stays within the budget however often the unpickled values share structure.
 */
export interface JsonWalk {
  left: number;
  onPath: Set<object>;
}
export function jsonWalk(budget: number = LOADER_LIMITS.jsonBudget): JsonWalk {
  return { left: budget, onPath: new Set() };
}

/**
 * A JSON-friendly copy of a Python value (Maps become objects, bigints strings, bytes a size note).
 * Within `walk`'s budget (io/limits.ts: 2^18 units by default); past it, and below 32 levels,
 * values become '...', and a container inside itself becomes '<cycle>'.
 */
export function toJsonable(v: PyValue, depth = 0, walk: JsonWalk = jsonWalk()): unknown {
  if (walk.left <= 0) return '...';
  walk.left--; // charged before the depth cut too: every '...' it returns has been paid for
  if (depth > 32) return '...';
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'string') return chargedString(v, walk);
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return chargedString(v.toString(), walk);
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (isHostTensor(v)) return `<tensor ${v.dtype} [${v.shape.slice(0, 8).join(', ')}${v.shape.length > 8 ? ', ...' : ''}]>`;
  if (typeof v !== 'object') return String(v);
  if (walk.onPath.has(v)) return '<cycle>';
  walk.onPath.add(v);
  try {
    if (Array.isArray(v) || v instanceof Set) {
      const out: unknown[] = [];
      for (const x of v) {
        if (walk.left <= 0) { out.push('...'); break; }
        out.push(toJsonable(x, depth + 1, walk));
      }
      return out;
    }
    if (v instanceof Map) {
      const o: Record<string, unknown> = {};
      for (const [k, x] of v) {
        if (walk.left <= 0) { o['...'] = '...'; break; }
        o[chargedString(String(k), walk)] = toJsonable(x, depth + 1, walk);
      }
      return o;
    }
    if (v instanceof PyObject) return v.attrs ? toJsonable(v.attrs, depth + 1, walk) : `<${v.className}>`;
    if ('qualname' in v) return String((v as { qualname: string }).qualname);
    return String(v);
  } finally {
    walk.onPath.delete(v);
  }
}

/** `s`, charged to the walk; cut short (ending in '...') when it is longer than what is left. */
function chargedString(s: string, walk: JsonWalk): string {
  if (s.length <= walk.left) { walk.left -= s.length; return s; }
  const kept = Math.max(0, walk.left);
  walk.left = 0;
  return `${s.slice(0, kept)}...`;
}

export interface ConvertResult {
  format: CheckpointFormat;
  tensors: number;
  parameters: number;
}

/**
 * Converts any supported weight file to float32 safetensors (written atomically). The output's
 * metadata holds the input's metadata (`format`, `source`, `extras` for PyTorch) plus `metadata`.
 */
export function convertToSafetensors(input: string, output: string, metadata: Record<string, string> = {}): ConvertResult {
  const loaded = loadTensors(input);
  if (loaded.tensors.size === 0) throw new Error(`${input}: holds no tensors; nothing to convert`);
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(loaded.metadata)) if (typeof v === 'string') meta[k] = v;
  if (loaded.format !== 'safetensors') meta.format = loaded.format;
  Object.assign(meta, metadata);
  writeSafetensors(output, loaded.tensors, meta);
  let parameters = 0;
  for (const t of loaded.tensors.values()) parameters += t.data.length;
  return { format: loaded.format, tensors: loaded.tensors.size, parameters };
}
