// PSNR / SSIM parity with scikit-image (metrics.safetensors), edge cases, and the [-1, 1] -> uint8 conversion.
import { describe, it, expect } from 'vitest';
import { Tensor } from '../src/index.js';
import { psnr, ssim, tensorToImage, tensorToImages, unitToUint8, describeMetricConventions, type ImageLike } from '../src/metrics/index.js';
import { loadFixture, fixtureCases, get, rng } from './helpers.js';

function randomImage(h: number, w: number, c: number, seed: number): ImageLike {
  const r = rng(seed);
  return { data: Float64Array.from({ length: h * w * c }, () => Math.floor(r() * 256)), shape: [h, w, c] };
}

describe('metrics.safetensors parity (scikit-image, float64)', () => {
  const f = loadFixture('metrics.safetensors');
  const meta = fixtureCases<{ model: Record<string, string> }>(f).model;
  const ids = [...f.tensors.keys()].filter((k) => k.endsWith('.a')).map((k) => k.slice(0, -2));

  it('has cases and the documented conventions', () => {
    expect(ids.length).toBeGreaterThan(0);
    expect(meta.psnr).toMatch(/data_range 255/);
    expect(meta.ssim_gaussian).toMatch(/sigma 1\.5/);
    expect(meta.ssim_uniform7).toMatch(/7x7 uniform/);
  });

  for (const id of ids) {
    it(`case ${id}`, () => {
      const a = get(f, `${id}.a`), b = get(f, `${id}.b`);
      const want = { psnr: get(f, `${id}.psnr`).data[0]!, gaussian: get(f, `${id}.ssim_gaussian`).data[0]!, uniform7: get(f, `${id}.ssim_uniform7`).data[0]! };
      const got = {
        psnr: psnr(a, b, { dataRange: 255 }),
        gaussian: ssim(a, b, { window: 'gaussian', dataRange: 255 }),
        uniform7: ssim(a, b, { window: 'uniform7', dataRange: 255 }),
      };
      const err = (k: keyof typeof got) => Math.abs(got[k] - want[k]).toExponential(1);
      console.log(`metrics case ${id} [${a.shape.join('x')}]: psnr ${got.psnr.toFixed(4)} dB (|err| ${err('psnr')}), ` +
        `ssim gaussian ${got.gaussian.toFixed(5)} (|err| ${err('gaussian')}), uniform7 ${got.uniform7.toFixed(5)} (|err| ${err('uniform7')})`);
      expect(Math.abs(got.psnr - want.psnr)).toBeLessThanOrEqual(1e-3);
      expect(Math.abs(got.gaussian - want.gaussian)).toBeLessThanOrEqual(1e-4);
      expect(Math.abs(got.uniform7 - want.uniform7)).toBeLessThanOrEqual(1e-4);
      // Defaults: MAX 255, the Gaussian window.
      expect(psnr(a, b)).toBe(got.psnr);
      expect(ssim(a, b)).toBe(got.gaussian);
    });
  }
});

