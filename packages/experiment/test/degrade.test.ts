// Restoration/translation tasks: each degradation's properties, its seeding, paired folders, and
// the config's task section (unknown kinds and bad ranges named by key).
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng, Tensor } from '@sgi/core';
import {
  ConfigError, TaskSchema, degrade, degradeSeeds, downUp, evalDegradeSeeds, fixedSide, inpaintingRect, inpaintingSides, loadConfig, loadTaskImage, pairedFile, taskInput, taskOutput,
  writeImageGrid, xdogSketch, type Task,
} from '../src/index.js';
import { microConfig, tempDir } from './micro.js';

const S = 32;
const P = S * S;

/** n random images in [-1, 1] with no value exactly 0 (so a zeroed pixel is the rectangle's). */
function randomImages(n: number, seed = 1): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 3 * P);
  for (let i = 0; i < x.length; i++) {
    const v = 0.02 + 0.98 * rng.next();
    x[i] = rng.next() < 0.5 ? -v : v;
  }
  return x;
}

const task = (t: Record<string, unknown>): Task => TaskSchema.parse(t);
const std = (xs: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m += xs[i]!;
  m /= xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i]! - m) ** 2;
  return { mean: m, std: Math.sqrt(v / xs.length) };
};

describe('degradations', () => {
  it('colorization: every channel equals the 601 luma of the input', () => {
    const x = randomImages(3);
    const y = degrade(task({ kind: 'colorization' }), x, S, evalDegradeSeeds(3));
    for (let b = 0; b < 3; b++) {
      for (let i = 0; i < P; i++) {
        const o = b * 3 * P + i;
        expect(y[o]).toBe(y[o + P]);
        expect(y[o]).toBe(y[o + 2 * P]);
        expect(y[o]!).toBeCloseTo(0.299 * x[o]! + 0.587 * x[o + P]! + 0.114 * x[o + 2 * P]!, 6);
      }
    }
  });

  it('inpainting: exactly one rectangle per image set to 0, its sides within the bounds; the rest unchanged', () => {
    const t = task({ kind: 'inpainting', minSize: 0.2, maxSize: 0.45 });
    const [lo, hi] = inpaintingSides(S, 0.2, 0.45);
    expect([lo, hi]).toEqual([7, 14]);
    const n = 64;
    const x = randomImages(n, 5);
    const y = degrade(t, x, S, degradeSeeds(11, 3, n));
    const sides = new Set<number>();
    for (let b = 0; b < n; b++) {
      let x0 = S, y0 = S, x1 = -1, y1 = -1, zeros = 0;
      for (let yy = 0; yy < S; yy++) for (let xx = 0; xx < S; xx++) {
        const i = b * 3 * P + yy * S + xx;
        const z = [0, 1, 2].map((c) => y[i + c * P] === 0);
        expect(z[0] === z[1] && z[1] === z[2], 'a pixel is zero in every channel or in none').toBe(true);
        if (z[0]) {
          zeros++;
          x0 = Math.min(x0, xx); x1 = Math.max(x1, xx); y0 = Math.min(y0, yy); y1 = Math.max(y1, yy);
        } else {
          for (let c = 0; c < 3; c++) expect(y[i + c * P]).toBe(x[i + c * P]);
        }
      }
      const w = x1 - x0 + 1, h = y1 - y0 + 1;
      expect(zeros, 'the zeros fill one rectangle').toBe(w * h);
      for (const s of [w, h]) {
        expect(s).toBeGreaterThanOrEqual(lo);
        expect(s).toBeLessThanOrEqual(hi);
        sides.add(s);
      }
    }
    expect(sides.size, 'sides vary over the range').toBeGreaterThan(4);
  });

  it('super-resolution: factor 1 is the identity', () => {
    const x = randomImages(2);
    for (const up of ['bilinear', 'nearest'] as const) {
      for (const down of ['box', 'bilinear'] as const) {
        const y = degrade(task({ kind: 'super_resolution', factors: [1], down, up }), x, S, evalDegradeSeeds(2));
        expect(Buffer.from(y.buffer).equals(Buffer.from(x.buffer))).toBe(true);
      }
    }
  });

  it('super-resolution: factor k (box down, nearest up) is constant on k x k blocks, each the mean of its block', () => {
    const x = randomImages(2, 9);
    for (const k of [2, 4, 8, 16]) {
      const y = degrade(task({ kind: 'super_resolution', factors: [k], down: 'box', up: 'nearest' }), x, S, evalDegradeSeeds(2));
      for (let p = 0; p < 6; p++) {
        for (let by = 0; by < S / k; by++) for (let bx = 0; bx < S / k; bx++) {
          let mean = 0;
          for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) mean += x[p * P + (by * k + dy) * S + bx * k + dx]!;
          mean /= k * k;
          for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) expect(y[p * P + (by * k + dy) * S + bx * k + dx]!).toBeCloseTo(mean, 5);
        }
      }
    }
  });

  it('super-resolution with bilinear up is a low-pass: constants stay, the finest checkerboard goes, high frequencies fall', () => {
    const flat = new Float32Array(3 * P).fill(0.3);
    const yFlat = downUp(flat, S, [4], 'box', 'bilinear');
    for (const v of yFlat) expect(v).toBeCloseTo(0.3, 6);
    const checker = new Float32Array(3 * P);
    for (let c = 0; c < 3; c++) for (let yy = 0; yy < S; yy++) for (let xx = 0; xx < S; xx++) checker[c * P + yy * S + xx] = (xx + yy) % 2 ? 0.5 : -0.5;
    for (const down of ['box', 'bilinear'] as const) {
      for (const v of downUp(checker, S, [2], down, 'bilinear')) expect(Math.abs(v)).toBeLessThan(1e-6);
    }
    // energy of neighbour differences falls with the factor; the mean stays
    const x = randomImages(1, 4);
    const rough = (a: Float32Array) => { let e = 0; for (let i = 0; i < a.length - 1; i++) if ((i + 1) % S) e += (a[i + 1]! - a[i]!) ** 2; return e; };
    let last = rough(x);
    for (const k of [2, 4, 8]) {
      const y = downUp(x, S, [k], 'box', 'bilinear');
      expect(rough(y)).toBeLessThan(last);
      last = rough(y);
      expect(std(y).mean).toBeCloseTo(std(x).mean, 2);
    }
    expect(() => downUp(x, S, [3])).toThrow(/factor 3 does not divide the image size 32/);
  });

  it('denoise: the added noise has the drawn std over many pixels, zero mean, and sigma within its range', () => {
    const n = 8;
    const x = randomImages(n, 2);
    const y = degrade(task({ kind: 'denoise', sigma: [0.1, 0.1] }), x, S, degradeSeeds(0, 0, n));
    const d = y.map((v, i) => v - x[i]!);
    const s = std(d);
    expect(s.std).toBeGreaterThan(0.1 * 0.98);
    expect(s.std).toBeLessThan(0.1 * 1.02);
    expect(Math.abs(s.mean)).toBeLessThan(0.003);
    const z = degrade(task({ kind: 'denoise', sigma: [0.05, 0.3] }), x, S, degradeSeeds(0, 0, n));
    const per = Array.from({ length: n }, (_, b) => std(z.subarray(b * 3 * P, (b + 1) * 3 * P).map((v, i) => v - x[b * 3 * P + i]!)).std);
    for (const p of per) {
      expect(p).toBeGreaterThan(0.05 * 0.95);
      expect(p).toBeLessThan(0.3 * 1.05);
    }
    expect(Math.max(...per) - Math.min(...per), 'sigma varies per image').toBeGreaterThan(0.02);
  });

  it('the same seeds give the same output; another step, image or run seed another one; evaluation seeds are fixed', () => {
    const x = randomImages(4, 3);
    const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));
    for (const t of [task({ kind: 'inpainting' }), task({ kind: 'denoise' }), task({ kind: 'super_resolution', factors: [2, 4, 8, 16] })]) {
      const a = degrade(t, x, S, degradeSeeds(7, 100, 4));
      expect(same(a, degrade(t, x, S, degradeSeeds(7, 100, 4))), t.kind).toBe(true);
      const other = [degradeSeeds(7, 101, 4), degradeSeeds(8, 100, 4)];
      expect(other.some((s) => !same(a, degrade(t, x, S, s))), t.kind).toBe(true);
      if (t.kind !== 'super_resolution') for (const s of other) expect(same(a, degrade(t, x, S, s)), t.kind).toBe(false);
    }
    expect(new Set(degradeSeeds(7, 100, 4)).size).toBe(4);
    expect(degradeSeeds(7, 100, 4)).not.toEqual(degradeSeeds(7, 101, 4));
    expect(evalDegradeSeeds(5)).toEqual(evalDegradeSeeds(5));
    expect(evalDegradeSeeds(3, 2)).toEqual(evalDegradeSeeds(5).slice(2));
    // the input is never modified
    const copy = x.slice();
    degrade(task({ kind: 'inpainting' }), x, S, evalDegradeSeeds(4));
    expect(same(copy, x)).toBe(true);
  });

  it('a fixed level gives exactly the random degradation of every image whose seed draws that level', async () => {
    const n = 48;
    const x = randomImages(n, 9);
    const seeds = evalDegradeSeeds(n);
    const image = (y: Float32Array, b: number) => Buffer.from(y.buffer, y.byteOffset + b * 3 * P * 4, 3 * P * 4);
    // super-resolution: each image's random output is its output at exactly one factor, and every factor is drawn
    const sr = task({ kind: 'super_resolution', factors: [1, 2, 4, 8, 16] });
    const random = degrade(sr, x, S, seeds);
    const atFactor = sr.factors.map((factor) => degrade(sr, x, S, seeds, { factor }));
    const drawn = Array.from({ length: n }, (_, b) => sr.factors.filter((_, j) => image(atFactor[j]!, b).equals(image(random, b))));
    for (const d of drawn) expect(d.length).toBe(1);
    expect(new Set(drawn.map((d) => d[0])).size, 'every factor drawn').toBe(sr.factors.length);
    expect(Buffer.from((await taskInput(sr, x, S, seeds, {}, { factor: 4 })).buffer).equals(Buffer.from(atFactor[2]!.buffer)), 'taskInput passes the level on').toBe(true);
    // denoise: at the drawn sigma the same image; at another sigma the same noise, scaled
    const dn = task({ kind: 'denoise', sigma: [0.05, 0.25] });
    const noisy = degrade(dn, x, S, seeds);
    for (let b = 0; b < 6; b++) {
      const sigma = 0.05 + 0.2 * new Rng(seeds[b]!).next(); // the draw degrade() makes first
      const one = x.subarray(b * 3 * P, (b + 1) * 3 * P);
      expect(image(degrade(dn, one, S, [seeds[b]!], { sigma }), 0).equals(image(noisy, b))).toBe(true);
      const half = degrade(dn, one, S, [seeds[b]!], { sigma: sigma / 2 });
      for (let i = 0; i < 3 * P; i += 97) expect(half[i]! - one[i]!).toBeCloseTo((noisy[b * 3 * P + i]! - one[i]!) / 2, 5);
    }
    // inpainting: a square rectangle of the fixed side; where the random one was that square, the same image
    const ip = task({ kind: 'inpainting', minSize: 0.2, maxSize: 0.45 });
    const holes = degrade(ip, x, S, seeds);
    let squares = 0;
    for (const size of [0.25, 0.4]) {
      const side = fixedSide(size, S);
      const fixed = degrade(ip, x, S, seeds, { size });
      for (let b = 0; b < n; b++) {
        let zeros = 0;
        for (let i = b * 3 * P; i < (b * 3 + 1) * P; i++) if (fixed[i] === 0) zeros++;
        expect(zeros).toBe(side * side);
        const r = inpaintingRect(new Rng(seeds[b]!), S, 0.2, 0.45);
        if (r.w === side && r.h === side) {
          squares++;
          expect(image(fixed, b).equals(image(holes, b))).toBe(true);
        }
      }
    }
    expect(squares, 'some random rectangles were those squares').toBeGreaterThan(0);
  });

  it('a fixed level must belong to the task and take a valid value', async () => {
    const x = randomImages(1);
    const seeds = evalDegradeSeeds(1);
    expect(() => degrade(task({ kind: 'denoise' }), x, S, seeds, { factor: 2 })).toThrow('degrade: a fixed factor is a level of super_resolution, not of denoise');
    expect(() => degrade(task({ kind: 'colorization' }), x, S, seeds, { sigma: 0.1 })).toThrow('a fixed sigma is a level of denoise, not of colorization');
    expect(() => degrade(task({ kind: 'inpainting' }), x, S, seeds, { size: 1.5 })).toThrow('degrade: fixed size 1.5 is not a fraction of the side in (0, 1]');
    expect(() => degrade(task({ kind: 'super_resolution' }), x, S, seeds, { factor: 3 })).toThrow('super-resolution factor 3 does not divide the image size 32');
    expect(() => degrade(task({ kind: 'super_resolution' }), x, S, seeds, {} as never)).toThrow('degrade: a fixed level is one of {factor}, {sigma}, {size}, got {}');
    await expect(taskInput(task({ kind: 'sketch' }), x, S, seeds, {}, { size: 0.3 })).rejects.toThrow('a fixed size is a level of inpainting, not of sketch');
  });

  it('XDoG sketch: white on flat regions, dark lines at edges, gray in three channels, in [-1, 1]', () => {
    const x = new Float32Array(3 * P).fill(0.8);
    for (let c = 0; c < 3; c++) for (let yy = 8; yy < 24; yy++) for (let xx = 8; xx < 24; xx++) x[c * P + yy * S + xx] = -0.8;
    const y = xdogSketch(x, S);
    expect(y[2 * S + 2]).toBe(1);
    expect(y[16 * S + 16]).toBe(1);
    let darkOnEdge = 0;
    for (let yy = 8; yy < 24; yy++) darkOnEdge += y[yy * S + 8]! < 0 ? 1 : 0;
    expect(darkOnEdge).toBeGreaterThan(10);
    for (let i = 0; i < P; i++) {
      expect(y[i]).toBe(y[i + P]);
      expect(y[i]).toBe(y[i + 2 * P]);
      expect(y[i]!).toBeGreaterThanOrEqual(-1);
      expect(y[i]!).toBeLessThanOrEqual(1);
    }
    expect(degrade(task({ kind: 'sketch' }), x, S, [1])).toEqual(y);
  });

  it('segmentation has no degradation of its own: it needs the face world or a paired folder', async () => {
    await expect(taskInput(task({ kind: 'segmentation' }), randomImages(1), S, [1])).rejects.toThrow(/segmentation: label maps cannot be computed/);
  });

  it('paired folders: the file of the same name (or stem), flipped with its image; label maps read with nearest neighbours', async () => {
    const dir = tempDir('paired');
    fs.mkdirSync(path.join(dir, 'maps'));
    const seg = new Float32Array(3 * P);
    // two flat classes split off-centre: nearest keeps exactly those two colours at any size
    for (let yy = 0; yy < S; yy++) for (let xx = 0; xx < S; xx++) {
      const left = xx < 11;
      seg[yy * S + xx] = left ? 1 : -1;
      seg[P + yy * S + xx] = left ? -1 : 0.2549019753932953;
      seg[2 * P + yy * S + xx] = left ? -1 : 1;
    }
    await writeImageGrid(path.join(dir, 'maps', 'a.png'), [{ data: seg, offset: 0 }], S, 1);
    const t = task({ kind: 'segmentation', pairedPath: path.join(dir, 'maps') });
    expect(pairedFile(t, '/photos/a.jpg')).toBe(path.join(dir, 'maps', 'a.png'));
    expect(pairedFile(t, '/photos/b.jpg')).toBeNull();
    const half = await loadTaskImage(t, path.join(dir, 'maps', 'a.png'), 16);
    const colours = new Set<string>();
    for (let i = 0; i < 256; i++) colours.add([half[i], half[256 + i], half[512 + i]].map((v) => v!.toFixed(3)).join());
    expect(colours.size).toBe(2);
    const clean = randomImages(2);
    const input = await taskInput(t, clean, S, [1, 2], { files: ['/photos/a.jpg', '/x/a.png'], flips: [false, true] });
    const a = await loadTaskImage(t, path.join(dir, 'maps', 'a.png'), S);
    expect(Array.from(input.subarray(0, 3 * P))).toEqual(Array.from(a));
    for (let c = 0; c < 3; c++) for (let yy = 0; yy < S; yy++) for (let xx = 0; xx < S; xx++) {
      expect(input[3 * P + c * P + yy * S + xx]).toBe(a[c * P + yy * S + (S - 1 - xx)]);
    }
    await expect(taskInput(t, clean, S, [1, 2], { files: ['/photos/a.jpg', '/photos/missing.jpg'] })).rejects.toThrow(/no paired label map for \/photos\/missing\.jpg/);
  });
});

