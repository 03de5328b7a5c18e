// Checkpoint I/O: PyTorch zip and legacy checkpoints, .npy/.npz, safetensors conversion, and the
// restricted unpickler's refusal of code-running globals. Synthetic files are built in a temp dir.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { fixturesDir, repoFile, loadFixture, npyBytes } from './helpers.js';
import {
  readSafetensors, type HostTensor,
  loadTensors, convertToSafetensors, detectFormat,
  readTorchCheckpoint, flattenStateDict, ZipArchive,
  unpickle, UnsafePickleError, PickleError, PyObject,
  readNpy, writeNpy, parseNpy, serializeNpy,
} from '../src/io/index.js';

let tmp = '';
beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-ckpt-')); });
afterAll(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

const fixture = (name: string) => path.join(fixturesDir(), name);

function expectSameTensor(actual: HostTensor | undefined, expected: HostTensor, label: string): void {
  expect(actual, `${label}: missing`).toBeDefined();
  expect(actual!.shape, `${label}: shape`).toEqual(expected.shape);
  expect(actual!.data.length, `${label}: size`).toBe(expected.data.length);
  const a = Buffer.from(actual!.data.buffer, actual!.data.byteOffset, actual!.data.byteLength);
  const b = Buffer.from(expected.data.buffer, expected.data.byteOffset, expected.data.byteLength);
  expect(a.equals(b), `${label}: values differ`).toBe(true);
}

/** Checks the loaded tensors `prefix<name>` against the fixture's `param.<name>`: same names, same bits. */
function expectMatchesParams(tensors: Map<string, HostTensor>, fixtureName: string, prefix: string, extra: string[] = [], shapeOnly = (_: string) => false): void {
  const ref = loadFixture(fixtureName);
  const params = [...ref.tensors.keys()].filter((k) => k.startsWith('param.')).map((k) => k.slice('param.'.length));
  expect(params.length).toBeGreaterThan(10);
  const loaded = [...tensors.keys()].filter((k) => !extra.includes(k));
  expect(loaded.filter((k) => !k.startsWith(prefix)), 'names outside the prefix').toEqual([]);
  expect(loaded.map((k) => k.slice(prefix.length)).sort(), 'names').toEqual([...params].sort());
  for (const p of params) {
    if (shapeOnly(p)) expect(tensors.get(prefix + p)!.shape, p).toEqual(ref.tensors.get(`param.${p}`)!.shape);
    else expectSameTensor(tensors.get(prefix + p), ref.tensors.get(`param.${p}`)!, p);
  }
  for (const e of extra) expect(tensors.has(e), e).toBe(true);
}

// ---------------------------------------------------------------------------------------------
// Tiny pickle and zip writers for synthetic inputs.

class Pickle {
  private bytes: number[] = [];
  op(...b: number[]): this { this.bytes.push(...b); return this; }
  text(s: string): this { this.bytes.push(...Buffer.from(s, 'latin1')); return this; }
  proto(n: number): this { return this.op(0x80, n); }
  mark(): this { return this.op(0x28); }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4); len.writeUInt32LE(b.length);
    return this.op(0x58, ...len, ...b);
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n);
    if (n >= 0 && n < 65536) return this.op(0x4d, n & 0xff, n >> 8);
    const b = Buffer.alloc(4); b.writeInt32LE(n);
    return this.op(0x4a, ...b);
  }
  float(x: number): this { const b = Buffer.alloc(8); b.writeDoubleBE(x); return this.op(0x47, ...b); }
  global(module: string, name: string): this { return this.op(0x63).text(`${module}\n${name}\n`); }
  ints(xs: number[]): this { this.mark(); for (const x of xs) this.int(x); return this.op(0x74); }
  /** torch._utils._rebuild_tensor_v2((storage pid), offset, size, stride, False, OrderedDict()). */
  tensor(storageType: string, key: string, location: string, numel: number, offset: number, size: number[], stride: number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', storageType).str(key).str(location).int(numel).op(0x74, 0x51);
    this.int(offset).ints(size).ints(stride).op(0x89).global('collections', 'OrderedDict').op(0x29, 0x52);
    return this.op(0x74, 0x52);
  }
  done(): Buffer { return Buffer.from(this.bytes); }
}

