// Untrusted weight files cannot hang or exhaust the loaders (limits in src/io/limits.ts). Every
// malicious file is built here, in memory or under os.tmpdir(); every attack must fail in under a
// second with an error naming the file and what is wrong, growing the process's RSS by less than
// 200 MB. Legitimate sharing keeps working: tensors that share a storage share its memory.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {
  loadTensors, readTorchCheckpoint, parseTorchCheckpoint, flattenStateDict, toJsonable, PyObject,
  unpickle, parseSafetensors, parseNpy, serializeNpy, LOADER_LIMITS, type HostTensor,
} from '../src/io/index.js';
import { npyBytes } from './helpers.js';

let tmp = '';
beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-attacks-')); });
afterAll(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

const MB = 2 ** 20;

/** Runs `load`, which must throw an Error whose message matches `message`, within 1 s and 200 MB of RSS. */
function expectRefused(load: () => unknown, message: RegExp): void {
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  let error: unknown;
  try { load(); } catch (e) { error = e; }
  const ms = performance.now() - t0;
  const grown = process.memoryUsage().rss - rss0;
  expect(error, 'the load must fail').toBeInstanceOf(Error);
  expect((error as Error).message).toMatch(message);
  expect(ms, 'milliseconds to fail').toBeLessThan(1000);
  expect(grown, 'RSS growth in bytes').toBeLessThan(200 * MB);
}

/** Runs `load`, which must succeed within 1 s and 200 MB of RSS; returns its value. */
function expectCheap<T>(load: () => T): T {
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const value = load();
  expect(performance.now() - t0, 'milliseconds').toBeLessThan(1000);
  expect(process.memoryUsage().rss - rss0, 'RSS growth in bytes').toBeLessThan(200 * MB);
  return value;
}

const write = (name: string, bytes: Uint8Array): string => {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, bytes);
  return file;
};

// ---------------------------------------------------------------------------------------------
// A pickle writer (opcodes by name) and a zip writer with deflate, declared sizes and alignment.

class Pickle {
  private chunks: Buffer[] = [];
  private bytes: number[] = [];
  op(...b: number[]): this { for (const x of b) this.bytes.push(x); return this; }
  raw(b: Uint8Array): this { this.flush(); this.chunks.push(Buffer.from(b)); return this; }
  private flush(): void { if (this.bytes.length) { this.chunks.push(Buffer.from(this.bytes)); this.bytes = []; } }
  proto(): this { return this.op(0x80, 2); }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4); len.writeUInt32LE(b.length);
    return this.op(0x58, ...len).raw(b);
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n);
    if (n >= -(2 ** 31) && n < 2 ** 31) { const b = Buffer.alloc(4); b.writeInt32LE(n); return this.op(0x4a, ...b); }
    // LONG1: little-endian two's complement
    let v = BigInt(n);
    const out: number[] = [];
    do { out.push(Number(v & 0xffn)); v >>= 8n; } while (v !== 0n && v !== -1n);
    if ((out[out.length - 1]! & 0x80) !== (n < 0 ? 0x80 : 0)) out.push(n < 0 ? 0xff : 0);
    return this.op(0x8a, out.length, ...out);
  }
  global(module: string, name: string): this { return this.op(0x63).raw(Buffer.from(`${module}\n${name}\n`, 'latin1')); }
  mark(): this { return this.op(0x28); }
  ints(xs: number[]): this { this.mark(); for (const x of xs) this.int(x); return this.op(0x74); }
  put(i: number): this { const b = Buffer.alloc(4); b.writeUInt32LE(i); return this.op(0x72, ...b); }
  get(i: number): this { const b = Buffer.alloc(4); b.writeUInt32LE(i); return this.op(0x6a, ...b); }
  /** torch._utils._rebuild_tensor_v2(('storage', torch.<type>, key, location, numel), offset, size, stride, False, OrderedDict()) */
  tensor(storageType: string, key: string, numel: number, offset: number, size: number[], stride: number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', storageType).str(key).str('cpu').int(numel).op(0x74, 0x51);
    this.int(offset).ints(size).ints(stride).op(0x89).global('collections', 'OrderedDict').op(0x29, 0x52);
    return this.op(0x74, 0x52);
  }
  done(): Buffer { this.flush(); return Buffer.concat(this.chunks); }
}

