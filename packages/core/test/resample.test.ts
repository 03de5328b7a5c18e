// Resample family: upfirdn2d and bilinear interpolation. Fixture parity (ops.safetensors),
// naive reference implementations (rosinality's upfirdn2d_native pipeline step by step,
// PyTorch's bilinear source-index rule), finite-difference gradchecks, bad input.
//
// Kernel scale (checked against the fixtures): the stored 'upfirdn2d.kernel' is rosinality's
// make_kernel([1, 3, 3, 1]), normalised to sum 1, WITHOUT the factor; 'kernel_scale' (4 for the
// up = 2 cases, as rosinality's Upsample / upsampling Blur use factor^2) must be multiplied in
// by the caller: ops.upfirdn2d uses its kernel argument as given.
import { describe, it, expect } from 'vitest';
import { Tensor, ops, tidy, native } from '../src/index.js';
import { loadFixture, fixtureCases, get, toTensor, expectClose, gradcheck, randTensor, relError, expectSameWithThreads } from './helpers.js';

type Case = Record<string, any> & { op: string; inputs: string[] };

/** rosinality's upfirdn2d_native, literally: zero insertion, pad/crop, conv2d with the flipped kernel, stride. */
function naiveUpfirdn(x: Tensor, k: Tensor, up: number, down: number, pad: number[]): { shape: number[]; data: Float32Array } {
  const [n, c, h, w] = x.shape as number[];
  const [x0, x1, y0, y1] = pad.length === 2 ? [pad[0]!, pad[1]!, pad[0]!, pad[1]!] : pad;
  const [kh, kw] = k.shape as number[];
  const xs = x.toArray(), ks = k.toArray();
  const uh = h! * up, uw = w! * up;
  const ph = uh + y0! + y1!, pw = uw + x0! + x1!;
  const ch = ph - kh! + 1, cw = pw - kw! + 1;
  const oh = Math.floor((ch - 1) / down) + 1, ow = Math.floor((cw - 1) / down) + 1;
  const out = new Float32Array(n! * c! * oh * ow);
  for (let pl = 0; pl < n! * c!; pl++) {
    // padded, upsampled plane
    const P = new Float64Array(ph * pw);
    for (let i = 0; i < h!; i++) {
      for (let j = 0; j < w!; j++) {
        const pi = i * up + y0!, pj = j * up + x0!;
        if (pi >= 0 && pi < ph && pj >= 0 && pj < pw) P[pi * pw + pj] = xs[pl * h! * w! + i * w! + j]!;
      }
    }
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let s = 0;
        for (let a = 0; a < kh!; a++) {
          for (let b = 0; b < kw!; b++) s += P[(i * down + a) * pw + j * down + b]! * ks[(kh! - 1 - a) * kw! + (kw! - 1 - b)]!;
        }
        out[pl * oh * ow + i * ow + j] = s;
      }
    }
  }
  return { shape: [n!, c!, oh, ow], data: out };
}

/** PyTorch's upsample_bilinear2d forward for an output size. */
function naiveBilinear(x: Tensor, oh: number, ow: number, align: boolean): Float32Array {
  const [n, c, h, w] = x.shape as number[];
  const xs = x.toArray();
  const tap = (dst: number, inn: number, out: number) => {
    const scale = align ? (out > 1 ? (inn - 1) / (out - 1) : 0) : inn / out;
    const src = Math.max(align ? scale * dst : scale * (dst + 0.5) - 0.5, 0);
    const i0 = Math.floor(src), i1 = i0 + (i0 < inn - 1 ? 1 : 0), l1 = src - i0;
    return { i0, i1, w0: 1 - l1, w1: l1 };
  };
  const out = new Float32Array(n! * c! * oh * ow);
  for (let pl = 0; pl < n! * c!; pl++) {
    for (let i = 0; i < oh; i++) {
      const th = tap(i, h!, oh);
      for (let j = 0; j < ow; j++) {
        const tw = tap(j, w!, ow);
        const at = (a: number, b: number) => xs[pl * h! * w! + a * w! + b]!;
        out[pl * oh * ow + i * ow + j] = th.w0 * (tw.w0 * at(th.i0, tw.i0) + tw.w1 * at(th.i0, tw.i1)) + th.w1 * (tw.w0 * at(th.i1, tw.i0) + tw.w1 * at(th.i1, tw.i1));
      }
    }
  }
  return out;
}