function makeZip(entries: [string, Uint8Array][]): Buffer {
  const locals: Buffer[] = [], centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const n = Buffer.from(name, 'utf8');
    const crc = zlib.crc32(data) >>> 0;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(data.length, 18); lh.writeUInt32LE(data.length, 22); lh.writeUInt16LE(n.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(data.length, 20); ch.writeUInt32LE(data.length, 24); ch.writeUInt16LE(n.length, 28);
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, n, Buffer.from(data));
    centrals.push(ch, n);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0); eocd.writeUInt16LE(entries.length, 8); eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12); eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

const u16 = (xs: number[]) => { const b = Buffer.alloc(xs.length * 2); xs.forEach((x, i) => b.writeUInt16LE(x, i * 2)); return b; };
const f32 = (xs: number[]) => Buffer.from(new Float32Array(xs).buffer);
const f64 = (xs: number[]) => Buffer.from(new Float64Array(xs).buffer);
const i64 = (xs: number[]) => { const b = Buffer.alloc(xs.length * 8); xs.forEach((x, i) => b.writeBigInt64LE(BigInt(x), i * 8)); return b; };

const maliciousPickle = () => new Pickle().proto(2).global('os', 'system').str('echo pwned').op(0x85, 0x52, 0x2e).done();

// ---------------------------------------------------------------------------------------------

describe('PyTorch checkpoints (fixtures)', () => {
  it('reads the zip-format rosinality generator: g_ema.* equal param.* of the safetensors fixture, plus latent_avg', () => {
    const r = loadTensors(fixture('generator_small.pt'));
    expect(r.format).toBe('pytorch-zip');
    expectMatchesParams(r.tensors, 'generator_small.safetensors', 'g_ema.', ['latent_avg']);
    const la = r.tensors.get('latent_avg')!;
    expect(la.shape).toEqual([32]);
    expect(la.data.every(Number.isFinite)).toBe(true);
  });

  it('reads the legacy-format generator to the same tensors', () => {
    const legacy = loadTensors(fixture('generator_small_legacy.pt'));
    expect(legacy.format).toBe('pytorch-legacy');
    expectMatchesParams(legacy.tensors, 'generator_small.safetensors', 'g_ema.', ['latent_avg']);
    const zip = loadTensors(fixture('generator_small.pt'));
    expectSameTensor(legacy.tensors.get('latent_avg'), zip.tensors.get('latent_avg')!, 'latent_avg');
  });

  it('readTorchCheckpoint keeps the nested structure and flattenStateDict names it', () => {
    const root = readTorchCheckpoint(fixture('generator_small.pt'));
    expect(root).toBeInstanceOf(Map);
    const m = root as Map<string, unknown>;
    expect([...m.keys()].sort()).toEqual(['g_ema', 'latent_avg']);
    expect(m.get('g_ema')).toBeInstanceOf(Map);
    const flat = flattenStateDict(m.get('g_ema'), 'decoder');
    expect([...flat.keys()].every((k) => k.startsWith('decoder.'))).toBe(true);
    expect(flat.size).toBe(69);
  });

  it('reads the encoder state dict (.pth, zip) equal to param.* of encoder_small.safetensors', () => {
    const r = loadTensors(fixture('encoder_small.pth'));
    // num_batches_tracked is a BN step counter the forward pass never reads: the .pth stores the
    // int64 value 1 (checked in its raw bytes), the safetensors fixture 0; every real parameter
    // and running statistic matches bit for bit.
    const counter = (n: string) => n.endsWith('num_batches_tracked');
    expectMatchesParams(r.tensors, 'encoder_small.safetensors', '', [], counter);
    const nbt = r.tensors.get('input_layer.1.num_batches_tracked')!;
    expect(nbt).toMatchObject({ dtype: 'I64', shape: [] });
    expect([...nbt.data]).toEqual([1]);
  });

  it('reads the real LPIPS v0.1 linear layers (legacy pickle, storages tagged cuda:0)', () => {
    const file = repoFile('pretrained/lpips_alex_v0.1.pth');
    const r = loadTensors(file);
    expect(r.format).toBe('pytorch-legacy');
    const cs = [64, 192, 384, 256, 256];
    expect([...r.tensors.keys()].sort()).toEqual(cs.map((_, i) => `lin${i}.model.1.weight`));
    cs.forEach((c, i) => {
      const t = r.tensors.get(`lin${i}.model.1.weight`)!;
      expect(t.shape).toEqual([1, c, 1, 1]);
      expect(t.data.every((x) => Number.isFinite(x) && x >= 0)).toBe(true); // LPIPS clamps the weights to >= 0
      expect(t.data.some((x) => x > 0)).toBe(true);
    });
  });

  it('converts a .pt to safetensors that round-trips', () => {
    const out = path.join(tmp, 'generator_small.safetensors');
    const res = convertToSafetensors(fixture('generator_small.pt'), out, { note: 'test' });
    expect(res).toMatchObject({ format: 'pytorch-zip', tensors: 70 });
    const back = readSafetensors(out);
    const src = loadTensors(fixture('generator_small.pt'));
    expect([...back.tensors.keys()]).toEqual([...src.tensors.keys()]);
    for (const [k, t] of src.tensors) expectSameTensor(back.tensors.get(k), t, k);
    expect(back.metadata.format).toBe('pytorch-zip');
    expect(back.metadata.note).toBe('test');
    // and loadTensors recognises the result by content, even under a misleading name
    const renamed = path.join(tmp, 'looks_like.pt');
    fs.copyFileSync(out, renamed);
    expect(loadTensors(renamed).format).toBe('safetensors');
  });
});