interface ZipMember {
  name: string;
  data: Uint8Array;
  /** Store the bytes deflated (method 8). */
  deflate?: boolean;
  /** The uncompressed size written to the headers (default: the real one). */
  declaredSize?: number;
  /** The deflated payload to store as is (a hand-made bomb). */
  compressed?: Uint8Array;
  /** No bytes of its own: a directory entry pointing at the earlier member of this name. */
  aliasOf?: string;
}

/** A zip archive; every member's data starts 64-byte aligned (as PyTorch writes them). */
function makeZip(members: ZipMember[]): Buffer {
  const parts: Buffer[] = [], central: Buffer[] = [];
  const headers = new Map<string, Buffer>();
  let offset = 0;
  for (const m of members) {
    const name = Buffer.from(m.name, 'utf8');
    if (m.aliasOf) {
      central.push(headers.get(m.aliasOf)!.subarray(0, 28), Buffer.from([name.length, 0]), headers.get(m.aliasOf)!.subarray(30), name);
      continue;
    }
    const payload = Buffer.from(m.compressed ?? (m.deflate ? zlib.deflateRawSync(m.data) : m.data));
    const size = m.declaredSize ?? m.data.length;
    const crc = m.compressed ? 0 : zlib.crc32(m.data) >>> 0;
    const method = m.deflate || m.compressed ? 8 : 0;
    const pad = (64 - ((offset + 30 + name.length + 4) % 64)) % 64;
    const extra = Buffer.alloc(4 + pad);
    extra.writeUInt16LE(0x4246, 0); extra.writeUInt16LE(pad, 2); // a padding field, like PyTorch's 'FB'
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(method, 8); lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(payload.length, 18); lh.writeUInt32LE(size, 22); lh.writeUInt16LE(name.length, 26); lh.writeUInt16LE(extra.length, 28);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(method, 10); ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(payload.length, 20); ch.writeUInt32LE(size, 24); ch.writeUInt16LE(name.length, 28); ch.writeUInt32LE(offset, 42);
    parts.push(lh, name, extra, payload);
    central.push(ch, name);
    headers.set(m.name, ch);
    offset += 30 + name.length + extra.length + payload.length;
  }
  const cd = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0); eocd.writeUInt16LE(members.length, 8); eocd.writeUInt16LE(members.length, 10);
  eocd.writeUInt32LE(cd.length, 12); eocd.writeUInt32LE(offset, 16);
  // a fresh, unpooled buffer: byte 0 of the file is 8-byte aligned in memory
  const out = Buffer.from(new ArrayBuffer(offset + cd.length + 22));
  Buffer.concat([...parts, cd, eocd]).copy(out);
  return out;
}

const torchZip = (pkl: Buffer, storages: [string, Uint8Array][], extra: ZipMember[] = []): Buffer =>
  makeZip([{ name: 'a/data.pkl', data: pkl }, ...storages.map(([k, data]) => ({ name: `a/data/${k}`, data })), ...extra]);
const f32 = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);

/** A checkpoint {key: tensor} over one FloatStorage '0' of `numel` elements holding 0, 1, 2, ... */
function oneTensor(key: string, numel: number, offset: number, size: number[], stride: number[]): Buffer {
  const p = new Pickle().proto().op(0x7d).str(key).tensor('FloatStorage', '0', numel, offset, size, stride).op(0x73, 0x2e);
  return torchZip(p.done(), [['0', f32(Array.from({ length: Math.max(0, numel) }, (_, i) => i))]]);
}

/** Legacy format: magic, version, sys_info, main pickle, storage keys, then count + data per storage. */
function legacyFile(main: Buffer, keys: string[], data: Buffer): Buffer {
  const magic = new Pickle().proto().op(0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e).done();
  const version = new Pickle().proto().int(1001).op(0x2e).done();
  const sys = new Pickle().proto().op(0x7d).str('little_endian').op(0x88, 0x73, 0x2e).done();
  const k = new Pickle().proto().op(0x5d).mark();
  for (const key of keys) k.str(key);
  return Buffer.concat([magic, version, sys, main, k.op(0x65, 0x2e).done(), data]);
}
const i64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(n)); return b; };