describe('the output of a task run', () => {
  it('colorization with keepLuminance: the input\'s luma exactly, the reconstruction\'s colour; otherwise the reconstruction itself', async () => {
    const clean = randomImages(2, 3), recon = randomImages(2, 4);
    const gray = await taskInput(task({ kind: 'colorization' }), clean, S, [1, 2]);
    const x = Tensor.fromArray(gray, [2, 3, S, S]), y = Tensor.fromArray(recon, [2, 3, S, S]);
    expect(taskOutput(task({ kind: 'colorization' }), x, y)).toBe(y);
    expect(taskOutput(task({ kind: 'denoise' }), x, y)).toBe(y);
    expect(taskOutput(undefined, x, y)).toBe(y);
    const out = taskOutput(task({ kind: 'colorization', keepLuminance: true }), x, y).toArray();
    let worstLuma = 0, worstColour = 0, moved = 0;
    for (let b = 0; b < 2; b++) for (let i = 0; i < P; i++) {
      const at = (a: Float32Array, c: number) => a[b * 3 * P + c * P + i]!;
      const luma = 0.299 * at(out, 0) + 0.587 * at(out, 1) + 0.114 * at(out, 2);
      worstLuma = Math.max(worstLuma, Math.abs(luma - at(gray, 0)));
      // the colour (differences between channels) is the reconstruction's
      worstColour = Math.max(worstColour, Math.abs((at(out, 0) - at(out, 1)) - (at(recon, 0) - at(recon, 1))), Math.abs((at(out, 2) - at(out, 1)) - (at(recon, 2) - at(recon, 1))));
      moved = Math.max(moved, Math.abs(at(out, 0) - at(recon, 0)));
    }
    expect(worstLuma).toBeLessThan(1e-5);
    expect(worstColour).toBeLessThan(1e-5);
    expect(moved, 'the output is not the reconstruction itself').toBeGreaterThan(0.1);
  });
});

