// Face detection, 68 landmarks and FFHQ alignment (packages/apps/src/align):
// - the transform algebra: the FFHQ quad is a square, forward and inverse maps compose to the
//   identity, the alignment is equivariant under a similarity of the photo, warping then pasting
//   back restores the photo;
// - the engine port of face-api's tiny_face_detector + face_landmark_68 against the package's own
//   TFJS pipeline;
// - on the repository's FFHQ-aligned sample photos (data/faces, 256 px) re-alignment is nearly the
//   identity: eyes and mouth stay within 6 px of where they are;
// - a rotated (15°), shifted copy of a face on a larger canvas aligns to nearly the same crop
//   (PSNR > 20 dB at 256 px);
// - a picture without a face is reported (no face), not crashed on.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import {
  FaceLandmarker, alignFace, applyAffine, composeAffine, detectWithTfjs, ffhqQuad, ffhqTransform, invertAffine,
  pasteBack, psnr8, readRgb, runAlign, warpAffine, type Affine, type Point, type RgbImage,
} from '../src/align/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const FACES = ['000001', '000002', '000003', '000004', '000005', '000006'].map((n) => path.join(repo, 'data/faces', `${n}.png`));

/** Re-aligning an aligned 256 px face moves its eyes and mouth by at most this many pixels. */
const IDENTITY_TOL_PX = 6;
/** ...and the re-alignment's scale and rotation stay this close to 1 and 0. */
const SCALE_TOL = 0.08, ROTATION_TOL_DEG = 3;
/** The rotated, shifted copy aligns to the same crop within this PSNR (256 px). */
const ROTATED_PSNR_DB = 20;
/** The engine port's landmarks agree with the package's TFJS pipeline within this (image px). */
const BACKEND_TOL_PX = 1.5;

/** 68 landmarks of a plausible frontal face (eyes 64 px apart around (128, 120), mouth at y 185). */
function syntheticLandmarks(): Point[] {
  const pts: Point[] = [];
  for (let i = 0; i < 68; i++) pts.push([60 + (i * 37) % 140, 60 + (i * 53) % 150]);
  const eye = (cx: number, cy: number, from: number) => { for (let k = 0; k < 6; k++) pts[from + k] = [cx + 12 * Math.cos((k * Math.PI) / 3), cy + 5 * Math.sin((k * Math.PI) / 3)]; };
  eye(96, 120, 36);
  eye(160, 120, 42);
  pts[48] = [105, 185];
  pts[54] = [151, 185];
  return pts;
}

function randomImage(w: number, h: number, seed: number): RgbImage {
  // smooth random content (a sum of a few waves) so bilinear resampling is accurate
  const data = new Uint8Array(w * h * 3);
  let s = seed;
  const r = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const waves = Array.from({ length: 9 }, () => [r() * 0.2, r() * 0.2, r() * 6.28]);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
    let v = 0;
    for (let k = 0; k < 3; k++) { const [fx, fy, ph] = waves[c * 3 + k]!; v += Math.sin(fx! * x + fy! * y + ph!); }
    data[(y * w + x) * 3 + c] = Math.round(127.5 + 40 * v);
  }
  return { width: w, height: h, data };
}

function expectAffineClose(a: Affine, b: Affine, tol: number): void {
  for (let i = 0; i < 6; i++) expect(Math.abs(a[i]! - b[i]!), `entry ${i}: ${a} vs ${b}`).toBeLessThan(tol);
}