// A deflate stream of 512 MiB of zeros in ~0.5 MB: 16 copies of a fully flushed 32 MiB segment.
let bomb = Buffer.alloc(0);
const BOMB_BYTES = 512 * MB;
beforeAll(() => {
  const segment = zlib.deflateRawSync(Buffer.alloc(32 * MB), { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
  bomb = Buffer.concat([...new Array<Buffer>(16).fill(segment), Buffer.from([0x03, 0x00])]);
});

// ---------------------------------------------------------------------------------------------

describe('PyTorch checkpoints: object graphs', () => {
  // d0 = {'w': tensor}; d(i) = {'x': [d(i-1)] * 4}, 40 levels: 4^40 paths to one tensor.
  const deepShared = (leaf: (p: Pickle) => void): Buffer => {
    const p = new Pickle().proto().op(0x7d);
    leaf(p);
    p.put(0).op(0x30);
    for (let i = 1; i <= 40; i++) {
      p.op(0x7d).str('x').op(0x5d).mark();
      for (let j = 0; j < 4; j++) p.get(i - 1);
      p.op(0x65, 0x73).put(i).op(0x30);
    }
    return torchZip(p.get(40).op(0x2e).done(), [['0', f32([7])]]);
  };

  it('a deep shared dict graph (the same dict 4 times per list, 40 levels) is loaded once and refused when named as a tree', () => {
    const file = write('deep_shared.pt', deepShared((p) => p.str('w').tensor('FloatStorage', '0', 1, 0, [1], [1]).op(0x73)));
    // the object itself is linear: every level refers to one shared dict
    const root = expectCheap(() => readTorchCheckpoint(file)) as Map<string, unknown[]>;
    const list = root.get('x')!;
    expect(list).toHaveLength(4);
    expect(list[1]).toBe(list[0]);
    expectRefused(() => loadTensors(file),
      /deep_shared\.pt: refusing to load: naming its tensors visits more than \d+ entries .*expands \(exponentially\) when walked as a tree/);
  });

  it('the same graph without tensors (options only) is refused too, and its metadata copy stays bounded', () => {
    const file = write('deep_opts.pt', deepShared((p) => p.str('lr').int(3).op(0x73)));
    expectRefused(() => loadTensors(file), /deep_opts\.pt: refusing to load: naming its tensors visits more than/);
    // toJsonable of such a graph (e.g. inside an argparse.Namespace) stops at its budget
    const root = readTorchCheckpoint(file);
    const ns = new PyObject('argparse.Namespace');
    ns.state = root;
    const json = expectCheap(() => JSON.stringify(toJsonable(ns)));
    expect(json.length).toBeLessThan(8 * LOADER_LIMITS.jsonBudget);
    expect(json).toContain('...');
  });

  it('a cyclic structure (a list that contains itself) is refused, naming the path', () => {
    const p = new Pickle().proto().op(0x7d).str('a').op(0x5d).put(0);
    p.tensor('FloatStorage', '0', 1, 0, [1], [1]).op(0x61).get(0).op(0x61, 0x73, 0x2e);
    const file = write('cyclic.pt', torchZip(p.done(), [['0', f32([1])]]));
    expectRefused(() => loadTensors(file), /cyclic\.pt: refusing to load: its object graph is cyclic: 'a\.1' contains itself/);
  });

  it('nesting 100000 lists deep is refused at the documented depth instead of overflowing the stack', () => {
    const n = 100_000;
    const p = new Pickle().proto().op(0x7d).str('a');
    for (let i = 0; i < n; i++) p.op(0x5d);
    p.tensor('FloatStorage', '0', 1, 0, [1], [1]);
    for (let i = 0; i < n; i++) p.op(0x61);
    const file = write('deep_nest.pt', torchZip(p.op(0x73, 0x2e).done(), [['0', f32([1])]]));
    expectRefused(() => loadTensors(file), /deep_nest\.pt: refusing to load: its objects nest deeper than 1000 levels \(at 'a\.0\.0\.0/);
  });
});

describe('PyTorch checkpoints: storages and views', () => {
  it('tensors sharing a float32 storage share its memory (views, no copy), zero-copy from the file when aligned', () => {
    const p = new Pickle().proto().op(0x7d).mark();
    p.str('a').tensor('FloatStorage', '0', 6, 0, [2, 3], [3, 1]);
    p.str('b').tensor('FloatStorage', '0', 6, 3, [3], [1]);
    p.str('t').tensor('FloatStorage', '0', 6, 0, [3, 2], [1, 3]); // a transpose: gathered
    p.str('h').tensor('HalfStorage', '1', 2, 0, [2], [1]);
    p.str('h1').tensor('HalfStorage', '1', 2, 1, [1], [1]);
    const half = Buffer.alloc(4); half.writeUInt16LE(0x3c00, 0); half.writeUInt16LE(0x4000, 2); // 1, 2
    const buf = torchZip(p.op(0x75, 0x2e).done(), [['0', f32([0, 1, 2, 3, 4, 5])], ['1', half]]);
    const t = flattenStateDict(parseTorchCheckpoint(buf, 'shared.pt').root);
    const [a, b, tr, h, h1] = ['a', 'b', 't', 'h', 'h1'].map((k) => t.get(k)!) as HostTensor[];
    expect([...b!.data]).toEqual([3, 4, 5]);
    expect([...tr!.data]).toEqual([0, 3, 1, 4, 2, 5]);
    expect(a!.data.buffer).toBe(buf.buffer); // the file's own bytes
    expect(b!.data.buffer).toBe(a!.data.buffer);
    expect(b!.data.byteOffset).toBe(a!.data.byteOffset + 12);
    a!.data[3] = 42;
    expect(b!.data[0]).toBe(42);
    expect(tr!.data.buffer).not.toBe(a!.data.buffer);
    // float16: decoded once, the copy shared by both tensors
    expect([...h!.data]).toEqual([1, 2]);
    expect(h1!.data.buffer).toBe(h!.data.buffer);
    expect([...h1!.data]).toEqual([2]);
  });

  it('1000 tensors over one 1 MiB storage take no extra memory', () => {
    const n = 2 ** 18; // 1 MiB of float32
    const p = new Pickle().proto().op(0x7d).mark();
    for (let i = 0; i < 1000; i++) p.str(`w${i}`).tensor('FloatStorage', '0', n, 0, [n], [1]);
    const file = write('views.pt', torchZip(p.op(0x75, 0x2e).done(), [['0', new Uint8Array(4 * n)]]));
    const r = expectCheap(() => loadTensors(file));
    expect(r.tensors.size).toBe(1000);
    expect(r.tensors.get('w999')!.data.buffer).toBe(r.tensors.get('w0')!.data.buffer);
  });

  it('a broadcast view of 2^28 elements over a 1-element storage is refused by the decode budget', () => {
    const file = write('broadcast.pt', oneTensor('w', 1, 0, [2 ** 28], [0]));
    expectRefused(() => loadTensors(file),
      /broadcast\.pt: refusing to load: gathering the non-contiguous view of storage '0' needs 1073741824 bytes, .*more than its limit of \d+ bytes/);
  });

  it('a view whose element count overflows (2^40 x 2^40) is refused naming the tensor', () => {
    const file = write('overflow.pt', oneTensor('layer.w', 1, 0, [2 ** 40, 2 ** 40], [0, 0]));
    expectRefused(() => loadTensors(file),
      /overflow\.pt: cannot read PyTorch checkpoint: tensor 'layer\.w' \(storage '0'\): size \[1099511627776, 1099511627776\] has more than 2\^53 elements/);
  });

  it('negative sizes, strides and offsets are refused with a message naming the tensor key', () => {
    expectRefused(() => loadTensors(write('neg_size.pt', oneTensor('model.w', 6, 0, [-2, 3], [3, 1]))),
      /neg_size\.pt: cannot read PyTorch checkpoint: tensor 'model\.w' \(storage '0'\): size \[-2, 3\] must hold non-negative integers/);
    expectRefused(() => loadTensors(write('neg_stride.pt', oneTensor('model.w', 6, 5, [2], [-1]))),
      /neg_stride\.pt: .*tensor 'model\.w' \(storage '0'\): stride \[-1\] must hold non-negative integers/);
    expectRefused(() => loadTensors(write('neg_offset.pt', oneTensor('model.w', 6, -4, [2], [1]))),
      /neg_offset\.pt: .*tensor 'model\.w' \(storage '0'\): storage offset -4 must be a non-negative integer/);
    expectRefused(() => loadTensors(write('neg_numel.pt', oneTensor('model.w', -5, 0, [2], [1]))),
      /neg_numel\.pt: .*tensor 'model\.w' \(storage '0'\): storage '0' declares -5 elements/);
  });

  it('a view that reaches past the end of its storage is refused naming the tensor key', () => {
    expectRefused(() => loadTensors(write('past_end.pt', oneTensor('enc.conv.weight', 6, 0, [4, 4], [4, 1]))),
      /past_end\.pt: .*tensor 'enc\.conv\.weight' \(storage '0'\): size \[4, 4\], stride \[4, 1\] at storage offset 0 reaches element 15 of storage '0', which has 6 elements/);
  });

  it('legacy format: negative view offsets and element counts are refused naming the tensor key', () => {
    const main = (view: [string, number, number] | null) => {
      const p = new Pickle().proto().op(0x7d).str('enc.w').global('torch._utils', '_rebuild_tensor_v2').mark();
      p.mark().str('storage').global('torch', 'FloatStorage').str('root').str('cpu').int(6);
      if (view) p.str(view[0]).int(view[1]).int(view[2]).op(0x87); else p.op(0x4e);
      return p.op(0x74, 0x51).int(0).ints([2]).ints([1]).op(0x89, 0x4e, 0x74, 0x52, 0x73, 0x2e).done();
    };
    const data = Buffer.concat([i64(6), Buffer.from(f32([1, 2, 3, 4, 5, 6]))]);
    expectRefused(() => loadTensors(write('legacy_view.pt', legacyFile(main(['v', -2, 3]), ['root'], data))),
      /legacy_view\.pt: .*tensor 'enc\.w' \(storage 'root'\): storage view of 'root' at offset -2 of 3 elements: both must be non-negative integers/);
    const negative = Buffer.concat([i64(-6), Buffer.from(f32([1, 2, 3, 4, 5, 6]))]);
    expectRefused(() => loadTensors(write('legacy_count.pt', legacyFile(main(null), ['root'], negative))),
      /legacy_count\.pt: .*storage 'root' \(used by tensor 'enc\.w'\) at byte offset \d+ holds -6 elements/);
  });
});

describe('zip bombs', () => {
  const pkl = new Pickle().proto().op(0x7d).str('w').tensor('FloatStorage', '0', 100, 0, [100], [1]).op(0x73, 0x2e).done();

  it('a storage entry declaring 400 bytes but inflating to 512 MiB fails after 400 bytes', () => {
    const file = write('bomb.pt', torchZip(pkl, [], [{ name: 'a/data/0', data: new Uint8Array(0), compressed: bomb, declaredSize: 400 }]));
    expect(bomb.length).toBeLessThan(2 * MB);
    expectRefused(() => loadTensors(file),
      /bomb\.pt: corrupt or truncated zip archive: entry 'a\/data\/0' inflates to more than the 400 bytes its directory entry declares/);
  });

  it('an entry declaring ~4 GiB is refused by the decode budget before inflating', () => {
    const file = write('bomb_declared.pt', torchZip(pkl, [], [{ name: 'a/data/0', data: new Uint8Array(0), compressed: bomb, declaredSize: 0xfffffff0 }]));
    expectRefused(() => loadTensors(file),
      /bomb_declared\.pt: refusing to load: zip entry 'a\/data\/0' \(deflated; its directory entry declares 4294967280 bytes\) needs 4294967280 bytes, .*more than its limit of \d+ bytes \(16 x the file's \d+ bytes/);
  });

  it('.npz members are bounded the same way (declared small, or declared as large as the bomb)', () => {
    const small = write('bomb_small.npz', makeZip([{ name: 'x.npy', data: new Uint8Array(0), compressed: bomb, declaredSize: 1000 }]));
    expectRefused(() => loadTensors(small), /bomb_small\.npz: .*entry 'x\.npy' inflates to more than the 1000 bytes its directory entry declares/);
    const honest = write('bomb_honest.npz', makeZip([{ name: 'x.npy', data: new Uint8Array(0), compressed: bomb, declaredSize: BOMB_BYTES }]));
    expectRefused(() => loadTensors(honest), /bomb_honest\.npz: refusing to load: zip entry 'x\.npy' .*declares 536870912 bytes.*more than its limit/);
  });

  it('2000 directory entries pointing at one 1 MiB .npy member are refused by the decode budget', () => {
    const member = serializeNpy({ shape: [MB / 4], data: new Float32Array(MB / 4) });
    const aliases = Array.from({ length: 2000 }, (_, i) => ({ name: `x${i}.npy`, data: new Uint8Array(0), aliasOf: 'x.npy' }));
    const file = write('aliases.npz', makeZip([{ name: 'x.npy', data: member }, ...aliases]));
    expectRefused(() => loadTensors(file), /aliases\.npz: refusing to load: decoding array 'x\d+\.npy' needs 1048576 bytes, .*more than its limit/);
  });

  it('honest deflated members still load', () => {
    const member = serializeNpy({ shape: [3], data: Float32Array.from([1, 2, 3]) });
    const file = write('ok.npz', makeZip([{ name: 'x.npy', data: member, deflate: true }]));
    expect([...loadTensors(file).tensors.get('x')!.data]).toEqual([1, 2, 3]);
  });
});

describe('the unpickler: big integers and copy bombs', () => {
  const long4 = (bytes: Uint8Array): Buffer => {
    const len = Buffer.alloc(4); len.writeInt32LE(bytes.length);
    return Buffer.concat([Buffer.from([0x80, 2, 0x8b]), len, bytes, Buffer.from([0x2e])]);
  };

  it('a 256 KiB LONG4 is refused in under a second (limit 4096 bytes)', () => {
    const big = new Uint8Array(256 * 1024); big[big.length - 1] = 0x80;
    expectRefused(() => unpickle(long4(big), { file: 'long.pkl' }),
      /long\.pkl: refusing to load: pickle at byte offset 2: LONG4: an integer of 262144 bytes is larger than the limit of 4096 bytes/);
  });

  it('LONG4 decodes in linear time: 256 KiB in under a second with the limit lifted, sign included', () => {
    const big = new Uint8Array(256 * 1024); big[big.length - 1] = 0x80; big[0] = 5;
    const { value } = expectCheap(() => unpickle(long4(big), { limits: { maxLongBytes: Infinity } }));
    expect(value).toBe(-(1n << BigInt(8 * big.length - 1)) + 5n);
    const at = new Uint8Array(4096).fill(0xff); // the largest allowed: -1
    expect(unpickle(long4(at)).value).toBe(-1);
  });

  it('a 100000-digit INT literal is refused (limit 4300 digits, as in Python)', () => {
    const text = Buffer.concat([Buffer.from([0x80, 2, 0x49]), Buffer.from('7'.repeat(100_000) + '\n'), Buffer.from([0x2e])]);
    expectRefused(() => unpickle(text, { file: 'int.pkl' }),
      /int\.pkl: refusing to load: pickle at byte offset 2: INT: an integer literal of 100000 characters has more than the limit of 4300 digits/);
    expect(unpickle(Buffer.concat([Buffer.from([0x80, 2, 0x49]), Buffer.from('-12345678901234567890\n'), Buffer.from([0x2e])])).value)
      .toBe(-12345678901234567890n);
  });

  it('bytes of one 1 MiB string, a thousand times over, hit the work budget', () => {
    const p = new Pickle().proto().global('_codecs', 'encode').put(0).op(0x30).str('a'.repeat(MB)).put(1).op(0x30);
    p.op(0x5d).mark();
    for (let i = 0; i < 1000; i++) p.get(0).get(1).str('latin1').op(0x86, 0x52);
    const bytes = p.op(0x65, 0x2e).done();
    expect(bytes.length).toBeLessThan(2 * MB);
    expectRefused(() => unpickle(bytes, { file: 'encode.pkl' }),
      /encode\.pkl: refusing to load: pickle at byte offset \d+: REDUCE: bytes from a string copies 1048576 values, .*more than its budget of \d+ \(16 x the stream's \d+ bytes/);
  });

  it('copies of one 10000-entry dict, five thousand times over, hit the work budget', () => {
    const p = new Pickle().proto().global('builtins', 'dict').put(0).op(0x30).op(0x7d).mark();
    for (let i = 0; i < 10_000; i++) p.int(i + 300).op(0x4e);
    p.op(0x75).put(1).op(0x30).op(0x5d).mark();
    for (let i = 0; i < 5000; i++) p.get(0).get(1).op(0x85, 0x52);
    expectRefused(() => unpickle(p.op(0x65, 0x2e).done(), { file: 'dicts.pkl' }),
      /dicts\.pkl: refusing to load: pickle at byte offset \d+: REDUCE: OrderedDict\(\.\.\.\) copies 10000 values/);
  });

  it('a pickled NumPy array with a negative shape is refused', () => {
    const p = new Pickle().proto().global('numpy.core.multiarray', '_reconstruct').global('numpy', 'ndarray').ints([0]);
    p.global('_codecs', 'encode').str('b').str('latin1').op(0x86, 0x52).op(0x87, 0x52);
    p.mark().int(1).ints([-1, -1]);
    p.global('numpy', 'dtype').str('f4').op(0x89, 0x88, 0x87, 0x52).mark().int(3).str('<').op(0x4e, 0x4e, 0x4e).int(255).int(255).int(0).op(0x74, 0x62);
    p.op(0x89).global('_codecs', 'encode').str(Buffer.from(f32([1])).toString('latin1')).str('latin1').op(0x86, 0x52).op(0x74, 0x62, 0x2e);
    expectRefused(() => unpickle(p.done(), { file: 'np.pkl' }),
      /np\.pkl: corrupt or unsupported pickle at byte offset \d+: BUILD: bad ndarray shape \(-1, -1\): sizes must be non-negative integers/);
  });
});

describe('safetensors', () => {
  const st = (header: Record<string, unknown>, data: Uint8Array): Buffer => {
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const len = Buffer.alloc(8); len.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([len, json, data]);
  };

  it('a negative shape is refused', () => {
    const file = write('neg.safetensors', st({ w: { dtype: 'F32', shape: [-1, -4], data_offsets: [0, 16] } }, new Uint8Array(16)));
    expectRefused(() => loadTensors(file), /neg\.safetensors: not a valid safetensors file: entry 'w' has shape \[-1,-4\]: sizes must be non-negative integers/);
  });

  it('non-integer shapes and offsets are refused', () => {
    expectRefused(() => parseSafetensors(st({ w: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, new Uint8Array(8)), 's.safetensors'),
      /s\.safetensors: .*entry 'w' has shape \["2"\]: sizes must be non-negative integers/);
    expectRefused(() => parseSafetensors(st({ w: { dtype: 'F32', shape: [1], data_offsets: [0.5, 4.5] } }, new Uint8Array(8)), 'o.safetensors'),
      /o\.safetensors: .*entry 'w' has data_offsets \[0\.5,4\.5\]: expected \[start, end\] with 0 <= start <= end/);
    expectRefused(() => parseSafetensors(st({ w: { dtype: 'F32', shape: [-4], data_offsets: [16, 0] } }, new Uint8Array(16)), 'r.safetensors'),
      /r\.safetensors: .*entry 'w' has shape \[-4\]/);
  });

  it('overlapping ranges are refused (500 entries over the same 1 MiB would decode 500 MiB)', () => {
    const header: Record<string, unknown> = {};
    for (let i = 0; i < 500; i++) header[`a${i}`] = { dtype: 'F32', shape: [MB / 4], data_offsets: [0, MB] };
    const file = write('overlap.safetensors', st(header, new Uint8Array(MB)));
    expectRefused(() => loadTensors(file),
      /overlap\.safetensors: not a valid safetensors file: entries 'a0' \(bytes \[0, 1048576\)\) and 'a1' \(bytes \[0, 1048576\)\) overlap/);
    const partial = st({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12));
    expectRefused(() => parseSafetensors(partial, 'p.safetensors'), /p\.safetensors: .*entries 'a' \(bytes \[0, 8\)\) and 'b' \(bytes \[4, 12\)\) overlap/);
  });

  it('offsets past the end of the data are refused', () => {
    const file = write('past.safetensors', st({ w: { dtype: 'F32', shape: [1000], data_offsets: [0, 4000] } }, new Uint8Array(16)));
    expectRefused(() => loadTensors(file), /past\.safetensors: not a valid safetensors file: entry 'w' has data_offsets \[0, 4000\] beyond the end of the data \(16 bytes/);
  });

  it('a header length larger than the file, or than the header limit, is refused', () => {
    const good = st({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4));
    const lying = Buffer.from(good); lying.writeBigUInt64LE(2n ** 63n, 0);
    expectRefused(() => parseSafetensors(lying, 'long.safetensors'), /long\.safetensors: not a valid safetensors file: header length \d+ exceeds the file size/);
    expectRefused(() => parseSafetensors(good, 'limit.safetensors', { maxSafetensorsHeader: 16 }),
      /limit\.safetensors: refusing to load: its safetensors header of \d+ bytes is larger than the limit of 16 bytes/);
    expect(parseSafetensors(good).tensors.get('w')!.shape).toEqual([1]);
  });

  it('__metadata__ must map names to strings', () => {
    expectRefused(() => parseSafetensors(st({ __metadata__: { a: { deep: [1] } } }, new Uint8Array(0)), 'm.safetensors'),
      /m\.safetensors: .*__metadata__ must map names to strings/);
  });
});

describe('.npy', () => {
  const npy = npyBytes;
  const dict = (shape: string) => `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;

  it('negative and non-integer shapes are refused', () => {
    expectRefused(() => parseNpy(npy(dict('(-1, 2)'), new Uint8Array(8)), 'neg.npy'),
      /neg\.npy: not a valid \.npy file: bad shape \[-1,2\]: sizes must be non-negative integers/);
    expectRefused(() => parseNpy(npy(dict('(2.5,)'), new Uint8Array(12)), 'frac.npy'),
      /frac\.npy: not a valid \.npy file: bad shape \[2\.5\]: sizes must be non-negative integers/);
    expectRefused(() => parseNpy(npy(dict('(0, 1152921504606846976)'), new Uint8Array(0)), 'huge.npy'),
      /huge\.npy: .*bad shape \[0,1152921504606847000\]: sizes must be non-negative integers below 2\^53/);
    expectRefused(() => parseNpy(npy(dict('(1073741824, 1073741824, 1073741824)'), new Uint8Array(0)), 'many.npy'),
      /many\.npy: .*shape \[1073741824, 1073741824, 1073741824\] has more than 2\^53 elements/);
  });

  it('data shorter than the shape claims is refused', () => {
    const file = write('short.npy', npy(dict('(1000, 1000)'), new Uint8Array(64)));
    expectRefused(() => loadTensors(file), /short\.npy: not a valid \.npy file: <f4 \[1000, 1000\] needs 4000000 data bytes but only 64 remain/);
  });

  it('a deeply nested header literal is refused instead of overflowing the stack', () => {
    const deep = `{'descr': '<f4', 'fortran_order': False, 'shape': ${'('.repeat(50_000)}`;
    expectRefused(() => parseNpy(npy(deep, new Uint8Array(0), 2), 'nest.npy'), /nest\.npy: not a valid \.npy file: header .*: literals nest deeper than 32 levels/);
  });

  it('a header larger than 64 KiB is refused', () => {
    const padded = dict('(1,)').replace('}', `${' '.repeat(MB)}}`);
    expectRefused(() => parseNpy(npy(padded, new Uint8Array(4), 2), 'big_header.npy'),
      /big_header\.npy: refusing to load: its \.npy header of \d+ bytes is larger than the limit of 65536 bytes/);
  });
});