describe('the task section of a config', () => {
  const dir = tempDir('taskcfg');
  const load = (name: string, t: unknown, extra: Record<string, unknown> = {}) => loadConfig(microConfig(dir, name, { data: { kind: 'facesjs' }, task: t, ...extra }));

  it('fills the defaults and keeps configs without a task as they were', () => {
    expect(load('sr', { kind: 'super_resolution' }).task).toEqual({ kind: 'super_resolution', factors: [1, 2, 4, 8, 16], down: 'box', up: 'bilinear' });
    expect(load('inp', { kind: 'inpainting' }).task).toEqual({ kind: 'inpainting', minSize: 0.25, maxSize: 0.5 });
    expect(load('den', { kind: 'denoise' }).task).toEqual({ kind: 'denoise', sigma: [0.05, 0.25] });
    expect(load('seg', { kind: 'segmentation' }).task).toEqual({ kind: 'segmentation', classes: 12 });
    expect('task' in loadConfig(microConfig(dir, 'plain'))).toBe(false);
  });

  it('rejects an unknown task and unknown keys, naming the key', () => {
    expect(() => load('u1', { kind: 'deblurring' })).toThrow(/u1\.yaml: invalid config[\s\S]*task\.kind: .*colorization/);
    expect(() => load('u2', { kind: 'colorization', strength: 2 })).toThrow(/task: unknown key\(s\) 'strength'/);
    expect(() => load('u3', { minSize: 0.1 })).toThrow(/task\.kind/);
  });

  it('rejects bad ranges, naming the key', () => {
    expect(() => load('r1', { kind: 'inpainting', minSize: 0 })).toThrow(/task\.minSize: .*0/);
    expect(() => load('r2', { kind: 'inpainting', maxSize: 1.5 })).toThrow(/task\.maxSize: .*1/);
    expect(() => load('r3', { kind: 'inpainting', minSize: 0.6, maxSize: 0.3 })).toThrow(/task\.maxSize: must be at least minSize/);
    expect(() => load('r4', { kind: 'denoise', sigma: [0.3, 0.1] })).toThrow(/task\.sigma: must be \[min, max\]/);
    expect(() => load('r5', { kind: 'denoise', sigma: [-0.1, 0.1] })).toThrow(/task\.sigma\.0: /);
    expect(() => load('r6', { kind: 'super_resolution', factors: [] })).toThrow(/task\.factors: /);
    expect(() => load('r7', { kind: 'super_resolution', factors: [2, 0] })).toThrow(/task\.factors\.1: /);
    expect(() => load('r8', { kind: 'super_resolution', factors: [2, 3, 64] })).toThrow(/task\.factors: 3, 64 do\(es\) not divide encoder\.inputSize 32/);
    expect(() => load('r9', { kind: 'segmentation', classes: 19 })).toThrow(/task\.classes: the face world's label maps have 12 classes/);
    expect(() => load('r10', { kind: 'segmentation', classes: 1 })).toThrow(/task\.classes: /);
  });

  it('paired folders: required for segmentation off the face world, refused in it, resolved and checked like other paths', () => {
    expect(() => loadConfig(microConfig(dir, 'p1', { task: { kind: 'segmentation' } }))).toThrow(/task\.pairedPath: segmentation needs label maps/);
    expect(() => load('p2', { kind: 'sketch', pairedPath: 'x' })).toThrow(/task\.pairedPath: face-world data/);
    fs.mkdirSync(path.join(dir, 'imgs'), { recursive: true });
    const f = microConfig(dir, 'p3', { data: { kind: 'folder', path: 'imgs' }, task: { kind: 'sketch', pairedPath: 'sketches' } });
    expect(() => loadConfig(f)).toThrow(/task\.pairedPath: .*sketches/);
    const c = loadConfig(f, { checkFiles: false });
    expect(c.task).toEqual({ kind: 'sketch', pairedPath: path.join(dir, 'sketches') });
    expect(() => load('p4', { kind: 'colorization' }, { kind: 'renderer', generator: { size: 32, input: 'facesjs', randomInit: true } })).toThrow(ConfigError);
  });
});