describe('resample: fixture parity (ops.safetensors)', () => {
  const f = loadFixture('ops.safetensors');
  const all = Object.entries(fixtureCases<Record<string, Case>>(f));
  const ups = all.filter(([, m]) => m.op === 'upfirdn2d');
  const bil = all.filter(([, m]) => m.op === 'interpolate_bilinear');

  it('has upfirdn2d and bilinear cases', () => {
    expect(ups.length).toBeGreaterThan(0);
    expect(bil.length).toBeGreaterThan(0);
  });

  for (const [name, meta] of ups) {
    it(`${name} (upfirdn2d up ${meta.up} down ${meta.down} pad ${JSON.stringify(meta.pad)}) forward and grad_x`, () => {
      tidy(() => {
        const stored = toTensor(get(f, meta.kernel));
        const kernel = ops.scale(stored, meta.kernel_scale ?? 1);
        const x = toTensor(get(f, `${name}.x`), true);
        const y = ops.upfirdn2d(x, kernel, { up: meta.up, down: meta.down, pad: meta.pad });
        expectClose(y, get(f, `${name}.out`), 1e-4, `${name} out`);
        y.backward(toTensor(get(f, `${name}.grad_out`)));
        expectClose(x.grad!, get(f, `${name}.grad_x`), 1e-3, `${name} grad_x`);
        x.grad!.release();
      });
    });
  }

  it('the stored kernel is normalised (sum 1) and equals firKernel2d([1, 3, 3, 1])', () => {
    const stored = get(f, ups[0]![1].kernel);
    expect(stored.data.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expectClose(ops.firKernel2d([1, 3, 3, 1]), stored, 1e-7, 'make_kernel');
  });

  it('kernel_scale is not folded into the stored kernel (the unscaled kernel misses the reference)', () => {
    const scaled = ups.filter(([, m]) => (m.kernel_scale ?? 1) !== 1);
    expect(scaled.length).toBeGreaterThan(0);
    for (const [name, meta] of scaled) {
      tidy(() => {
        const y = ops.upfirdn2d(toTensor(get(f, `${name}.x`)), toTensor(get(f, meta.kernel)), { up: meta.up, down: meta.down, pad: meta.pad });
        expect(relError(y.toArray(), get(f, `${name}.out`).data), name).toBeGreaterThan(0.1);
      });
    }
  });

  for (const [name, meta] of bil) {
    it(`${name} (bilinear to ${JSON.stringify(meta.size)}, align_corners ${meta.align_corners}) forward and grad_x`, () => {
      tidy(() => {
        const x = toTensor(get(f, `${name}.x`), true);
        const y = ops.interpolateBilinear(x, meta.size, { alignCorners: meta.align_corners });
        expectClose(y, get(f, `${name}.out`), 1e-4, `${name} out`);
        y.backward(toTensor(get(f, `${name}.grad_out`)));
        expectClose(x.grad!, get(f, `${name}.grad_x`), 1e-3, `${name} grad_x`);
        x.grad!.release();
      });
    });
  }
});

describe('resample: references and gradients', () => {
  const asym = Tensor.fromArray([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [3, 4]);

  it('upfirdn2d is a true convolution (rosinality flips the kernel before conv2d)', () => {
    // a delta at the top-left corner, padded by k-1, reproduces the kernel unflipped
    const x = Tensor.fromArray([1, 0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 3, 3]);
    const y = ops.upfirdn2d(x, asym, { pad: [3, 0, 2, 0] });
    expect(y.shape).toEqual([1, 1, 3, 3]);
    expect([...y.toArray()]).toEqual([1, 2, 3, 5, 6, 7, 9, 10, 11]);
  });

  it('upfirdn2d matches the literal upfirdn2d_native pipeline (asymmetric kernels, up/down, negative pads)', () => {
    const settings: [number, number, number[]][] = [
      [1, 1, [1, 2]], [2, 1, [2, 1]], [1, 2, [1, 1]], [2, 2, [0, 1]], [3, 1, [-1, 2]], [1, 3, [2, -1]],
      [2, 1, [1, 2, -1, 3]], [1, 1, [-1, -1, 2, 2]],
    ];
    for (const [i, [up, down, pad]] of settings.entries()) {
      const x = randTensor([2, 2, 7, 6], 50 + i);
      const ref = naiveUpfirdn(x, asym, up, down, pad);
      const y = ops.upfirdn2d(x, asym, { up, down, pad });
      expect(y.shape, `up ${up} down ${down} pad ${pad}`).toEqual(ref.shape);
      expectClose(y, ref.data, 1e-5, `up ${up} down ${down} pad ${pad}`);
      const k = ops.scale(asym, 1 / 78);
      gradcheck((t) => ops.upfirdn2d(t, k, { up, down, pad }), [x], { samples: 16 });
    }
  });

  it('bilinear matches PyTorch values and a naive reference, both align_corners modes', () => {
    const x = Tensor.fromArray([0, 1], [1, 1, 1, 2]);
    expectClose(ops.interpolateBilinear(x, [1, 4], { alignCorners: true }), new Float32Array([0, 1 / 3, 2 / 3, 1]), 1e-6, 'align');
    expectClose(ops.interpolateBilinear(x, [1, 4], { alignCorners: false }), new Float32Array([0, 0.25, 0.75, 1]), 1e-6, 'half-pixel');
    for (const align of [true, false]) {
      for (const [oh, ow] of [[9, 13], [3, 2], [1, 1], [5, 7], [12, 4]] as [number, number][]) {
        const t = randTensor([2, 3, 5, 7], 60 + oh);
        expectClose(ops.interpolateBilinear(t, [oh, ow], { alignCorners: align }), naiveBilinear(t, oh, ow, align), 1e-5, `${oh}x${ow} ${align}`);
      }
    }
  });

  it('bilinear gradients match finite differences (up, down, mixed)', () => {
    for (const align of [true, false]) {
      gradcheck((t) => ops.interpolateBilinear(t, [9, 13], { alignCorners: align }), [randTensor([2, 2, 5, 7], 70)]);
      gradcheck((t) => ops.interpolateBilinear(t, [3, 2], { alignCorners: align }), [randTensor([1, 3, 7, 5], 71)]);
      gradcheck((t) => ops.interpolateBilinear(t, [1, 6], { alignCorners: align }), [randTensor([1, 1, 3, 3], 72)]);
    }
  });

  it('gives the same results with 1 and 2 threads', () => {
    const x = randTensor([2, 3, 33, 29], 80);
    const k = ops.firKernel2d([1, 3, 3, 1], 4);
    expectSameWithThreads(x, () => [ops.upfirdn2d(x, k, { up: 2, pad: [2, 1] }), ops.upfirdn2d(x, k, { down: 2, pad: [1, 1] }),
      ops.interpolateBilinear(x, [64, 50]), ops.interpolateBilinear(x, [17, 40], { alignCorners: false })]);
  });
});

describe('resample: bad input', () => {
  it('names the op and the shapes', () => {
    const x = Tensor.zeros([1, 3, 4, 4]), k = ops.firKernel2d([1, 3, 3, 1]);
    expect(() => ops.upfirdn2d(Tensor.zeros([3, 4, 4]), k)).toThrow(/upfirdn2d: expected a 4-d input \[N, C, H, W\], got \[3, 4, 4\]/);
    expect(() => ops.upfirdn2d(x, Tensor.zeros([4]))).toThrow(/upfirdn2d: kernel must be 2-d \[kh, kw\], got \[4\]/);
    expect(() => ops.upfirdn2d(x, k, { pad: [-2, -1] })).toThrow(/upfirdn2d: kernel \[4, 4\] is larger than the input \[1, 3, 4, 4\] upsampled by 1 and padded by \[-2, -1, -2, -1\]/);
    expect(() => ops.upfirdn2d(x, k, { up: 0 })).toThrow(/upfirdn2d: up \(0\) and down \(1\) must be positive integers/);
    expect(() => ops.upfirdn2d(x, k, { pad: [1, 2, 3] })).toThrow(/upfirdn2d: pad must be 2 integers/);
    expect(() => ops.interpolateBilinear(Tensor.zeros([4, 4]), [8, 8])).toThrow(/interpolateBilinear: expected a 4-d input .*got \[4, 4\]/);
    expect(() => ops.interpolateBilinear(x, [0, 8])).toThrow(/interpolateBilinear: size must be 2 positive integers \[outH, outW\], got \[0, 8\] \(input \[1, 3, 4, 4\]\)/);
    expect(() => ops.firKernel2d([])).toThrow(/firKernel2d/);
  });

  it('native glue rejects wrong storages, naming the function', () => {
    const x = Tensor.zeros([1, 1, 4, 4]), k = Tensor.zeros([3, 3]), y = Tensor.zeros([1, 1, 4, 4]), bad = Tensor.zeros([5]);
    expect(() => native.upfirdn2dForward(x.storage, k.storage, bad.storage, 1, 4, 4, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1])).toThrow(/upfirdn2dForward: tensor 'y' has 5 elements, expected 16/);
    expect(() => native.upfirdn2dBackward(y.storage, bad.storage, x.storage, 1, 4, 4, [3, 3], [1, 1], [1, 1], [1, 1, 1, 1])).toThrow(/upfirdn2dBackward: tensor 'kernel' has 5 elements, expected 9/);
    expect(() => native.upfirdn2dForward(x.storage, k.storage, y.storage, 1, 4, 4, [3, 3], [1, 1], [1, 1], [1, 1])).toThrow(/upfirdn2dForward: argument 'pad' must have 4 integers/);
    expect(() => native.bilinear2dForward(x.storage, bad.storage, 1, 4, 4, 4, 4, true)).toThrow(/bilinear2dForward: tensor 'y' has 5 elements, expected 16/);
    expect(() => native.bilinear2dBackward(y.storage, x.storage, 1, 4, 4, 0, 4, true)).toThrow(/bilinear2dBackward: sizes must be positive/);
  });
});