describe('FFHQ alignment transform', () => {
  it('the quad is a square of side qsize centred below the eyes', () => {
    const q = ffhqQuad(syntheticLandmarks());
    const side = (a: Point, b: Point) => Math.hypot(a[0] - b[0], a[1] - b[1]);
    const [q0, q1, q2, q3] = q.quad;
    for (const [a, b] of [[q0, q1], [q1, q2], [q2, q3], [q3, q0]] as [Point, Point][]) expect(side(a, b)).toBeCloseTo(q.qsize, 6);
    expect(side(q0, q2)).toBeCloseTo(q.qsize * Math.SQRT2, 6);
    // eyes 64 px apart: |x| = max(2 * 64, 1.8 * 65) = 128, centre 0.1 of the way to the mouth
    expect(q.qsize).toBeCloseTo(256, 6);
    expect(q.center[0]).toBeCloseTo(128, 6);
    expect(q.center[1]).toBeCloseTo(120 + 0.1 * 65, 6);
  });

  it('forward and inverse transforms compose to the identity', () => {
    const { matrix } = ffhqTransform(syntheticLandmarks().map(([x, y]) => [x * 1.7 + 40, y * 1.7 - 13] as Point), 1024);
    const inv = invertAffine(matrix);
    expectAffineClose(composeAffine(inv, matrix), [1, 0, 0, 0, 1, 0], 1e-9);
    expectAffineClose(composeAffine(matrix, inv), [1, 0, 0, 0, 1, 0], 1e-9);
    for (const p of [[0, 0], [123.4, 567.8], [-50, 2000]] as Point[]) {
      const back = applyAffine(inv, applyAffine(matrix, p));
      expect(Math.hypot(back[0] - p[0], back[1] - p[1])).toBeLessThan(1e-9);
    }
  });

  it('aligned positions do not depend on where, how large and how rotated the face is', () => {
    const base = syntheticLandmarks();
    const S = 256;
    const ref = ffhqTransform(base, S);
    const angle = (25 * Math.PI) / 180, k = 2.3;
    const sim: Affine = [k * Math.cos(angle), -k * Math.sin(angle), 310, k * Math.sin(angle), k * Math.cos(angle), -40];
    const moved = base.map((p) => applyAffine(sim, p));
    const t = ffhqTransform(moved, S);
    // photo -> aligned of the moved face = (photo -> aligned of the original) after the inverse similarity
    expectAffineClose(t.matrix, composeAffine(ref.matrix, invertAffine(sim)), 1e-9);
    for (let i = 0; i < 68; i++) {
      const a = applyAffine(ref.matrix, base[i]!), b = applyAffine(t.matrix, moved[i]!);
      expect(Math.hypot(a[0] - b[0], a[1] - b[1])).toBeLessThan(1e-9);
    }
  });

  it('the identity quad reproduces an image exactly, and warping then pasting back restores the photo', () => {
    const W = 120, H = 110;
    const img = randomImage(W, H, 3);
    expect(Array.from(warpAffine(img, [1, 0, 0, 0, 1, 0], W, H).data)).toEqual(Array.from(img.data));
    // a face-sized crop: the synthetic face turned by 20° and shrunk to a quarter (its 64 px quad is
    // enlarged 2x into 128 px), then pasted back with a hard edge
    const t = (20 * Math.PI) / 180, k = 0.25;
    const sim: Affine = [k * Math.cos(t), -k * Math.sin(t), 0, k * Math.sin(t), k * Math.cos(t), 0];
    const c = applyAffine(sim, [128, 126.5]);
    sim[2] = 60 - c[0];
    sim[5] = 55 - c[1];
    const lm = syntheticLandmarks().map((p) => applyAffine(sim, p));
    const a = alignFace(img, lm, 128);
    const pasted = pasteBack(img, a.image, a.matrix, 128, { feather: 0 });
    // compare inside the quad only (away from its border, where bilinear mixes in the outside)
    let se = 0, n = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const [u, v] = applyAffine(a.matrix, [x, y]);
      if (u < 4 || v < 4 || u > 123 || v > 123) continue;
      for (let ch = 0; ch < 3; ch++) { const d = pasted.data[(y * W + x) * 3 + ch]! - img.data[(y * W + x) * 3 + ch]!; se += d * d; n++; }
    }
    expect(n).toBeGreaterThan(3 * 2000);
    const p = 10 * Math.log10((255 * 255) / Math.max(se / n, 1e-9));
    // 62 dB here; a quarter-pixel error in either map gives about 49 dB
    expect(p, `paste-back PSNR ${p.toFixed(1)} dB`).toBeGreaterThan(55);
    // pasting changed pixels inside the quad only
    let outsideChanged = 0, outside = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const [u, v] = applyAffine(a.matrix, [x, y]);
      if (u > -1 && v > -1 && u < 128 && v < 128) continue;
      outside++;
      for (let ch = 0; ch < 3; ch++) if (pasted.data[(y * W + x) * 3 + ch] !== img.data[(y * W + x) * 3 + ch]) outsideChanged++;
    }
    expect(outside).toBeGreaterThan(1000);
    expect(outsideChanged).toBe(0);
  });

  it('rejects what is not 68 landmarks', () => {
    expect(() => ffhqQuad(syntheticLandmarks().slice(0, 5))).toThrow(/68 landmarks/);
    const bad = syntheticLandmarks();
    bad[40] = [NaN, 1];
    expect(() => ffhqQuad(bad)).toThrow(/not a finite/);
  });
});

