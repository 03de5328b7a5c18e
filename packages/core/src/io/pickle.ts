// A restricted Python unpickler (protocols 0-5) for reading checkpoints without Python.
//
// It interprets the pickle virtual machine but never runs code: it can only build None, bools,
// numbers, strings, bytes, lists, tuples, dicts (Map), sets and the few objects that an allow-list
// of globals produces (torch tensors and storages, collections.OrderedDict, torch.Size, simple
// NumPy scalars/arrays, argparse.Namespace-like plain records). Any other global (os.system,
// builtins.eval, subprocess.Popen, ...) is refused with an UnsafePickleError naming it.
// Malformed or truncated streams raise a PickleError giving the byte offset.
//
// Untrusted streams cannot make it hang or exhaust memory (limits in limits.ts): the machine runs
// in time linear in the stream, big integers are decoded in linear time and capped (LONG1/LONG4
// at 4096 bytes, text INT/LONG at 4300 digits), and every value built by copying other values
// (dict(d), set(l), bytes(s), NumPy arrays, ...) is charged to a work budget proportional to the
// stream's size, so a small stream that copies one big value many times is refused
// (LoaderLimitError). Shared references (memo GETs) stay shared: nothing is expanded here.
//
// Python values map to JavaScript as follows:
//   None -> null, bool -> boolean, int -> number (bigint beyond 2^53), float -> number,
//   str -> string, bytes/bytearray -> Uint8Array, list -> array, tuple -> frozen array,
//   dict/OrderedDict -> Map (keys: primitives; other keys are turned into their repr string),
//   set/frozenset -> Set, allowed objects -> whatever their handler returns (PyObject for records).
import { decodeElements, DTYPE_SIZE, fortranToCOrder, numpyDescrToCode, type DtypeCode } from './npy.js';
import { LOADER_LIMITS, LoaderLimitError, safeProduct, type LoaderLimits } from './limits.js';

export type PyKey = string | number | bigint | boolean | null;
export type PyValue = unknown;
export type PyDict = Map<PyKey, PyValue>;

/** Instance attributes set by BUILD on a dict (e.g. the `_metadata` of a PyTorch state dict). */
export const PY_ATTRS: unique symbol = Symbol('pyAttrs');

export class PickleError extends Error {
  constructor(readonly file: string, readonly offset: number, msg: string, fullMessage?: string) {
    super(fullMessage ?? `${file}: corrupt or unsupported pickle at byte offset ${offset}: ${msg}`);
    this.name = 'PickleError';
  }
}

export class UnsafePickleError extends PickleError {
  constructor(file: string, offset: number, readonly global: string) {
    super(file, offset, `refusing global '${global}'`,
      `${file}: refusing to load global '${global}' at byte offset ${offset}: untrusted checkpoints ` +
      `never run code; only tensor, container and plain-data globals (torch tensors/storages, ` +
      `collections.OrderedDict, torch.Size, simple NumPy arrays) are allowed. A checkpoint that pickles whole ` +
      `Python objects (e.g. torch.save(model)) must be re-saved as a state_dict`);
    this.name = 'UnsafePickleError';
  }
}

/** A plain-data Python object (e.g. argparse.Namespace): its class name, constructor args and state. */
export class PyObject {
  state: PyValue = null;
  constructor(readonly className: string, readonly args: readonly PyValue[] = []) {}
  /** The instance __dict__ when the state is a dict (else undefined). */
  get attrs(): PyDict | undefined {
    if (this.state instanceof Map) return this.state as PyDict;
    if (Array.isArray(this.state) && this.state[0] instanceof Map) return this.state[0] as PyDict;
    return undefined;
  }
}

/** What handlers may use besides `fail`: charging the work budget for values they copy or build. */
export interface UnpickleContext {
  /** Charges `units` (elements or bytes copied/decoded) for `what`; throws when over the budget. */
  charge(units: number, what: string): void;
}
const NO_BUDGET: UnpickleContext = { charge: () => {} };

/** Objects that accept BUILD (pickle's __setstate__). */
export interface SetStateTarget {
  setState(state: PyValue, fail: (msg: string) => never, ctx?: UnpickleContext): void;
}
function isSetStateTarget(v: unknown): v is SetStateTarget {
  return typeof v === 'object' && v !== null && typeof (v as SetStateTarget).setState === 'function';
}

