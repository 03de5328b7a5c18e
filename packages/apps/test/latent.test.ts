// The latent-space applications (the paper's Section 5) on the micro config: editing, directions,
// interpolation, style mixing and the animation writer. Exactness is checked bit for bit.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import {
  Inverter, absoluteStrengths, attributeDirection, directionFromImages, directionInfo, editCodes, editImage, fitLatentDirection,
  interpolateCodes, meanOverLayers, mixCodes, mixLayerIndex, parseStrengths, readLatent, writeAnimation, writeLatent, type Latent,
} from '../src/index.js';
import { bits, microSession } from './micro.js';

const N = 8, D = 16, S = 32;

describe('latent-space applications', () => {
  let dir: string;
  let inv: Inverter;
  let faces: string[];
  let imgs: Float32Array[];
  const latent = (data: Float32Array): Latent => ({ shape: [N, D], data });

  beforeAll(async () => {
    ({ dir, inv, faces, imgs } = await microSession('latent', 6));
  });
  afterAll(() => inv?.release());

  it('edit: strength 0 reproduces the plain inversion bit for bit; others move along the direction', () => {
    const plain = inv.invert(imgs[0]!);
    const dirData = new Float32Array(N * D).map((_, i) => Math.sin(i + 1));
    dirData[3] = -0; // a -0 component must not turn a -0 code value into +0 at strength 0
    const r = editImage(inv, imgs[0]!, latent(dirData), [-2, 0, 1.5]);
    expect(bits(r.code)).toEqual(bits(plain.codes));
    expect(bits(r.codes[1]!)).toEqual(bits(plain.codes));
    expect(bits(r.images[1]!)).toEqual(bits(plain.stages[plain.stages.length - 1]!));
    expect(bits(r.reconstruction)).toEqual(bits(plain.stages[plain.stages.length - 1]!));
    // W+ + s * direction, for every value
    for (const [k, s] of [[0, -2], [2, 1.5]] as const) {
      const want = plain.codes.map((c, i) => c + s * dirData[i]!);
      expect(bits(r.codes[k]!)).toEqual(bits(want));
    }
    expect(r.images[0]!).not.toEqual(r.images[1]!);
    // -0 in the code survives strength 0
    const neg0 = new Float32Array(N * D).fill(-0);
    expect(Object.is(editCodes(latent(neg0), latent(dirData), [0], inv)[0]![0], -0)).toBe(true);
  });

  it('edit refuses a direction or latent of the wrong shape, naming both shapes', () => {
    const code = latent(new Float32Array(N * D));
    expect(() => editCodes(code, { shape: [18, 512], data: new Float32Array(18 * 512) }, [1], inv, 'age.npy'))
      .toThrow(/age\.npy has shape \[18, 512\], but this generator's W\+ is \[8, 16\]/);
    expect(() => editCodes({ shape: [N, D + 1], data: new Float32Array(N * (D + 1)) }, code, [1], inv))
      .toThrow(/latent has shape \[8, 17\], but this generator's W\+ is \[8, 16\]/);
    expect(() => editImage(inv, imgs[0]!, { shape: [10, 64], data: new Float32Array(640) }, [1], 'glasses.npy'))
      .toThrow(/glasses\.npy has shape \[10, 64\], but this generator's W\+ is \[8, 16\]/);
    // the shipped face-world direction, read from its file, is refused by the micro generator
    const glasses = attributeDirection('glasses');
    expect(() => readLatent(glasses.file, inv)).toThrow(/glasses\.npy has shape \[10, 64\], but this generator's W\+ is \[8, 16\]/);
    expect(() => attributeDirection('wings')).toThrow(/no direction for attribute 'wings'.*glasses/);
  });

  it('edit strengths: parsed, and relative ones in units of the separation', () => {
    expect(parseStrengths('-3,-1.5,0,1.5,3')).toEqual([-3, -1.5, 0, 1.5, 3]);
    expect(() => parseStrengths('1,x')).toThrow(/'x' is not a number/);
    const glasses = attributeDirection('glasses');
    expect(glasses.separation).toBeGreaterThan(0);
    expect(absoluteStrengths([-1, 0, 2], true, glasses)).toEqual([-glasses.separation!, 0, 2 * glasses.separation!]);
    expect(absoluteStrengths([-1, 2], false, glasses)).toEqual([-1, 2]);
    expect(() => absoluteStrengths([1], true, { file: 'x.npy' })).toThrow(/separation/);
    // a direction written by `sgi directions` carries its separation in the JSON beside it
    const own = path.join(dir, 'mine.npy');
    fs.writeFileSync(path.join(dir, 'mine.json'), JSON.stringify({ separation: 0.25 }));
    expect(directionInfo(own).separation).toBe(0.25);
    expect(directionInfo(path.join(path.dirname(glasses.file), 'smile.npy')).separation).toBeGreaterThan(0);
  });

  it('directions: separable codes give accuracy 1 and a direction from negative to positive', () => {
    // codes whose layer average differs along a known axis (plus noise in the other dimensions)
    let seed = 1;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const axis = new Float32Array(D).map((_, d) => (d === 5 ? 0.8 : d === 9 ? -0.6 : 0));
    const make = (side: number) => latent(new Float32Array(N * D).map((_, i) => 0.3 * rnd() + side * axis[i % D]!));
    const pos = Array.from({ length: 12 }, () => make(1));
    const neg = Array.from({ length: 12 }, () => make(-1));
    for (const space of ['w', 'wplus'] as const) {
      const d = fitLatentDirection(pos, neg, inv, { space });
      expect(d.accuracy).toBe(1);
      expect(d.separation).toBeGreaterThan(0);
      expect([d.positives, d.negatives, d.count]).toEqual([12, 12, 24]);
      expect(d.direction.length).toBe(N * D);
      let dot = 0;
      for (let i = 0; i < N * D; i++) dot += d.direction[i]! * axis[i % D]!;
      expect(dot, space).toBeGreaterThan(0);
      if (space === 'w') for (let l = 1; l < N; l++) expect(Array.from(d.direction.subarray(l * D, (l + 1) * D))).toEqual(Array.from(d.direction.subarray(0, D)));
      // swapping the folders flips it
      const flipped = fitLatentDirection(neg, pos, inv, { space });
      let cos = 0;
      for (let i = 0; i < N * D; i++) cos += d.direction[i]! * flipped.direction[i]!;
      expect(cos).toBeLessThan(0);
    }
    expect(() => fitLatentDirection([{ shape: [18, 512], data: new Float32Array(18 * 512) }], neg, inv))
      .toThrow(/positive code 0 has shape \[18, 512\], but this generator's W\+ is \[8, 16\]/);
  });

  it('directions: fitted on two folders of images, pointing from the negative folder to the positive one', async () => {
    const a = path.join(dir, 'pos'), b = path.join(dir, 'neg');
    fs.mkdirSync(a); fs.mkdirSync(b);
    faces.slice(0, 3).forEach((f) => fs.copyFileSync(f, path.join(a, path.basename(f))));
    faces.slice(3).forEach((f) => fs.copyFileSync(f, path.join(b, path.basename(f))));
    const d = await directionFromImages(inv, a, b);
    expect(d.accuracy).toBe(1);
    expect([d.positives, d.negatives]).toEqual([3, 3]);
    const mean = (idx: number[]) => {
      const m = new Float64Array(D);
      for (const i of idx) meanOverLayers(inv.invert(imgs[i]!).codes, inv).forEach((v, k) => (m[k] += v / idx.length));
      return m;
    };
    const mp = mean([0, 1, 2]), mn = mean([3, 4, 5]);
    let dot = 0;
    for (let k = 0; k < D; k++) dot += d.direction[k]! * (mp[k]! - mn[k]!);
    expect(dot).toBeGreaterThan(0);
    expect(dot).toBeCloseTo(d.separation, 4);
  });

  it('interpolate: lambda 0 and 1 reproduce A and B bit for bit, in between is the blend', () => {
    const A = inv.invert(imgs[0]!), B = inv.invert(imgs[1]!);
    const r = interpolateCodes(latent(A.codes), latent(B.codes), 5, inv);
    expect(r.lambdas).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(bits(r.codes[0]!)).toEqual(bits(A.codes));
    expect(bits(r.codes[4]!)).toEqual(bits(B.codes));
    expect(bits(inv.synthesize(r.codes[0]!))).toEqual(bits(A.stages[A.stages.length - 1]!));
    expect(bits(inv.synthesize(r.codes[4]!))).toEqual(bits(B.stages[B.stages.length - 1]!));
    expect(bits(r.codes[2]!)).toEqual(bits(A.codes.map((a, i) => 0.5 * B.codes[i]! + 0.5 * a)));
    expect(() => interpolateCodes(latent(A.codes), { shape: [1, N, D + 2], data: new Float32Array(N * (D + 2)) }, 3, inv))
      .toThrow(/latent B has shape \[1, 8, 18\], but this generator's W\+ is \[8, 16\]/);
    expect(() => interpolateCodes(latent(A.codes), latent(B.codes), 1, inv)).toThrow(/at least 2/);
  });

  it('mix: from 0 is the style, from nLatent the content, from the last index only the last layer changes', () => {
    const C = inv.invert(imgs[0]!), St = inv.invert(imgs[1]!);
    const last = (r: typeof C) => r.stages[r.stages.length - 1]!;
    const m0 = mixCodes(latent(C.codes), latent(St.codes), 0, inv);
    expect(bits(inv.synthesize(m0))).toEqual(bits(last(St)));
    const mN = mixCodes(latent(C.codes), latent(St.codes), N, inv);
    expect(bits(inv.synthesize(mN))).toEqual(bits(last(C)));
    const mL = mixCodes(latent(C.codes), latent(St.codes), N - 1, inv);
    for (let l = 0; l < N; l++) {
      const got = bits(mL.subarray(l * D, (l + 1) * D));
      const want = bits((l === N - 1 ? St : C).codes.subarray(l * D, (l + 1) * D));
      expect(got, `layer ${l}`).toEqual(want);
    }
    expect(bits(mL.subarray(0, (N - 1) * D))).not.toEqual(bits(St.codes.subarray(0, (N - 1) * D)));
    expect(bits(mL.subarray((N - 1) * D))).not.toEqual(bits(C.codes.subarray((N - 1) * D)));
    expect(() => mixCodes(latent(C.codes), { shape: [N + 1, D], data: new Float32Array((N + 1) * D) }, 3, inv))
      .toThrow(/style latent has shape \[9, 16\], but this generator's W\+ is \[8, 16\]/);
    expect(() => mixCodes(latent(C.codes), latent(St.codes), N + 1, inv)).toThrow(/outside 0\.\.8/);
  });

  it('mix: the layer index is scaled to the generator unless given exactly', () => {
    expect(mixLayerIndex(18, { from: 7 }).index).toBe(7);
    const scaled = mixLayerIndex(8, { from: 7 });
    expect(scaled.index).toBe(3); // round(7 * 8 / 18) = round(3.11)
    expect(scaled.reason).toMatch(/round\(7 \* 8 \/ 18\) = 3/);
    expect(mixLayerIndex(10).index).toBe(4); // the paper's 7 on the face world's 10 latents
    expect(mixLayerIndex(8, { from: 7, exact: 6 })).toMatchObject({ index: 6 });
    expect(() => mixLayerIndex(8, { exact: 9 })).toThrow(/outside 0\.\.8/);
  });

  it('codes round-trip through .npy with shape [nLatent, styleDim]', () => {
    const code = new Float32Array(N * D).map((_, i) => i / 7);
    const f = path.join(dir, 'code.npy');
    writeLatent(f, code, inv);
    expect(bits(readLatent(f, inv))).toEqual(bits(code));
    expect(fs.readFileSync(f).toString('latin1', 0, 80)).toContain("'shape': (8, 16)");
  });

  it('writeAnimation writes animated WebP and GIF with every frame', async () => {
    const frames = Array.from({ length: 5 }, (_, k) => new Uint8Array(S * S * 3).map((_, i) => (i * 3 + k * 50) % 256));
    for (const ext of ['webp', 'gif']) {
      const f = path.join(dir, `anim.${ext}`);
      await writeAnimation(f, frames, S, 120);
      const m = await sharp(f, { animated: true }).metadata();
      expect(m.format).toBe(ext);
      expect(m.pages).toBe(5);
      expect(m.pageHeight).toBe(S);
      expect(m.width).toBe(S);
      expect(m.delay).toEqual([120, 120, 120, 120, 120]);
      expect(m.loop).toBe(0);
    }
    await expect(writeAnimation(path.join(dir, 'a.png'), frames, S)).rejects.toThrow(/\.webp or \.gif/);
    await expect(writeAnimation(path.join(dir, 'a.gif'), [new Uint8Array(5)], S)).rejects.toThrow(/frame 0 has 5 bytes/);
  });
});