describe('synthetic PyTorch checkpoints', () => {
  // A pSp-style checkpoint: {state_dict: {...}, opts: {...}, epoch: 3}; float16 / bfloat16 / int64 /
  // float64 / bool storages on several devices, a transposed view sharing a storage, an offset
  // strided view and a 0-d tensor.
  const buildPsp = (): Buffer => {
    const p = new Pickle().proto(2).op(0x7d).mark();
    p.str('state_dict').global('collections', 'OrderedDict').op(0x29, 0x52).mark();
    p.str('enc.w').tensor('HalfStorage', '0', 'cuda:0', 6, 0, [2, 3], [3, 1]);
    p.str('enc.wt').tensor('HalfStorage', '0', 'cuda:0', 6, 0, [3, 2], [1, 3]);
    p.str('enc.b').tensor('BFloat16Storage', '1', 'cpu', 3, 0, [3], [1]);
    p.str('enc.steps').tensor('LongStorage', '2', 'cpu', 1, 0, [], []);
    p.str('enc.d').tensor('DoubleStorage', '3', 'cuda:1', 6, 1, [3], [2]);
    p.str('enc.mask').tensor('BoolStorage', '4', 'mps', 4, 0, [2, 2], [2, 1]);
    p.op(0x75); // SETITEMS into the OrderedDict
    p.str('opts').op(0x7d).mark().str('lr').float(0.5).str('encoder_type').str('ResNet').str('n_styles').int(18).op(0x75);
    p.str('epoch').int(3).op(0x75, 0x2e);
    return p.done();
  };
  const storages: [string, Uint8Array][] = [
    ['0', u16([0x3c00, 0xc000, 0x3800, 0x4200, 0x7bff, 0xb400])], // 1 -2 0.5 3 65504 -0.25
    ['1', u16([0x3f80, 0xc040, 0x3e20])], // bf16: 1 -3 0.15625
    ['2', i64([1234567])],
    ['3', f64([0, 1.5, 0, -2.25, 0, 1e300])],
    ['4', Uint8Array.from([1, 0, 0, 1])],
  ];
  const check = (r: ReturnType<typeof loadTensors>) => {
    const t = r.tensors;
    expect([...t.keys()]).toEqual(['enc.w', 'enc.wt', 'enc.b', 'enc.steps', 'enc.d', 'enc.mask']);
    expect(t.get('enc.w')!).toMatchObject({ dtype: 'F16', shape: [2, 3] });
    expect([...t.get('enc.w')!.data]).toEqual([1, -2, 0.5, 3, 65504, -0.25]);
    expect([...t.get('enc.wt')!.data]).toEqual([1, 3, -2, 65504, 0.5, -0.25]);
    expect(t.get('enc.wt')!.data).not.toBe(t.get('enc.w')!.data);
    expect([...t.get('enc.b')!.data]).toEqual([1, -3, 0.15625]);
    expect(t.get('enc.steps')!).toMatchObject({ dtype: 'I64', shape: [] });
    expect([...t.get('enc.steps')!.data]).toEqual([1234567]);
    expect([...t.get('enc.d')!.data]).toEqual([1.5, -2.25, Infinity]); // 1e300 overflows float32
    expect([...t.get('enc.mask')!.data]).toEqual([1, 0, 0, 1]);
    expect(JSON.parse(r.metadata.extras!)).toEqual({ 'opts.lr': 0.5, 'opts.encoder_type': 'ResNet', 'opts.n_styles': 18, epoch: 3 });
    const opts = (r.root as Map<string, unknown>).get('opts') as Map<string, unknown>;
    expect(opts.get('encoder_type')).toBe('ResNet');
  };

  it('zip format: any top folder name, dtypes, devices, views, shared storages, pSp layout', () => {
    const pkl = buildPsp();
    const zip = makeZip([
      ['my_run_17/data.pkl', pkl],
      ...storages.map(([k, b]): [string, Uint8Array] => [`my_run_17/data/${k}`, b]),
      ['my_run_17/version', Buffer.from('3\n')],
    ]);
    const file = path.join(tmp, 'psp_like.weights'); // extension deliberately unhelpful
    fs.writeFileSync(file, zip);
    check(loadTensors(file));
  });

  it('zip format: big-endian storages (byteorder entry)', () => {
    const p = new Pickle().proto(2).global('collections', 'OrderedDict').op(0x29, 0x52).mark();
    p.str('x').tensor('FloatStorage', '0', 'cpu', 2, 0, [2], [1]).op(0x75, 0x2e);
    const be = Buffer.alloc(8); be.writeFloatBE(1.25, 0); be.writeFloatBE(-7, 4);
    const file = path.join(tmp, 'be.pt');
    fs.writeFileSync(file, makeZip([['a/data.pkl', p.done()], ['a/byteorder', Buffer.from('big')], ['a/data/0', be]]));
    expect([...loadTensors(file).tensors.get('x')!.data]).toEqual([1.25, -7]);
  });

  it('legacy format with a storage view (view_metadata)', () => {
    const legacyPid = (p: Pickle, view: [string, number, number] | null) => {
      p.mark().str('storage').global('torch', 'FloatStorage').str('root').str('cuda:0').int(6);
      if (view) p.str(view[0]).int(view[1]).int(view[2]).op(0x87); else p.op(0x4e);
      return p.op(0x74, 0x51);
    };
    const main = new Pickle().proto(2).op(0x7d).mark();
    main.str('full').global('torch._utils', '_rebuild_tensor_v2').mark();
    legacyPid(main, null).int(0).ints([2, 3]).ints([3, 1]).op(0x89, 0x4e, 0x74, 0x52);
    main.str('view').global('torch._utils', '_rebuild_tensor_v2').mark();
    legacyPid(main, ['v1', 2, 3]).int(1).ints([2]).ints([1]).op(0x89, 0x4e, 0x74, 0x52);
    main.op(0x75, 0x2e);
    const magic = new Pickle().proto(2).op(0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e).done();
    const version = new Pickle().proto(2).int(1001).op(0x2e).done();
    const sys = new Pickle().proto(2).op(0x7d).str('little_endian').op(0x88, 0x73, 0x2e).done();
    const keys = new Pickle().proto(2).op(0x5d).str('root').op(0x61, 0x2e).done();
    const data = Buffer.concat([i64([6]), f32([10, 11, 12, 13, 14, 15])]);
    const bytes = Buffer.concat([magic, version, sys, main.done(), keys, data]);
    const file = path.join(tmp, 'legacy_view.pt');
    fs.writeFileSync(file, bytes);
    const r = loadTensors(file);
    expect(r.format).toBe('pytorch-legacy');
    expect([...r.tensors.get('full')!.data]).toEqual([10, 11, 12, 13, 14, 15]);
    expect([...r.tensors.get('view')!.data]).toEqual([13, 14]); // view starts at element 2, tensor offset 1
    // truncated inside the storage data
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 5));
    expect(() => loadTensors(file)).toThrow(/legacy_view\.pt.*truncated.*byte offset \d+/);
  });
});