/** What a global may do: be called (REDUCE), be instantiated (NEWOBJ), or serve as a plain value. */
export interface GlobalHandler {
  call?: (args: readonly PyValue[], fail: (msg: string) => never, ctx?: UnpickleContext) => PyValue;
  newobj?: (args: readonly PyValue[], fail: (msg: string) => never, ctx?: UnpickleContext) => PyValue;
  /** Extra data a caller can inspect (e.g. the dtype of a torch storage type). */
  meta?: Record<string, unknown>;
}

/** A resolved, allowed global on the unpickler stack. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string, readonly handler: GlobalHandler) {}
  get qualname(): string { return `${this.module}.${this.name}`; }
}

export interface UnpickleOptions {
  /** File name for error messages. */
  file?: string;
  /** Start offset in the buffer (for files holding several pickles in a row). */
  offset?: number;
  /** Resolves BINPERSID/PERSID ids (PyTorch storages). Without it, persistent ids are refused. */
  persistentLoad?: (pid: PyValue, fail: (msg: string) => never) => PyValue;
  /** Extra allowed globals keyed 'module.name' (checked before the built-in safe ones). */
  globals?: Record<string, GlobalHandler>;
  /** Overrides of the resource limits (limits.ts): work budget, integer sizes. */
  limits?: Partial<LoaderLimits>;
}

export interface UnpickleResult {
  value: PyValue;
  /** Offset just after the STOP opcode. */
  end: number;
  protocol: number;
}

const MARK = Symbol('mark');

/** A Python tuple: a frozen array. */
export function pyTuple(items: PyValue[]): readonly PyValue[] {
  return Object.freeze(items);
}

export function isTuple(v: unknown): v is readonly PyValue[] {
  return Array.isArray(v) && Object.isFrozen(v);
}

/** A printable summary of a Python value for error messages. */
export function pyRepr(v: PyValue, depth = 0): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 60) + '...' : v);
  if (v instanceof Uint8Array) return `b<${v.length} bytes>`;
  if (v instanceof PyGlobal) return v.qualname;
  if (v instanceof PyObject) return `<${v.className} object>`;
  if (depth > 2) return '...';
  if (Array.isArray(v)) {
    const inner = v.slice(0, 6).map((x) => pyRepr(x, depth + 1)).join(', ') + (v.length > 6 ? ', ...' : '');
    return isTuple(v) ? `(${inner}${v.length === 1 ? ',' : ''})` : `[${inner}]`;
  }
  if (v instanceof Map) {
    // only the first entries are visited: a repr must cost O(1) whatever the dict's size
    const shown: string[] = [];
    for (const [k, x] of v) {
      if (shown.length === 4) break;
      shown.push(`${pyRepr(k, depth + 1)}: ${pyRepr(x, depth + 1)}`);
    }
    return `{${shown.join(', ')}${v.size > 4 ? ', ...' : ''}}`;
  }
  if (v instanceof Set) return `set(<${v.size} items>)`;
  if (typeof v === 'object' && v && 'shape' in v && 'data' in v) return `tensor${JSON.stringify((v as { shape: number[] }).shape)}`;
  return typeof v;
}

function dictKey(k: PyValue): PyKey {
  if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return k;
  return pyRepr(k);
}

// ---------------------------------------------------------------------------------------------
// Safe built-in globals.

const numpyDtypeGlobal: GlobalHandler = {
  call: (args, fail) => {
    if (typeof args[0] !== 'string') fail(`numpy.dtype expects a type string, got ${pyRepr(args[0])}`);
    return new NumpyDtype(args[0] as string);
  },
};
const numpyScalarGlobal: GlobalHandler = {
  call: (args, fail, ctx = NO_BUDGET) => {
    const dt = args[0];
    if (!(dt instanceof NumpyDtype)) return fail(`numpy scalar expects a dtype, got ${pyRepr(dt)}`);
    const raw = asBytes(args[1], fail, 'latin1', ctx);
    const { code, little } = dt.resolve(fail);
    const n = raw.length / DTYPE_SIZE[code];
    if (n !== 1) fail(`numpy scalar of ${dt.descr} has ${raw.length} bytes`);
    return decodeElements(raw, 0, 1, code, little)[0]!;
  },
};
const numpyReconstructGlobal: GlobalHandler = {
  call: (args, fail) => {
    const cls = args[0];
    if (!(cls instanceof PyGlobal) || !/^numpy\.(ndarray|matrix)$/.test(cls.qualname)) {
      fail(`numpy _reconstruct of ${pyRepr(cls)} is not supported`);
    }
    return new NumpyArray();
  },
};

