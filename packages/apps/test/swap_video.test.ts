// Face swap and video (the paper's Section 5) on the micro config: the soft mask, pasting exactly,
// swap = inverting the pasted image, video over an animated GIF/WebP (frame count, codes = each
// frame inverted alone), temporal figure 0 for a still video, MP4 without ffmpeg, wrong directions.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { readNpy, writeNpy } from '@sgi/core';
import { chwToHwc } from '@sgi/experiment';
import {
  DEFAULT_FACE_MASK, FFMPEG_MISSING, Inverter, faceMask, findExecutable, writeVideo, invertFrames, loadDirection, meanConsecutiveDifference, pasteFace, readVideo,
  runSwap, runVideo, swapFaces, writeAnimated,
} from '../src/index.js';
import { bits, microSession } from './micro.js';

const N = 8, D = 16, S = 32;

describe('face swap and video', () => {
  let dir: string;
  let inv: Inverter;
  let faces: string[];
  let imgs: Float32Array[];

  beforeAll(async () => {
    ({ dir, inv, faces, imgs } = await microSession('swapvideo', 4));
  });
  afterAll(() => inv?.release());

  it('the face mask: 1 at the centre, 0 at the corners, smooth on the feather, symmetric left-right', () => {
    for (const size of [32, 33, 64]) {
      const m = faceMask(size);
      const at = (x: number, y: number) => m[y * size + x]!;
      const cx = Math.floor(DEFAULT_FACE_MASK.centerX * size), cy = Math.floor(DEFAULT_FACE_MASK.centerY * size);
      expect(at(cx, cy)).toBe(1);
      for (const [x, y] of [[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]]) expect(at(x!, y!)).toBe(0);
      for (const v of m) expect(v >= 0 && v <= 1).toBe(true);
      const between = Array.from(m).filter((v) => v > 0 && v < 1);
      expect(between.length).toBeGreaterThan(size); // a feathered ring, not a hard edge
      for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) expect(at(size - 1 - x, y)).toBe(at(x, y));
      // smooth: along the centre row, no step larger than a feather can make
      const steps = Array.from({ length: size - 1 }, (_, x) => Math.abs(at(x + 1, cy) - at(x, cy)));
      expect(Math.max(...steps)).toBeLessThan(0.6);
      // monotone from the centre outwards
      for (let x = cx; x < size - 1; x++) expect(at(x + 1, cy)).toBeLessThanOrEqual(at(x, cy));
    }
    const hard = faceMask(32, { feather: 0 });
    expect(Array.from(hard).every((v) => v === 0 || v === 1)).toBe(true);
    expect(() => faceMask(32, { radiusX: 0 })).toThrow(/radii must be positive/);
  });

  it('pasting: a face onto itself is itself exactly; otherwise mask*source + (1-mask)*target, pixel-exact', async () => {
    const m = faceMask(S);
    expect(bits(pasteFace(imgs[0]!, imgs[0]!, m))).toEqual(bits(imgs[0]!));
    const p = pasteFace(imgs[0]!, imgs[1]!, m);
    const expected = new Float32Array(3 * S * S);
    for (let c = 0; c < 3; c++) for (let i = 0; i < S * S; i++) expected[c * S * S + i] = m[i]! * imgs[0]![c * S * S + i]! + (1 - m[i]!) * imgs[1]![c * S * S + i]!;
    expect(bits(p)).toEqual(bits(expected));
    // where the mask is 1 the source's pixels, where it is 0 the target's, bit for bit
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < S * S; i++) {
        if (m[i] === 1) expect(p[c * S * S + i]).toBe(imgs[0]![c * S * S + i]);
        if (m[i] === 0) expect(p[c * S * S + i]).toBe(imgs[1]![c * S * S + i]);
      }
    }
    expect(() => pasteFace(imgs[0]!, new Float32Array(5), m)).toThrow(/must both be \[3, S, S\]/);
  });

  it("swap's reconstruction is the inversion of the pasted image; runSwap writes the pictures and the code", async () => {
    const r = swapFaces(inv, imgs[0]!, imgs[1]!);
    const direct = inv.invert(pasteFace(imgs[0]!, imgs[1]!, faceMask(S)));
    expect(bits(r.code)).toEqual(bits(direct.codes));
    expect(r.stages.length).toBe(2);
    expect(bits(r.stages[1]!)).toEqual(bits(direct.stages[1]!));
    const out = path.join(dir, 'swap');
    const { files } = await runSwap(inv, faces[0]!, faces[1]!, out);
    for (const f of Object.values(files)) expect(fs.existsSync(f), f).toBe(true);
    const code = readNpy(files.code);
    expect(code.shape).toEqual([N, D]);
    expect(bits(code.data)).toEqual(bits(direct.codes));
    // the pasted PNG is the pasted image, 8-bit
    const png = await sharp(files.pasted).raw().toBuffer();
    expect(Buffer.from(chwToHwc(r.pasted, S, S)).equals(png)).toBe(true);
    const stages = await sharp(files.stages).metadata();
    expect([stages.width, stages.height]).toEqual([3 * S, S]);
    const mask = await sharp(files.mask).raw().toBuffer();
    expect(mask[(Math.floor(0.58 * S) * S + S / 2) * 3]).toBe(255);
    expect(mask[0]).toBe(0);
  });

  for (const ext of ['gif', 'webp'] as const) {
    it(`video over an animated ${ext.toUpperCase()}: same frame count out, codes [4, nLatent, D], each frame's code = that frame inverted alone`, async () => {
      const input = path.join(dir, `clip.${ext}`);
      await writeAnimated(input, imgs.map((im) => chwToHwc(im, S, S)), S, [80, 120, 80, 120]);
      const out = path.join(dir, `video-${ext}`);
      const run = await runVideo(inv, input, out);
      expect(run.kind).toBe(ext);
      expect(path.basename(run.files.video)).toBe(`video.${ext}`);
      const meta = await sharp(run.files.video, { pages: -1 }).metadata();
      expect(meta.pages).toBe(4);
      expect(meta.pageHeight).toBe(S);
      expect(meta.delay).toEqual([80, 120, 80, 120]);
      const codes = readNpy(run.files.codes);
      expect(codes.shape).toEqual([4, N, D]);
      for (let i = 0; i < 4; i++) {
        // frame i taken out of the animation on its own, as a PNG, read as `sgi invert` reads images
        const png = path.join(dir, `${ext}-frame${i}.png`);
        await sharp(input, { page: i }).png().toFile(png);
        const alone = inv.invert(await inv.readImage(png));
        expect(bits(codes.data.subarray(i * N * D, (i + 1) * N * D)), `frame ${i}`).toEqual(bits(alone.codes));
      }
      const timing = JSON.parse(fs.readFileSync(run.files.timing, 'utf8'));
      expect(timing.secondsPerFrame.length).toBe(4);
      expect(timing.median).toBeGreaterThan(0);
      const temporal = JSON.parse(fs.readFileSync(run.files.temporal, 'utf8'));
      expect(temporal.meanAbsDiffConsecutiveCodes).toBeGreaterThan(0);
      expect(temporal.meanAbsDiffConsecutiveOutputFrames).toBeGreaterThan(0);
    });
  }

  it('a folder of frames in gives a folder of PNGs out; a still video has temporal figure exactly 0', async () => {
    const input = path.join(dir, 'still');
    fs.mkdirSync(input);
    for (let i = 0; i < 3; i++) fs.copyFileSync(faces[2]!, path.join(input, `f${i}.png`));
    const run = await runVideo(inv, input, path.join(dir, 'video-still'));
    expect(run.kind).toBe('frames');
    expect(fs.readdirSync(run.files.video).sort()).toEqual(['f0.png', 'f1.png', 'f2.png']);
    expect(run.result.temporal).toEqual({ codes: 0, outputs: 0, inputs: 0 });
    const temporal = JSON.parse(fs.readFileSync(run.files.temporal, 'utf8'));
    expect(temporal.meanAbsDiffConsecutiveCodes).toBe(0);
    expect(temporal.meanAbsDiffConsecutiveOutputFrames).toBe(0);
    expect(readNpy(run.files.codes).shape).toEqual([3, N, D]);
    expect(meanConsecutiveDifference([new Float32Array([1, 2]), new Float32Array([2, 0])])).toBe(1.5);
    expect(meanConsecutiveDifference([new Float32Array(2)])).toBeNull();
  });

  it('editing along a direction: codes + strength * direction, synthesised; a direction of the wrong shape is refused naming both shapes', () => {
    const file = path.join(dir, 'dir.npy');
    const dirData = new Float32Array(N * D).map((_, i) => Math.cos(i));
    writeNpy(file, { shape: [N, D], data: dirData });
    const d = loadDirection(file, inv);
    const r = invertFrames(inv, imgs.slice(0, 2), { direction: d, strength: 2 });
    for (let k = 0; k < 2 * N * D; k++) expect(r.edited![k]).toBe(Math.fround(r.codes[k]! + 2 * dirData[k % (N * D)]!));
    expect(bits(r.outputs[1]!)).toEqual(bits(inv.synthesize(r.edited!.subarray(N * D))));
    const wrong = path.join(dir, 'wrong.npy');
    writeNpy(wrong, { shape: [18, 512], data: new Float32Array(18 * 512) });
    expect(() => loadDirection(wrong, inv)).toThrow(/wrong\.npy has shape \[18, 512\], but this generator's W\+ is \[8, 16\]/);
  });

  it('an .mp4 without ffmpeg on PATH fails with the message that says what to do', async () => {
    const empty = path.join(dir, 'empty-path');
    fs.mkdirSync(empty, { recursive: true });
    const clip = path.join(dir, 'clip.mp4');
    fs.writeFileSync(clip, 'not really a video');
    const gif = path.join(dir, 'two.gif');
    await writeAnimated(gif, imgs.slice(0, 2).map((im) => chwToHwc(im, S, S)), S, 100);
    const saved = process.env.PATH;
    process.env.PATH = empty;
    try {
      await expect(readVideo(clip, S)).rejects.toThrow(FFMPEG_MISSING);
      await expect(runVideo(inv, clip, path.join(dir, 'video-mp4'))).rejects.toThrow('MP4 needs ffmpeg on PATH (Debian: apt-get install ffmpeg); animated GIF/WebP and frame folders work without it');
      // and MP4 out of a GIF too, refused before any work
      await expect(runVideo(inv, gif, path.join(dir, 'video-to-mp4'), { format: 'mp4' })).rejects.toThrow(FFMPEG_MISSING);
    } finally {
      process.env.PATH = saved;
    }
    expect(fs.existsSync(path.join(dir, 'video-mp4'))).toBe(false);
  });

  // only where an ffmpeg executable is on PATH (Debian: apt-get install ffmpeg)
  it.skipIf(!findExecutable('ffmpeg'))('MP4 in and out through ffmpeg: frame count and frame rate kept, one code per frame', async () => {
    const clip = path.join(dir, 'real.mp4');
    await writeVideo(clip, 'mp4', imgs, S, { fps: 10 });
    const v = await readVideo(clip, S);
    expect(v.kind).toBe('mp4');
    expect(v.frames.length).toBe(4);
    expect(v.fps).toBe(10);
    const run = await runVideo(inv, clip, path.join(dir, 'video-mp4-real'));
    expect(path.basename(run.files.video)).toBe('video.mp4');
    expect(readNpy(run.files.codes).shape).toEqual([4, N, D]);
    const back = await readVideo(run.files.video, S);
    expect(back.frames.length).toBe(4);
    expect(back.fps).toBe(10);
  });
});
