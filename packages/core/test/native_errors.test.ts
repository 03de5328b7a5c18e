// Native addon hardening: absurd sizes and overflowing shapes throw JS errors naming the shape
// instead of wrapping around (a 2^62-element storage used to become a 0-byte block) or walking out
// of bounds, and C++ exceptions that are not Napi errors (std::bad_alloc, a CUDA check's
// std::runtime_error) reach JS instead of aborting Node. After every refusal the process lives
// on: a normal op still works and no storage leaked.
import { describe, it, expect, afterEach } from 'vitest';
import { native, type Storage } from '../src/index.js';

// debugThrow is a test-only entry point (napi/addon.cc), not part of the typed Native interface.
const addon = native as typeof native & { debugThrow(kind: string): never };
const cudaAvailable = native.info().cuda.available;

const f32 = (xs: number[]) => Float32Array.from(xs);
const held: Storage[] = [];
const hold = (s: Storage): Storage => { held.push(s); return s; };
const cpu = (n: number) => hold(new native.Storage(n, 0));
const from = (xs: number[]) => hold(native.fromArray(f32(xs), 0));
afterEach(() => { for (const s of held.splice(0)) s.release(); });

/** A normal op after a refusal: 3 * [1, 2] on the CPU; once the test's storages are released, none is left over. */
function expectAlive(liveBefore: number): void {
  for (const s of held.splice(0)) s.release();
  const x = native.fromArray(f32([1, 2]), 0), y = new native.Storage(2, 0);
  native.unaryForward(10 /* Scale */, x, y, 3);
  expect([...native.toArray(y)]).toEqual([3, 6]);
  x.release();
  y.release();
  expect(native.memory().liveStorages).toBe(liveBefore);
}

describe('absurd storage sizes', () => {
  it('a 2^62-element storage throws a RangeError (numel * 4 bytes would wrap to 0) and the process lives on', () => {
    const live = native.memory().liveStorages;
    expect(() => new native.Storage(2 ** 62, 0)).toThrow(RangeError);
    expect(() => new native.Storage(2 ** 62, 0)).toThrow(/Storage: numel must be an integer between 0 and 2\^53 - 1, got 4611686018427387904/);
    expectAlive(live);
  });

  it('numel beyond 2^64, NaN, infinite, negative and fractional counts are refused before any conversion', () => {
    const live = native.memory().liveStorages;
    for (const n of [2 ** 64, 2 ** 70, 2 ** 53, NaN, Infinity, -1, 1.5]) {
      expect(() => new native.Storage(n, 0), String(n)).toThrow(/Storage: numel must be an integer between 0 and 2\^53 - 1/);
    }
    expectAlive(live);
  });

  it('a count that fits but cannot be allocated (2^50 floats = 4 PiB) is a JS out-of-memory error', () => {
    const live = native.memory().liveStorages;
    expect(() => new native.Storage(2 ** 50, 0)).toThrow(/Storage: out of memory allocating 1125899906842624 float32 elements \(4503599627370496 bytes\) on cpu/);
    expectAlive(live);
  });

  it.runIf(cudaAvailable)('CUDA storages: 2^62 elements is refused, 2^50 is a JS error from cudaMalloc', () => {
    const live = native.memory().liveStorages;
    expect(() => new native.Storage(2 ** 62, 1)).toThrow(/Storage: numel must be an integer between 0 and 2\^53 - 1/);
    expect(() => new native.Storage(2 ** 50, 1)).toThrow(/CUDA error.*Storage of 1125899906842624 float32 elements/);
    expectAlive(live);
  });
});