export const SAFE_GLOBALS: Readonly<Record<string, GlobalHandler>> = {
  'collections.OrderedDict': {
    call: (args, fail, ctx = NO_BUDGET) => {
      const m: PyDict = new Map();
      if (args.length > 0 && args[0] !== null) {
        const src = args[0];
        // a copy: charged, since a stream can ask for copies of one big dict over and over
        ctx.charge(src instanceof Map ? src.size : Array.isArray(src) ? src.length : 0, 'OrderedDict(...)');
        if (src instanceof Map) for (const [k, v] of src) m.set(k, v);
        else if (Array.isArray(src)) for (const kv of src) {
          if (!Array.isArray(kv) || kv.length !== 2) fail(`OrderedDict item ${pyRepr(kv)} is not a pair`);
          m.set(dictKey(kv[0]), kv[1]);
        } else fail(`OrderedDict(${pyRepr(src)}) is not supported`);
      }
      return m;
    },
  },
  'builtins.dict': { call: (args, fail, ctx) => SAFE_GLOBALS['collections.OrderedDict']!.call!(args, fail, ctx) },
  'builtins.set': { call: (args, _fail, ctx = NO_BUDGET) => copyToSet(args[0], ctx) },
  'builtins.frozenset': { call: (args, _fail, ctx = NO_BUDGET) => copyToSet(args[0], ctx) },
  'builtins.bytearray': { call: (args, fail, ctx) => (args.length ? asBytes(args[0], fail, 'latin1', ctx) : new Uint8Array(0)) },
  'builtins.bytes': { call: (args, fail, ctx) => (args.length ? asBytes(args[0], fail, 'latin1', ctx) : new Uint8Array(0)) },
  'builtins.slice': { call: (args) => pyTuple([...args]) },
  'builtins.complex': { call: (args) => pyTuple([...args]) },
  // Protocol-2 pickles of Python 3 bytes: _codecs.encode(text, 'latin1').
  '_codecs.encode': {
    call: (args, fail, ctx) => {
      if (typeof args[0] !== 'string') fail(`_codecs.encode expects a string, got ${pyRepr(args[0])}`);
      // never String() of a container: joining a shared nested list expands it as a tree
      const enc = (typeof args[1] === 'string' ? args[1] : 'utf-8').slice(0, 32).toLowerCase().replace(/[-_]/g, '');
      return asBytes(args[0], fail, enc === 'latin1' || enc === 'iso88591' ? 'latin1' : 'utf8', ctx);
    },
  },
  'argparse.Namespace': {
    call: (args) => new PyObject('argparse.Namespace', args),
    newobj: (args) => new PyObject('argparse.Namespace', args),
  },
  'numpy.dtype': numpyDtypeGlobal,
  'numpy.ndarray': {},
  'numpy.core.multiarray.scalar': numpyScalarGlobal,
  'numpy._core.multiarray.scalar': numpyScalarGlobal,
  'numpy.core.multiarray._reconstruct': numpyReconstructGlobal,
  'numpy._core.multiarray._reconstruct': numpyReconstructGlobal,
};

const MODULE_ALIASES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

// ---------------------------------------------------------------------------------------------
// NumPy objects that pickles rebuild with BUILD.

export class NumpyDtype implements SetStateTarget {
  byteorder = '=';
  constructor(readonly typestr: string) {}
  setState(state: PyValue): void {
    if (Array.isArray(state) && typeof state[1] === 'string') this.byteorder = state[1];
  }
  get descr(): string {
    const bo = this.byteorder === '=' ? '<' : this.byteorder;
    return /^[<>|=]/.test(this.typestr) ? this.typestr : bo + this.typestr;
  }
  resolve(fail: (msg: string) => never): { code: DtypeCode; little: boolean } {
    const r = numpyDescrToCode(this.descr);
    if (!r) return fail(`NumPy dtype '${this.descr}' is not supported`);
    return r;
  }
}