describe('the restricted unpickler', () => {
  it('refuses os.system (GLOBAL + REDUCE) and says untrusted checkpoints never run code', () => {
    const bytes = maliciousPickle();
    expect(() => unpickle(bytes)).toThrow(UnsafePickleError);
    expect(() => unpickle(bytes)).toThrow(/os\.system.*never run code/);
    const file = path.join(tmp, 'evil.pt');
    fs.writeFileSync(file, bytes);
    expect(() => loadTensors(file)).toThrow(/evil\.pt.*'os\.system'.*never run code/);
  });

  it('refuses other code-running globals, also via STACK_GLOBAL and inside a zip checkpoint', () => {
    for (const [m, n] of [['builtins', 'eval'], ['__builtin__', 'exec'], ['posix', 'system'], ['subprocess', 'Popen'], ['torch', 'load'], ['builtins', 'getattr']]) {
      const bytes = new Pickle().proto(2).global(m!, n!).str('x').op(0x85, 0x52, 0x2e).done();
      expect(() => unpickle(bytes), `${m}.${n}`).toThrow(/refusing to load global .* never run code/);
    }
    // protocol 4: SHORT_BINUNICODE module/name + STACK_GLOBAL
    const p4 = Buffer.from([0x80, 4, 0x8c, 8, ...Buffer.from('builtins'), 0x8c, 4, ...Buffer.from('eval'), 0x93,
      0x8c, 1, 0x31, 0x85, 0x52, 0x2e]);
    expect(() => unpickle(p4)).toThrow(/'builtins\.eval'/);
    const file = path.join(tmp, 'evil_zip.pt');
    fs.writeFileSync(file, makeZip([['archive/data.pkl', p4], ['archive/version', Buffer.from('3\n')]]));
    expect(() => loadTensors(file)).toThrow(/builtins\.eval.*never run code/);
  });

  it('handles protocol 4/5 opcodes: FRAME, MEMOIZE, LONG1, BINBYTES, sets, nested containers', () => {
    const body = Buffer.from([
      0x7d, 0x94, // EMPTY_DICT MEMOIZE(0)
      0x28, // MARK
      0x8c, 1, 0x61, 0x94, 0x8a, 2, 0x00, 0xff, // 'a': LONG1 -256
      0x8c, 1, 0x62, 0x43, 3, 1, 2, 3, // 'b': SHORT_BINBYTES
      0x8c, 1, 0x63, 0x8f, 0x28, 0x4b, 7, 0x4b, 8, 0x90, // 'c': EMPTY_SET MARK 7 8 ADDITEMS
      0x8c, 1, 0x64, 0x5d, 0x28, 0x88, 0x89, 0x4e, 0x65, // 'd': [True, False, None]
      0x8c, 1, 0x65, 0x68, 1, // 'e': BINGET 1 -> 'a'
      0x8c, 1, 0x66, 0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, // 'f': LONG1 2^64
      0x75, 0x2e, // SETITEMS STOP
    ]);
    const frame = Buffer.alloc(9); frame[0] = 0x95; frame.writeBigUInt64LE(BigInt(body.length), 1);
    const { value, protocol } = unpickle(Buffer.concat([Buffer.from([0x80, 5]), frame, body]));
    expect(protocol).toBe(5);
    const m = value as Map<string, unknown>;
    expect(m.get('a')).toBe(-256);
    expect([...(m.get('b') as Uint8Array)]).toEqual([1, 2, 3]);
    expect([...(m.get('c') as Set<number>)]).toEqual([7, 8]);
    expect(m.get('d')).toEqual([true, false, null]);
    expect(m.get('e')).toBe('a');
    expect(m.get('f')).toBe(1n << 64n);
  });

  it('reads plain-data objects (argparse.Namespace) and NumPy arrays/scalars pickled with protocol 2', () => {
    const p = new Pickle().proto(2).op(0x7d).mark();
    p.str('args').global('argparse', 'Namespace').op(0x29, 0x81).op(0x7d).str('size').int(1024).op(0x73, 0x62);
    // numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') + BUILD (1, (2,2), dtype('f4'), False, raw)
    const dtype = (t: string) => p.global('numpy', 'dtype').str(t).op(0x89, 0x88, 0x87, 0x52).mark()
      .int(3).str('<').op(0x4e, 0x4e, 0x4e).int(255).int(255).int(0).op(0x74, 0x62);
    p.str('arr').global('numpy.core.multiarray', '_reconstruct').global('numpy', 'ndarray').ints([0]);
    p.global('_codecs', 'encode').str('b').str('latin1').op(0x86, 0x52).op(0x87, 0x52);
    p.mark().int(1).ints([2, 2]); dtype('f4');
    p.op(0x89).global('_codecs', 'encode').str(f32([1, 2, 3, 4]).toString('latin1')).str('latin1').op(0x86, 0x52).op(0x74, 0x62);
    p.str('best').global('numpy.core.multiarray', 'scalar'); dtype('f8');
    p.global('_codecs', 'encode').str(f64([0.125]).toString('latin1')).str('latin1').op(0x86, 0x52).op(0x86, 0x52);
    p.op(0x75, 0x2e);
    const m = unpickle(p.done()).value as Map<string, unknown>;
    expect(m.get('args')).toBeInstanceOf(PyObject);
    expect((m.get('args') as PyObject).attrs!.get('size')).toBe(1024);
    expect(m.get('best')).toBe(0.125);
    const flat = flattenStateDict(m);
    expect(flat.get('arr')).toMatchObject({ dtype: 'F32', shape: [2, 2] });
    expect([...flat.get('arr')!.data]).toEqual([1, 2, 3, 4]);
  });

  it('reports truncated and corrupt streams with the byte offset', () => {
    const p = new Pickle().proto(2).op(0x7d).str('key').done(); // no value, no STOP
    expect(() => unpickle(p)).toThrow(PickleError);
    expect(() => unpickle(p, { file: 'x.pkl' })).toThrow(/x\.pkl: .*byte offset \d+.*ended before the STOP/);
    expect(() => unpickle(p.subarray(0, p.length - 2))).toThrow(/byte offset 3.*truncated/);
    expect(() => unpickle(Buffer.from([0x80, 2, 0xff, 0x2e]))).toThrow(/byte offset 2: unknown opcode 0xff/);
    expect(() => unpickle(Buffer.from([0x80, 2, 0x68, 9, 0x2e]))).toThrow(/byte offset 2: BINGET: memo key 9/);
  });
});