describe('overflowing shapes and strided walks', () => {
  it('a strided walk whose extent wraps around int64 is refused, naming shape and strides', () => {
    const live = native.memory().liveStorages;
    // (4097 - 1) * 2^52 = 2^64 wraps to 0 in int64: the walk looked like it stayed on element 0 of
    // a 1-element storage, and the kernel then read 2^52 floats past it.
    const src = from([1]), dst = cpu(4097);
    expect(() => native.stridedCopy(src, 0, dst, 0, [4097], [2 ** 52], [1], false))
      .toThrow(/stridedCopy: src walk of shape \[4097\], strides \[4503599627370496\], offset 0 overflows/);
    expect(() => native.stridedCopy(src, 0, dst, 0, [4097], [1], [1], false))
      .toThrow(/stridedCopy: src walk of shape \[4097\], strides \[1\], offset 0 reaches element 4096 but the storage has 1 elements/);
    expectAlive(live);
  });

  it('a broadcast shape whose element count overflows is refused instead of matching a 0-element output', () => {
    const live = native.memory().liveStorages;
    // 2^32 * 2^32 = 2^64 wraps to 0, which an empty output storage used to match.
    const a = from([1]), out = cpu(0);
    expect(() => native.binaryForward(0, a, a, out, [2 ** 32, 2 ** 32], [0, 0], [0, 0]))
      .toThrow(/binaryForward: the walk of shape \[4294967296, 4294967296\] is too large: its element count overflows/);
    expect(() => native.sumReduce(cpu(0), cpu(1), [2 ** 32, 2 ** 32, 1], [1, 1, 0]))
      .toThrow(/sumReduce: x of shape \[4294967296, 4294967296, 1\] is too large/);
    expect(() => native.sumReduce(a, a, [-1, -1], [1, 1])).toThrow(/sumReduce: x of shape \[-1, -1\] has a negative dimension/);
    expectAlive(live);
  });

  it('kernel families check their products: conv2d, gemm, pooling, resampling, normalization', () => {
    const live = native.memory().liveStorages;
    const s = from([1]);
    const big = 2 ** 31 - 1;
    expect(() => native.conv2dForward(s, s, null, s, [big, big, big, big, 1, 1, 1, 1, 1, 0, 0, 1]))
      .toThrow(/conv2dForward: input x of shape \[2147483647, 2147483647, 2147483647, 2147483647\] is too large/);
    expect(() => native.gemm(s, s, s, 2 ** 40, 2 ** 40, 1, false, false, 1, 0)).toThrow(/gemm: .*of shape \[1099511627776, .*\] is too large/);
    expect(() => native.adaptiveAvgPool2dForward(s, s, 2 ** 32, 2 ** 16, 2 ** 16, [0, 0, 2 ** 16, 2 ** 16], [2 ** 16, 2 ** 16]))
      .toThrow(/adaptiveAvgPool2dForward: x of shape \[4294967296, 65536, 65536\] is too large/);
    expect(() => native.bilinear2dForward(s, s, 2 ** 32, 2 ** 32, 2 ** 32, 1, 1, false)).toThrow(/bilinear2dForward: x of shape \[4294967296, 4294967296, 4294967296\] is too large/);
    expect(() => native.pixelNormForward(s, s, s, 2 ** 32, 1, 2 ** 32, 1e-8)).toThrow(/pixelNormForward: x of shape \[4294967296, 1, 4294967296\] is too large/);
    expectAlive(live);
  });

  it('integer arguments must be exact JS integers; huge sparse arrays are refused before allocating', () => {
    const live = native.memory().liveStorages;
    const s = from([1]);
    expect(() => native.stridedCopy(s, 2 ** 64, s, 0, [1], [1], [1], false)).toThrow(/stridedCopy: argument 'srcOffset' must be an integer within/);
    expect(() => native.stridedCopy(s, 0, s, 0, [1], [NaN], [1], false)).toThrow(/stridedCopy: argument 'srcStrides' entry 0 must be an integer/);
    expect(() => native.sumReduce(s, s, new Array(2 ** 32 - 1), [])).toThrow(/sumReduce: argument 'shape' has 4294967295 entries/);
    expectAlive(live);
  });
});

describe('C++ exceptions become JS errors', () => {
  it('std::bad_alloc, std::runtime_error and non-std exceptions thrown inside a native function', () => {
    const live = native.memory().liveStorages;
    expect(() => addon.debugThrow('bad_alloc')).toThrow(/^debugThrow: out of memory \(a native allocation failed\)$/);
    expect(() => addon.debugThrow('runtime_error')).toThrow(/^debugThrow: CUDA error: out of memory \(simulated by debugThrow\)$/);
    expect(() => addon.debugThrow('other')).toThrow(/^debugThrow: unknown native exception$/);
    expect(() => addon.debugThrow('bad_alloc')).toThrow(Error);
    expectAlive(live);
  });
});
