// `sgi swap` and `sgi video` as a user runs them (the built dist/main.js) on the micro config:
// --help, the files each writes, and MP4 without ffmpeg on PATH.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { readNpy, writeNpy } from '@sgi/core';
import { chwToHwc, loadImage } from '@sgi/experiment';
import { writeAnimated } from '@sgi/apps';
import { microFaces, microInversion, tempDir } from '../../apps/test/micro.js';
import { cli, sgi } from './sgi.js';

const S = 32;


describe('sgi swap and sgi video', () => {
  let dir: string;
  let config: string;
  let faces: string[];
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = tempDir('cli-swapvideo');
    ({ config } = microInversion(dir));
    faces = await microFaces(dir, 4);
    env = { SGI_RUNS_DIR: path.join(dir, 'runs') };
  });

  it('--help shows the usage and the options of each', () => {
    const expected: Record<string, string[]> = {
      swap: ['--config', '--checkpoint', '--source', '--target', '--out', '--center-x', '--center-y', '--radius-x', '--radius-y', '--feather'],
      video: ['--config', '--checkpoint', '--input', '--out', '--direction', '--strength', '--format'],
    };
    for (const [c, options] of Object.entries(expected)) {
      const h = sgi([c, '--help']);
      expect(h.code, h.err).toBe(0);
      expect(h.out.split('\n')[0]).toBe(`sgi ${c}`);
      const shown = [...h.out.matchAll(/^ {2}(--[a-z][a-z-]*)/gm)].map((m) => m[1]!);
      for (const o of ['--help', ...options]) expect(shown, h.out).toContain(o);
    }
    expect(sgi(['--help']).out).toMatch(/^ {2}sgi swap {2,}\S[\s\S]*^ {2}sgi video {2,}\S/m);
  });

  it('swap writes pasted.png, reconstructed.png, stages.png, mask.png, swap.png, code.npy and timing.json', async () => {
    const out = path.join(dir, 'swap');
    const r = sgi(['swap', '--config', config, '--source', faces[0]!, '--target', faces[1]!, '--out', out, '--feather', '0.1'], env);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/swapped the face of .*face0\.png onto .*face1\.png/);
    expect(r.out).toMatch(/wrote pasted\.png, reconstructed\.png, stages\.png, mask\.png, swap\.png, code\.npy, timing\.json/);
    expect(r.out).toMatch(/inversion \d+\.\d+ s/);
    for (const f of ['pasted.png', 'reconstructed.png', 'stages.png', 'mask.png', 'swap.png']) {
      const m = await sharp(path.join(out, f)).metadata();
      expect(m.height, f).toBe(S);
    }
    expect(readNpy(path.join(out, 'code.npy')).shape).toEqual([8, 16]);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'timing.json'), 'utf8')).mask.feather).toBe(0.1);
  });

  it('video over an animated GIF with a direction writes video.gif (4 frames), the codes, timing and the temporal figures', async () => {
    const gif = path.join(dir, 'clip.gif');
    const frames = await Promise.all(faces.map((f) => loadImage(f, S)));
    await writeAnimated(gif, frames.map((x) => chwToHwc(x, S, S)), S, 100);
    const direction = path.join(dir, 'dir.npy');
    writeNpy(direction, { shape: [8, 16], data: new Float32Array(8 * 16).fill(0.5) });
    const out = path.join(dir, 'video');
    const r = sgi(['video', '--config', config, '--input', gif, '--out', out, '--direction', direction, '--strength', '2'], env);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/inverted 4 frame\(s\) edited along .*dir\.npy \(strength 2\)/);
    expect(r.out).toMatch(/median \d+\.\d+ s\/frame/);
    expect(r.out).toMatch(/temporal consistency .*codes \d+\.\d+, output frames \d+\.\d+/);
    expect((await sharp(path.join(out, 'video.gif'), { pages: -1 }).metadata()).pages).toBe(4);
    expect(readNpy(path.join(out, 'codes.npy')).shape).toEqual([4, 8, 16]);
    expect(readNpy(path.join(out, 'edited_codes.npy')).shape).toEqual([4, 8, 16]);
    const timing = JSON.parse(fs.readFileSync(path.join(out, 'timing.json'), 'utf8'));
    expect(timing.secondsPerFrame.length).toBe(4);
    expect(timing.median).toBeGreaterThan(0);
    const temporal = JSON.parse(fs.readFileSync(path.join(out, 'temporal.json'), 'utf8'));
    expect(temporal.meanAbsDiffConsecutiveCodes).toBeGreaterThan(0);
    expect(temporal.strength).toBe(2);
  });

  it('video of an .mp4 without ffmpeg on PATH: one clear line saying what to do', () => {
    const empty = path.join(dir, 'empty-path');
    fs.mkdirSync(empty, { recursive: true });
    const clip = path.join(dir, 'clip.mp4');
    fs.writeFileSync(clip, 'not really a video');
    const r = sgi(['video', '--config', config, '--input', clip, '--out', path.join(dir, 'mp4')], { ...env, PATH: empty });
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe('error: MP4 needs ffmpeg on PATH (Debian: apt-get install ffmpeg); animated GIF/WebP and frame folders work without it');
  });
});