describe('corrupt and unsupported files', () => {
  it('truncated .pt (zip and legacy) give clear errors', () => {
    const zipBytes = fs.readFileSync(fixture('generator_small.pt'));
    const f1 = path.join(tmp, 'trunc.pt');
    fs.writeFileSync(f1, zipBytes.subarray(0, Math.floor(zipBytes.length * 0.6)));
    expect(() => loadTensors(f1)).toThrow(/trunc\.pt: corrupt or truncated zip archive: end-of-central-directory record not found/);
    const legacy = fs.readFileSync(fixture('generator_small_legacy.pt'));
    const f2 = path.join(tmp, 'trunc_legacy.pt');
    fs.writeFileSync(f2, legacy.subarray(0, Math.floor(legacy.length * 0.6)));
    expect(() => loadTensors(f2)).toThrow(/trunc_legacy\.pt: .*truncated.*byte offset \d+/);
    fs.writeFileSync(f2, legacy.subarray(0, 3000)); // inside the main pickle
    expect(() => loadTensors(f2)).toThrow(/trunc_legacy\.pt: corrupt or unsupported pickle at byte offset \d+: .*truncated/);
  });

  it('corrupt zip data and central directory give clear errors', () => {
    const bytes = Buffer.from(fs.readFileSync(fixture('generator_small.pt')));
    const zip = new ZipArchive(bytes, 'x');
    const e = zip.entries.get('generator_small/data/0')!;
    const start = e.localHeaderOffset + 30 + bytes.readUInt16LE(e.localHeaderOffset + 26) + bytes.readUInt16LE(e.localHeaderOffset + 28);
    const bad = Buffer.from(bytes);
    bad[start + 10] ^= 0x55;
    const f1 = path.join(tmp, 'bad_crc.pt');
    fs.writeFileSync(f1, bad);
    expect(() => loadTensors(f1)).toThrow(/bad_crc\.pt: corrupt or truncated zip archive: entry 'generator_small\/data\/0' fails its CRC-32 check/);
    const bad2 = Buffer.from(bytes);
    const eocd = bad2.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    const cdOffset = bad2.readUInt32LE(eocd + 16);
    bad2.writeUInt32LE(0xdeadbeef, cdOffset);
    const f2 = path.join(tmp, 'bad_cd.pt');
    fs.writeFileSync(f2, bad2);
    expect(() => loadTensors(f2)).toThrow(/bad_cd\.pt: corrupt or truncated zip archive: central directory entry 0 at offset \d+ has a bad signature/);
  });

  it('missing, empty and unknown files name the file and the supported formats', () => {
    const missing = path.join(tmp, 'nope.pt');
    expect(() => loadTensors(missing)).toThrow(/nope\.pt: file not found \(supported formats: PyTorch .*safetensors.*NumPy/);
    const empty = path.join(tmp, 'empty.pth');
    fs.writeFileSync(empty, '');
    expect(() => loadTensors(empty)).toThrow(/empty\.pth: file is empty.*PyTorch .*safetensors/);
    const junk = path.join(tmp, 'junk.safetensors');
    fs.writeFileSync(junk, 'hello world, this is not a checkpoint');
    expect(() => loadTensors(junk)).toThrow(/junk\.safetensors: unrecognised file format .*supported formats: PyTorch/);
    const otherZip = path.join(tmp, 'other.zip');
    fs.writeFileSync(otherZip, makeZip([['readme.txt', Buffer.from('hi')]]));
    expect(() => loadTensors(otherZip)).toThrow(/other\.zip: a zip archive that is neither a PyTorch checkpoint/);
    expect(detectFormat(Buffer.from([0x80, 2, 0x4b, 1, 0x2e]))).toBe('pytorch-legacy');
  });
});

describe('.npy / .npz', () => {
  it('reads the shipped editing directions age.npy and smile.npy (float64 18x512) as float32', () => {
    for (const name of ['age', 'smile']) {
      const file = repoFile(`pretrained/editing/${name}.npy`);
      const t = readNpy(file);
      expect(t, name).toMatchObject({ dtype: 'F64', shape: [18, 512] });
      const raw = fs.readFileSync(file);
      const start = 10 + raw.readUInt16LE(8);
      for (const i of [0, 1, 511, 512, 9215]) expect(t.data[i], `${name}[${i}]`).toBe(Math.fround(raw.readDoubleLE(start + 8 * i)));
      expect(t.data.some((v) => v !== 0), `${name}: all zeros`).toBe(true);
      const r = loadTensors(file);
      expect(r.format).toBe('npy');
      expect([...r.tensors.keys()]).toEqual([name]);
    }
  });

  it('round-trips float32 arrays of any rank, with a 64-byte aligned header', () => {
    for (const shape of [[2, 3, 4], [5], [], [0, 3]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i + 1) * 1e3);
      const file = path.join(tmp, `rt_${shape.join('x')}.npy`);
      writeNpy(file, { shape, data });
      const bytes = fs.readFileSync(file);
      expect((10 + bytes.readUInt16LE(8)) % 64).toBe(0);
      const back = readNpy(file);
      expect(back.shape).toEqual(shape);
      expect(back.dtype).toBe('F32');
      expect([...back.data]).toEqual([...data]);
    }
  });

  it('reads v2/v3 headers, big-endian and Fortran-ordered arrays; refuses structured dtypes', () => {
    const mk = (major: number, dict: string, data: Buffer) => npyBytes(dict, data, major);
    const be = Buffer.alloc(12); [1, 2, 3, 4, 5, 6].forEach((x, i) => be.writeInt16BE(x, i * 2));
    // Fortran order: column-major storage of [[1,2,3],[4,5,6]] is 1 4 2 5 3 6
    const fortran = Buffer.alloc(12); [1, 4, 2, 5, 3, 6].forEach((x, i) => fortran.writeInt16BE(x, i * 2));
    expect([...parseNpy(mk(2, "{'descr': '>i2', 'fortran_order': False, 'shape': (2, 3), }", be)).data]).toEqual([1, 2, 3, 4, 5, 6]);
    const t = parseNpy(mk(3, "{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }", fortran));
    expect(t.shape).toEqual([2, 3]);
    expect([...t.data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...parseNpy(mk(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", u16([0x3c00, 0xc400]))).data]).toEqual([1, -4]);
    expect(() => parseNpy(mk(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", f32([1, 2])), 's.npy'))
      .toThrow(/s\.npy: .*structured dtype/);
    expect(() => parseNpy(mk(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", Buffer.alloc(16)), 'o.npy'))
      .toThrow(/o\.npy: .*dtype '\|O' is not supported/);
    expect(() => parseNpy(serializeNpy({ shape: [4], data: new Float32Array(4) }).subarray(0, 70), 't.npy')).toThrow(/t\.npy: .*truncated/);
  });

  it('reads .npz archives (stored and deflated members)', () => {
    const a = serializeNpy({ shape: [2], data: Float32Array.from([1, 2]) });
    const b = serializeNpy({ shape: [1, 3], data: Float32Array.from([3, 4, 5]) });
    const file = path.join(tmp, 'arrays.npz');
    const zip = makeZip([['a.npy', a], ['b.npy', b]]);
    fs.writeFileSync(file, zip);
    const r = loadTensors(file);
    expect(r.format).toBe('npz');
    expect([...r.tensors.get('a')!.data]).toEqual([1, 2]);
    expect(r.tensors.get('b')!.shape).toEqual([1, 3]);
    // a deflated member: rewrite entry 'b.npy' with method 8
    const deflated = zlib.deflateRawSync(b);
    const z2 = makeZip([['a.npy', a], ['b.npy', deflated]]);
    const arc = new ZipArchive(z2, 'x');
    const e = arc.entries.get('b.npy')!;
    const crc = zlib.crc32(b) >>> 0;
    z2.writeUInt16LE(8, e.localHeaderOffset + 8);
    z2.writeUInt32LE(crc, e.localHeaderOffset + 14);
    z2.writeUInt32LE(b.length, e.localHeaderOffset + 22);
    const cd = z2.lastIndexOf(Buffer.from('b.npy')) - 46;
    z2.writeUInt16LE(8, cd + 10);
    z2.writeUInt32LE(crc, cd + 16);
    z2.writeUInt32LE(b.length, cd + 24);
    fs.writeFileSync(file, z2);
    expect([...loadTensors(file).tensors.get('b')!.data]).toEqual([3, 4, 5]);
  });
});