describe('face detection and landmarks (face-api networks on our engine)', () => {
  let landmarker: FaceLandmarker;
  let dir: string;
  beforeAll(() => {
    landmarker = new FaceLandmarker();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-align-'));
  });
  afterAll(() => landmarker?.release());

  it(`re-aligning the FFHQ-aligned sample faces is nearly the identity (eyes and mouth within ${IDENTITY_TOL_PX} px at 256)`, async () => {
    for (const file of FACES) {
      const img = await readRgb(file);
      const faces = await landmarker.detect(img);
      expect(faces.length, `${file}: faces found`).toBe(1);
      const { quad, matrix } = ffhqTransform(faces[0]!.landmarks, 256);
      for (const [name, p] of [['left eye', quad.eyeLeft], ['right eye', quad.eyeRight], ['mouth', quad.mouth]] as [string, Point][]) {
        const q = applyAffine(matrix, p);
        expect(Math.hypot(q[0] - p[0], q[1] - p[1]), `${path.basename(file)} ${name} at ${p} moves to ${q}`).toBeLessThan(IDENTITY_TOL_PX);
      }
      const scale = Math.hypot(matrix[0], matrix[3]);
      const rot = (Math.atan2(matrix[3], matrix[0]) * 180) / Math.PI;
      expect(Math.abs(scale - 1), `${path.basename(file)} scale ${scale}`).toBeLessThan(SCALE_TOL);
      expect(Math.abs(rot), `${path.basename(file)} rotation ${rot}°`).toBeLessThan(ROTATION_TOL_DEG);
      // where FFHQ puts the eyes of a 256 px face: about (96, 120) and (160, 120)
      expect(Math.abs(quad.eyeLeft[0] - 96) + Math.abs(quad.eyeRight[0] - 160)).toBeLessThan(2 * IDENTITY_TOL_PX);
    }
  });

  it(`the engine port agrees with the package's own TFJS pipeline (boxes, landmarks within ${BACKEND_TOL_PX} px)`, async () => {
    const single = new FaceLandmarker({ inputSize: 416, refine: false });
    for (const file of FACES.slice(0, 2)) {
      const img = await readRgb(file);
      const ours = await single.detect(img);
      const theirs = await detectWithTfjs(img, { inputSize: 416 });
      expect(ours.length).toBe(theirs.length);
      expect(ours.length).toBeGreaterThan(0);
      const [a, b] = [ours[0]!, theirs[0]!];
      expect(Math.abs(a.score - b.score)).toBeLessThan(1e-3);
      for (const k of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(a.box[k] - b.box[k])).toBeLessThan(0.05);
      let worst = 0;
      for (let i = 0; i < 68; i++) worst = Math.max(worst, Math.hypot(a.landmarks[i]![0] - b.landmarks[i]![0], a.landmarks[i]![1] - b.landmarks[i]![1]));
      expect(worst, `${path.basename(file)}: largest landmark difference`).toBeLessThan(BACKEND_TOL_PX);
    }
    single.release();
  });

  it(`a rotated (15°) and shifted copy on a larger canvas aligns to nearly the same crop (PSNR > ${ROTATED_PSNR_DB} dB)`, async () => {
    const S = 256;
    const centre = (im: RgbImage) => warpAffine(im, [1, 0, 32, 0, 1, 32], 192, 192);
    for (const [src, angle] of [[FACES[0]!, 15], [FACES[2]!, -15]] as [string, number][]) {
      const rotated = await sharp(src).rotate(angle, { background: '#7f7f7f' }).png().toBuffer();
      const file = path.join(dir, `rotated${angle}.png`);
      await sharp(rotated).extend({ top: 40, left: 110, bottom: 70, right: 25, background: '#7f7f7f' }).png().toFile(file);
      const orig = await alignedOf(landmarker, src, S);
      const rot = await alignedOf(landmarker, file, S);
      // the whole crop includes a border the photo does not cover (reflection in one, the grey
      // canvas in the other); the central 192 px are the face itself
      const whole = psnr8(orig, rot), inner = psnr8(centre(orig), centre(rot));
      expect(whole, `${path.basename(src)} at ${angle}°: PSNR ${whole.toFixed(2)} dB`).toBeGreaterThan(ROTATED_PSNR_DB);
      expect(inner, `${path.basename(src)} at ${angle}°: central PSNR ${inner.toFixed(2)} dB`).toBeGreaterThan(ROTATED_PSNR_DB + 5);
      // a copy that is not aligned at all is far below that (the test can fail)
      const plain = await readRgb(file);
      expect(psnr8(orig, warpAffine(plain, [plain.width / S, 0, 0, 0, plain.height / S, 0], S, S))).toBeLessThan(ROTATED_PSNR_DB - 5);
    }
  });

  it('a picture without a face is reported, not crashed on', async () => {
    const W = 320, H = 240;
    const data = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) { const o = (y * W + x) * 3; data[o] = x * 255 / W; data[o + 1] = y * 255 / H; data[o + 2] = 128; }
    const gradient = path.join(dir, 'gradient.png');
    await sharp(Buffer.from(data), { raw: { width: W, height: H, channels: 3 } }).png().toFile(gradient);
    expect(await landmarker.detect({ width: W, height: H, data })).toEqual([]);
    const lines: string[] = [];
    const r = await runAlign([gradient, FACES[1]!], path.join(dir, 'out'), { size: 128, log: (l) => lines.push(l) });
    expect(r.noFace).toEqual([gradient]);
    expect(lines.join('\n')).toMatch(/no face found in .*gradient\.png/);
    expect(r.written.map((w) => path.basename(w.image))).toEqual(['000002.png']);
    const rec = JSON.parse(fs.readFileSync(r.written[0]!.json, 'utf8'));
    expect(rec.landmarks).toHaveLength(68);
    expect(rec.quad).toHaveLength(4);
    expect((await sharp(r.written[0]!.image).metadata()).width).toBe(128);
  });
});

async function alignedOf(landmarker: FaceLandmarker, file: string, size: number): Promise<RgbImage> {
  const img = await readRgb(file);
  const faces = await landmarker.detect(img);
  expect(faces.length, `${file}: faces found`).toBe(1);
  return alignFace(img, faces[0]!.landmarks, size).image;
}