describe('metric edge cases', () => {
  const a = randomImage(20, 24, 3, 1);
  const b = randomImage(20, 24, 3, 2);

  it('identical images: PSNR Infinity, SSIM 1', () => {
    expect(psnr(a, a)).toBe(Infinity);
    expect(ssim(a, a)).toBeCloseTo(1, 12);
    expect(ssim(a, a, { window: 'uniform7' })).toBeCloseTo(1, 12);
  });

  it('symmetric; PSNR equals [-1, 1] data with MAX 2; SSIM is scale- but not shift-invariant', () => {
    expect(ssim(a, b)).toBeCloseTo(ssim(b, a), 12);
    const map = (x: ImageLike, fn: (v: number) => number): ImageLike => ({ data: Float64Array.from(x.data as Float64Array, fn), shape: x.shape });
    const toUnit = (v: number) => v / 127.5 - 1;
    expect(psnr(map(a, toUnit), map(b, toUnit), { dataRange: 2 })).toBeCloseTo(psnr(a, b), 9);
    expect(ssim(map(a, (v) => v / 255), map(b, (v) => v / 255), { dataRange: 1 })).toBeCloseTo(ssim(a, b), 9);
    // The luminance term depends on the mean: SSIM of [-1, 1] data is not SSIM of the 8-bit images.
    expect(Math.abs(ssim(map(a, toUnit), map(b, toUnit), { dataRange: 2 }) - ssim(a, b))).toBeGreaterThan(1e-3);
  });

  it('grey H x W images equal a one-channel image', () => {
    const g = randomImage(16, 16, 1, 3), h = randomImage(16, 16, 1, 4);
    expect(ssim({ data: g.data, shape: [16, 16] }, { data: h.data, shape: [16, 16] })).toBe(ssim(g, h));
  });

  it('PSNR accepts plain arrays of any shape', () => {
    expect(psnr([0, 0, 0, 0], [0, 0, 0, 255])).toBeCloseTo(10 * Math.log10(4), 12);
  });

  it('throws clear errors', () => {
    const small = randomImage(20, 23, 3, 5);
    expect(() => psnr(a, small)).toThrow(/psnr: images have different shapes \[20, 24, 3\] and \[20, 23, 3\]/);
    expect(() => ssim(a, small)).toThrow(/ssim: images have different shapes/);
    expect(() => psnr([1, 2], [1, 2, 3])).toThrow(/different shapes/);
    expect(() => ssim(randomImage(10, 10, 3, 6), randomImage(10, 10, 3, 7))).toThrow(/smaller than the 11 x 11 'gaussian' window/);
    expect(ssim(randomImage(10, 10, 3, 6), randomImage(10, 10, 3, 7), { window: 'uniform7' })).toBeLessThan(1);
    expect(() => ssim(a, b, { window: 'box' as never })).toThrow(/window must be/);
    expect(() => ssim({ data: [1], shape: [1, 1, 1, 1] }, { data: [1], shape: [1, 1, 1, 1] })).toThrow(/H x W or H x W x C/);
    expect(() => psnr({ data: [1, 2], shape: [3] }, { data: [1, 2], shape: [3] })).toThrow(/needs 3 values/);
    expect(() => psnr(a, b, { dataRange: 0 })).toThrow(/dataRange/);
  });

  it('describes its conventions', () => {
    expect(describeMetricConventions('gaussian')).toMatch(/11x11 Gaussian.*sigma 1\.5.*K1 0\.01, K2 0\.03/);
    expect(describeMetricConventions('uniform7')).toMatch(/7x7 uniform/);
  });
});

describe('[-1, 1] C x H x W -> uint8 H x W x C (pSp tensor2im)', () => {
  it('clamps, scales in float32 and truncates like numpy astype(uint8)', () => {
    expect(unitToUint8(-1)).toBe(0);
    expect(unitToUint8(1)).toBe(255);
    expect(unitToUint8(0)).toBe(127); // 127.5 truncated
    expect(unitToUint8(0, 'round')).toBe(128);
    expect(unitToUint8(3)).toBe(255);
    expect(unitToUint8(-7)).toBe(0);
    expect(unitToUint8(Number.NaN)).toBe(0);
    // float32: (x + 1) / 2 * 255 for x = float32(2 * 100 / 255 - 1) lands on 100 exactly or just below.
    const x = Math.fround((2 * 100) / 255 - 1);
    const ref = Math.trunc(Math.fround(Math.fround(Math.fround(x + 1) / 2) * 255));
    expect(unitToUint8(x)).toBe(ref);
  });

  it('reorders C x H x W to H x W x C', () => {
    // 2 channels, 1 x 3 pixels
    const img = tensorToImage({ data: [-1, 0, 1, 1, 1, -1], shape: [2, 1, 3] });
    expect(img.shape).toEqual([1, 3, 2]);
    expect(Array.from(img.data)).toEqual([0, 255, 127, 255, 255, 0]);
  });

  it('converts a core Tensor batch', () => {
    const t = Tensor.fromArray([-1, 1, 0, 0.5, 1, -1, -0.5, 0], [2, 1, 2, 2]);
    const imgs = tensorToImages(t, { rounding: 'round' });
    expect(imgs.length).toBe(2);
    expect(imgs[0]!.shape).toEqual([2, 2, 1]);
    expect(Array.from(imgs[0]!.data)).toEqual([0, 255, 128, 191]);
    expect(Array.from(imgs[1]!.data)).toEqual([255, 0, 64, 128]);
    expect(() => tensorToImage(t)).toThrow(/C x H x W/);
    t.release();
  });
});
