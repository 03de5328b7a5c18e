// InterFaceGAN directions: the fitted normal recovers a known boundary, and the W+ direction has
// the generator's shape.
import { describe, it, expect } from 'vitest';
import * as path from 'node:path';
import { readNpy, Rng } from '@sgi/core';
import { fitDirection, wPlusDirection, writeDirection } from '../src/index.js';
import { tempDir } from './micro.js';

describe('editing directions', () => {
  it('logistic regression recovers the normal of a known boundary, with its separation', () => {
    const D = 8, n = 2000;
    const rng = new Rng(5);
    const truth = Float32Array.from({ length: D }, (_, d) => (d === 2 ? 0.8 : d === 5 ? -0.6 : 0));
    const codes = Float32Array.from(rng.randn([n * D]).toArray());
    // stretch one unrelated dimension: standardisation must not bend the normal
    for (let i = 0; i < n; i++) codes[i * D + 0] *= 10;
    const labels = Array.from({ length: n }, (_, i) => {
      let z = 0.3;
      for (let d = 0; d < D; d++) z += truth[d]! * codes[i * D + d]!;
      return z > 0 ? 1 : 0;
    });
    const fit = fitDirection(codes, labels, D);
    let cos = 0;
    for (let d = 0; d < D; d++) cos += fit.normal[d]! * truth[d]!;
    expect(cos).toBeGreaterThan(0.98);
    expect(Math.hypot(...fit.normal)).toBeCloseTo(1, 5);
    expect(fit.accuracy).toBeGreaterThan(0.97);
    expect(fit.separation).toBeGreaterThan(1); // the two classes' mean projections lie apart
    expect(() => fitDirection(codes, labels.map(() => 1), D)).toThrow(/all 2000 examples have label 1/);
    expect(() => fitDirection(codes.subarray(0, 10), labels, D)).toThrow(/10 code values for 2000 labels/);
  });

  it('a W+ direction repeats the normal on every layer and is written as .npy', () => {
    const normal = Float32Array.from([0.6, 0.8]);
    const d = wPlusDirection(normal, 3);
    expect(d.shape).toEqual([3, 2]);
    expect(Array.from(d.data)).toEqual([0.6, 0.8, 0.6, 0.8, 0.6, 0.8].map(Math.fround));
    const file = path.join(tempDir('dir'), 'glasses.npy');
    writeDirection(file, normal, 3);
    const back = readNpy(file);
    expect(back.shape).toEqual([3, 2]);
    expect(Array.from(back.data)).toEqual(Array.from(d.data));
  });
});