/** A NumPy array rebuilt from a pickle; after BUILD it is a HostTensor-like value. */
export class NumpyArray implements SetStateTarget {
  dtype = 'F32';
  shape: number[] = [0];
  data: Float32Array = new Float32Array(0);
  setState(state: PyValue, fail: (msg: string) => never, ctx: UnpickleContext = NO_BUDGET): void {
    if (!Array.isArray(state) || state.length < 5) fail(`unexpected ndarray state ${pyRepr(state)}`);
    const [, shape, dt, fortran, raw] = state as PyValue[];
    // sizes must be non-negative safe integers whose product is safe: a negative or fractional
    // dimension could otherwise match the byte count (-1 x -1 = 1 element)
    const n = Array.isArray(shape) ? safeProduct(shape) : NaN;
    if (Number.isNaN(n)) return fail(`bad ndarray shape ${pyRepr(shape)}: sizes must be non-negative integers with a product below 2^53`);
    if (!(dt instanceof NumpyDtype)) return fail(`bad ndarray dtype ${pyRepr(dt)}`);
    const { code, little } = dt.resolve(fail);
    if (Array.isArray(raw)) fail(`object arrays (dtype ${dt.descr}) are not supported`);
    const bytes = asBytes(raw, fail, 'latin1', ctx);
    const dims = shape as number[];
    if (bytes.length !== n * DTYPE_SIZE[code]) fail(`ndarray data has ${bytes.length} bytes, shape ${JSON.stringify(dims)} of ${dt.descr} needs ${n * DTYPE_SIZE[code]}`);
    ctx.charge(n * 4, `ndarray ${JSON.stringify(dims)}`);
    let data = decodeElements(bytes, 0, n, code, little);
    if (fortran === true && dims.length > 1) data = fortranToCOrder(data, dims);
    this.dtype = code;
    this.shape = [...dims];
    this.data = data;
  }
}

function asBytes(v: PyValue, fail: (msg: string) => never, enc: 'latin1' | 'utf8' = 'latin1', ctx: UnpickleContext = NO_BUDGET): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') {
    // a new buffer per call, from a string the stream may reference many times: charged
    ctx.charge(enc === 'latin1' ? v.length : 3 * v.length, 'bytes from a string');
    if (enc === 'utf8') return new TextEncoder().encode(v);
    const out = new Uint8Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = v.charCodeAt(i) & 0xff;
    return out;
  }
  if (Array.isArray(v)) {
    ctx.charge(v.length, 'bytes from a list');
    if (v.every((x) => typeof x === 'number')) return Uint8Array.from(v as number[]);
  }
  return fail(`expected bytes, got ${pyRepr(v)}`);
}

function copyToSet(v: PyValue, ctx: UnpickleContext): Set<PyValue> {
  if (!Array.isArray(v)) return new Set();
  ctx.charge(v.length, 'set(...)');
  return new Set(v);
}

// ---------------------------------------------------------------------------------------------
// The machine.

const OPNAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4a: 'BININT',
  0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID', 0x51: 'BINPERSID', 0x52: 'REDUCE',
  0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING', 0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND',
  0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT', 0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET',
  0x69: 'INST', 0x6a: 'LONG_BINGET', 0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT',
  0x72: 'LONG_BINPUT', 0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME',
  0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

function intToValue(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Little-endian two's-complement integer of n bytes (LONG1/LONG4), in time linear in n: the bytes
 * become one hex literal that BigInt parses at once. (Shifting a growing BigInt in byte by byte
 * copies it every time: quadratic, minutes for a 256 KiB LONG4.)
 */
function decodeLong(b: Uint8Array, off: number, n: number): number | bigint {
  if (n === 0) return 0;
  const hex = new Array<string>(n);
  for (let i = 0; i < n; i++) hex[i] = HEX_BYTE[b[off + n - 1 - i]!]!;
  let v = BigInt(`0x${hex.join('')}`);
  if (b[off + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
  return intToValue(v);
}

/** Runs one pickle from `opts.offset` (default 0) to its STOP opcode. */
export function unpickle(buf: Uint8Array, opts: UnpickleOptions = {}): UnpickleResult {
  const file = opts.file ?? '<buffer>';
  const limits = { ...LOADER_LIMITS, ...opts.limits };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = opts.offset ?? 0;
  let opPos = pos;
  let protocol = 0;
  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();

  const fail = (msg: string): never => {
    const name = OPNAMES[buf[opPos]!];
    throw new PickleError(file, opPos, name ? `${name}: ${msg}` : msg);
  };
  // The work budget: units (elements, bytes) that handlers copy or decode from existing values.
  // Values the stream spells out itself cost nothing extra, the stream's length bounds them.
  const budget = limits.pickleWorkFactor * (buf.length - pos) + limits.pickleWorkSlack;
  let work = 0;
  const ctx: UnpickleContext = {
    charge: (units, what) => {
      work += units;
      if (!(work <= budget)) {
        const name = OPNAMES[buf[opPos]!] ?? 'opcode';
        throw new LoaderLimitError(file, `pickle at byte offset ${opPos}: ${name}: ${what} copies ${units} values, bringing the ` +
          `unpickler's work to ${work} units, more than its budget of ${budget} (${limits.pickleWorkFactor} x the stream's ` +
          `${buf.length - (opts.offset ?? 0)} bytes + ${limits.pickleWorkSlack}; see io/limits.ts). The stream copies the same values over and over`);
      }
    },
  };
  const longBytes = (n: number): number => {
    if (n > limits.maxLongBytes) {
      throw new LoaderLimitError(file, `pickle at byte offset ${opPos}: ${OPNAMES[buf[opPos]!]}: an integer of ${n} bytes is larger than ` +
        `the limit of ${limits.maxLongBytes} bytes (see io/limits.ts); checkpoints hold no such numbers`);
    }
    return n;
  };
  const intLiteral = (s: string, what: string): bigint => {
    if (!/^[-+]?\d+$/.test(s)) return fail(`bad ${what} literal '${s.slice(0, 40)}'`);
    if (s.replace(/^[-+]?0*/, '').length > limits.maxIntDigits) {
      throw new LoaderLimitError(file, `pickle at byte offset ${opPos}: ${what}: an integer literal of ${s.length} characters has ` +
        `more than the limit of ${limits.maxIntDigits} digits (see io/limits.ts)`);
    }
    return BigInt(s);
  };
  const need = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < 0) fail(`invalid length ${n}`);
    if (pos + n > buf.length) {
      throw new PickleError(file, opPos, `stream truncated: needs ${n} more byte(s) at offset ${pos} but it ends at ${buf.length}`);
    }
    const p = pos;
    pos += n;
    return p;
  };
  const readLine = (): string => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) throw new PickleError(file, opPos, `stream truncated: no newline after offset ${pos}`);
    const s = latin1.decode(buf.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]!)) fail('stack underflow');
    return stack.pop();
  };
  const top = (): PyValue => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    if (!marks.length) fail('no MARK on the stack');
    const m = marks.pop()!;
    return stack.splice(m);
  };
  const resolveGlobal = (module: string, name: string): PyGlobal => {
    const mod = MODULE_ALIASES[module] ?? module;
    const key = `${mod}.${name}`;
    const own = (o: object | undefined): boolean => !!o && Object.prototype.hasOwnProperty.call(o, key);
    const h = own(opts.globals) ? opts.globals![key] : own(SAFE_GLOBALS) ? SAFE_GLOBALS[key] : undefined;
    if (!h) throw new UnsafePickleError(file, opPos, key);
    return new PyGlobal(mod, name, h);
  };
  const call = (fn: PyValue, args: PyValue, how: 'call' | 'newobj'): PyValue => {
    if (!(fn instanceof PyGlobal)) return fail(`cannot call ${pyRepr(fn)}`);
    if (!Array.isArray(args)) return fail(`arguments of ${fn.qualname} are not a tuple: ${pyRepr(args)}`);
    const f = how === 'newobj' ? fn.handler.newobj ?? fn.handler.call : fn.handler.call;
    if (!f) return fail(`${fn.qualname} cannot be ${how === 'newobj' ? 'instantiated' : 'called'}`);
    return f(args, fail, ctx);
  };
  const setItems = (d: PyValue, items: PyValue[]): void => {
    if (!(d instanceof Map)) fail(`cannot set items on ${pyRepr(d)}`);
    if (items.length % 2) fail('odd number of items for SETITEMS');
    for (let i = 0; i < items.length; i += 2) (d as PyDict).set(dictKey(items[i]), items[i + 1]);
  };
  const append = (l: PyValue, items: PyValue[]): void => {
    if (l instanceof Set) { for (const x of items) l.add(x); return; }
    if (!Array.isArray(l) || Object.isFrozen(l)) fail(`cannot append to ${pyRepr(l)}`);
    for (const x of items) (l as PyValue[]).push(x);
  };
  const persistent = (pid: PyValue): PyValue => {
    if (!opts.persistentLoad) return fail(`persistent id ${pyRepr(pid)} without a persistent loader`);
    return opts.persistentLoad(pid, fail);
  };
  const getMemo = (i: number): PyValue => {
    if (!memo.has(i)) fail(`memo key ${i} is not defined`);
    return memo.get(i);
  };

  for (;;) {
    opPos = pos;
    if (pos >= buf.length) throw new PickleError(file, pos, `stream truncated: ended before the STOP opcode (${buf.length} bytes)`);
    const op = buf[pos++]!;
    switch (op) {
      case 0x80: { // PROTO
        protocol = buf[need(1)]!;
        if (protocol > 5) fail(`unsupported pickle protocol ${protocol}`);
        break;
      }
      case 0x95: { // FRAME: 8-byte length; frames are read in place
        const p = need(8);
        const len = Number(view.getBigUint64(p, true));
        if (pos + len > buf.length) throw new PickleError(file, opPos, `stream truncated: frame of ${len} bytes at offset ${pos} exceeds the stream (${buf.length} bytes)`);
        break;
      }
      case 0x2e: { // STOP
        if (stack.length !== 1 || marks.length) fail(`stack holds ${stack.length} item(s) at STOP`);
        return { value: stack[0], end: pos, protocol };
      }
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      // --- numbers
      case 0x4a: stack.push(view.getInt32(need(4), true)); break; // BININT
      case 0x4b: stack.push(buf[need(1)]!); break; // BININT1
      case 0x4d: stack.push(view.getUint16(need(2), true)); break; // BININT2
      case 0x8a: { const n = longBytes(buf[need(1)]!); stack.push(decodeLong(buf, need(n), n)); break; } // LONG1
      case 0x8b: { const n = longBytes(view.getInt32(need(4), true)); stack.push(decodeLong(buf, need(n), n)); break; } // LONG4
      case 0x47: stack.push(view.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x49: { // INT (text); '00'/'01' are False/True
        const s = readLine().trim();
        if (s === '00') stack.push(false);
        else if (s === '01') stack.push(true);
        else stack.push(intToValue(intLiteral(s, 'INT')));
        break;
      }
      case 0x4c: { // LONG (text)
        const s = readLine().trim().replace(/L$/, '');
        stack.push(intToValue(intLiteral(s, 'LONG')));
        break;
      }
      case 0x46: { // FLOAT (text)
        const s = readLine().trim();
        const v = Number(s);
        if (Number.isNaN(v) && !/nan/i.test(s)) fail(`bad FLOAT literal '${s}'`);
        stack.push(v);
        break;
      }
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      // --- strings and bytes
      case 0x58: { const n = view.getUint32(need(4), true); stack.push(utf8.decode(buf.subarray(need(n), pos))); break; } // BINUNICODE
      case 0x8c: { const n = buf[need(1)]!; stack.push(utf8.decode(buf.subarray(need(n), pos))); break; } // SHORT_BINUNICODE
      case 0x8d: { const n = Number(view.getBigUint64(need(8), true)); stack.push(utf8.decode(buf.subarray(need(n), pos))); break; } // BINUNICODE8
      case 0x55: { const n = buf[need(1)]!; stack.push(utf8.decode(buf.subarray(need(n), pos))); break; } // SHORT_BINSTRING (py2 str)
      case 0x54: { const n = view.getInt32(need(4), true); stack.push(utf8.decode(buf.subarray(need(n), pos))); break; } // BINSTRING
      case 0x53: { // STRING (quoted text)
        const s = readLine().trim();
        const m = /^(['"])(.*)\1$/s.exec(s);
        if (!m) fail(`bad STRING literal ${s.slice(0, 40)}`);
        stack.push(unescapePy(m![2]!));
        break;
      }
      case 0x56: stack.push(unescapeRawUnicode(readLine())); break; // UNICODE
      case 0x43: { const n = buf[need(1)]!; stack.push(buf.slice(need(n), pos)); break; } // SHORT_BINBYTES
      case 0x42: { const n = view.getUint32(need(4), true); stack.push(buf.slice(need(n), pos)); break; } // BINBYTES
      case 0x8e: // BINBYTES8
      case 0x96: { const n = Number(view.getBigUint64(need(8), true)); stack.push(buf.slice(need(n), pos)); break; } // BYTEARRAY8
      case 0x97: fail('out-of-band buffers are not supported'); break; // NEXT_BUFFER
      case 0x98: top(); break; // READONLY_BUFFER: no-op
      // --- containers
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(pyTuple([])); break; // EMPTY_TUPLE
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x85: { const a = pop(); stack.push(pyTuple([a])); break; } // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push(pyTuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(pyTuple([a, b, c])); break; } // TUPLE3
      case 0x74: stack.push(pyTuple(popMark())); break; // TUPLE
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x64: { const items = popMark(); const d: PyDict = new Map(); setItems(d, items); stack.push(d); break; } // DICT
      case 0x91: stack.push(new Set(popMark())); break; // FROZENSET
      case 0x61: { const x = pop(); append(top(), [x]); break; } // APPEND
      case 0x65: { const items = popMark(); append(top(), items); break; } // APPENDS
      case 0x90: { const items = popMark(); const s = top(); if (!(s instanceof Set)) fail(`cannot add items to ${pyRepr(s)}`); for (const x of items) (s as Set<PyValue>).add(x); break; } // ADDITEMS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      // --- memo
      case 0x68: stack.push(getMemo(buf[need(1)]!)); break; // BINGET
      case 0x6a: stack.push(getMemo(view.getUint32(need(4), true))); break; // LONG_BINGET
      case 0x67: stack.push(getMemo(parseInt(readLine(), 10))); break; // GET
      case 0x71: memo.set(buf[need(1)]!, top()); break; // BINPUT
      case 0x72: memo.set(view.getUint32(need(4), true), top()); break; // LONG_BINPUT
      case 0x70: memo.set(parseInt(readLine(), 10), top()); break; // PUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      // --- globals and objects
      case 0x63: { const module = readLine(); const name = readLine(); stack.push(resolveGlobal(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop(); const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(module as string, name as string));
        break;
      }
      case 0x52: { const args = pop(); const fn = pop(); stack.push(call(fn, args, 'call')); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); stack.push(call(cls, args, 'newobj')); break; } // NEWOBJ
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop(); const args = pop(); const cls = pop();
        if (kwargs instanceof Map && kwargs.size) fail('keyword arguments are not supported');
        stack.push(call(cls, args, 'newobj'));
        break;
      }
      case 0x69: { // INST
        const module = readLine(); const name = readLine();
        const g = resolveGlobal(module, name);
        stack.push(call(g, pyTuple(popMark()), 'call'));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        if (!items.length) fail('OBJ without a class');
        stack.push(call(items[0], pyTuple(items.slice(1)), 'call'));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const obj = top();
        if (isSetStateTarget(obj)) obj.setState(state, fail, ctx);
        else if (obj instanceof PyObject) obj.state = state;
        else if (obj instanceof Map) {
          if (state !== null) (obj as unknown as Record<symbol, PyValue>)[PY_ATTRS] = state;
        } else if (state !== null && !(state instanceof Map && state.size === 0)) {
          if (typeof obj === 'object' && obj !== null) (obj as Record<symbol, PyValue>)[PY_ATTRS] = state;
          else fail(`cannot set state on ${pyRepr(obj)}`);
        }
        break;
      }
      case 0x51: { const pid = pop(); stack.push(persistent(pid)); break; } // BINPERSID
      case 0x50: stack.push(persistent(readLine())); break; // PERSID
      case 0x82: case 0x83: case 0x84: fail('extension-registry globals are not supported'); break; // EXT1/2/4
      default:
        throw new PickleError(file, opPos, `unknown opcode 0x${op.toString(16).padStart(2, '0')} (corrupt stream?)`);
    }
  }
}

function unescapePy(s: string): string {
  return s.replace(/\\(x[0-9a-fA-F]{2}|[\\'"nrt0])/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    return ({ n: '\n', r: '\r', t: '\t', '0': '\0' } as Record<string, string>)[e] ?? e;
  });
}
function unescapeRawUnicode(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, a?: string, b?: string) => String.fromCodePoint(parseInt((a ?? b)!, 16)));
}
