// `sgi align` as a user runs it (the built dist/main.js): --help, the PNG and JSON it writes for a
// rotated face made here, a folder with a face and a picture without one, and a folder with no
// face at all; `sgi invert --align --paste-back` on the micro config.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { microInversion, tempDir } from '../../apps/test/micro.js';
import { cli, repo, sgi } from './sgi.js';

const face = path.join(repo, 'data/faces/000002.png');


describe('sgi align', () => {
  let dir: string;
  let rotated: string;
  let gradient: string;

  beforeAll(async () => {
    dir = tempDir('cli-align');
    // a face turned by 15° and placed off-centre on a larger canvas
    const turned = await sharp(face).rotate(15, { background: '#556070' }).png().toBuffer();
    rotated = path.join(dir, 'rotated.png');
    await sharp(turned).extend({ top: 30, left: 90, bottom: 80, right: 20, background: '#556070' }).png().toFile(rotated);
    const W = 200, H = 150;
    const data = Buffer.alloc(W * H * 3);
    for (let i = 0; i < W * H; i++) { data[i * 3] = (i % W) * 255 / W; data[i * 3 + 1] = 90; data[i * 3 + 2] = Math.floor(i / W) * 255 / H; }
    gradient = path.join(dir, 'gradient.png');
    await sharp(data, { raw: { width: W, height: H, channels: 3 } }).png().toFile(gradient);
  });

  it('--help shows the usage and every option', () => {
    const h = sgi(['align', '--help']);
    expect(h.code, h.err).toBe(0);
    expect(h.out.split('\n')[0]).toBe('sgi align');
    const shown = [...h.out.matchAll(/^ {2}(--[a-z][a-z-]*)/gm)].map((m) => m[1]!);
    for (const o of ['--help', '--input', '--out', '--size', '--all-faces', '--backend', '--detector', '--min-score']) expect(shown, h.out).toContain(o);
    expect(sgi(['--help']).out).toMatch(/^ {2}sgi align {2,}\S/m);
    const inv = sgi(['invert', '--help']);
    for (const o of ['--align', '--paste-back', '--feather']) expect(inv.out).toContain(o);
  });

  it('aligns a rotated face: the PNG at --size and a JSON with 68 landmarks, the quad and the transform', async () => {
    const out = path.join(dir, 'one');
    const r = sgi(['align', '--input', rotated, '--out', out, '--size', '256'], {});
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/aligned 1 face\(s\) from 1 of 1 image\(s\)/);
    expect(fs.readdirSync(out).sort()).toEqual(['rotated.json', 'rotated.png']);
    const m = await sharp(path.join(out, 'rotated.png')).metadata();
    expect([m.width, m.height]).toEqual([256, 256]);
    const rec = JSON.parse(fs.readFileSync(path.join(out, 'rotated.json'), 'utf8'));
    expect(rec.landmarks).toHaveLength(68);
    expect(rec.quad).toHaveLength(4);
    expect(rec.size).toBe(256);
    expect(rec.sourceSize).toEqual({ width: (await sharp(rotated).metadata()).width, height: (await sharp(rotated).metadata()).height });
    // the transform undoes the 15° turn: photo -> aligned rotates by about -15° (y down: atan2 < 0)
    const [[a, , c], [d, , f]] = rec.matrix as number[][];
    const angle = (Math.atan2(d!, a!) * 180) / Math.PI;
    expect(Math.abs(angle + 15), `rotation ${angle}°`).toBeLessThan(4);
    // the quad's corners map to the aligned image's corners
    const tl = [a! * rec.quad[0][0] + rec.matrix[0][1] * rec.quad[0][1] + c!, d! * rec.quad[0][0] + rec.matrix[1][1] * rec.quad[0][1] + f!];
    expect(Math.hypot(tl[0]! + 0.5, tl[1]! + 0.5)).toBeLessThan(1e-6);
    // the inverse is the inverse
    const inv = rec.inverse as number[][];
    const p = [rec.landmarks[30][0], rec.landmarks[30][1]];
    const q = [a! * p[0]! + rec.matrix[0][1] * p[1]! + c!, d! * p[0]! + rec.matrix[1][1] * p[1]! + f!];
    const back = [inv[0]![0]! * q[0]! + inv[0]![1]! * q[1]! + inv[0]![2]!, inv[1]![0]! * q[0]! + inv[1]![1]! * q[1]! + inv[1]![2]!];
    expect(Math.hypot(back[0]! - p[0]!, back[1]! - p[1]!)).toBeLessThan(1e-6);
  });

  it('names and skips a picture without a face; fails when no face at all was aligned', () => {
    const input = path.join(dir, 'mixed');
    fs.mkdirSync(input);
    fs.copyFileSync(rotated, path.join(input, 'a.png'));
    fs.copyFileSync(gradient, path.join(input, 'b.png'));
    const out = path.join(dir, 'mixed-out');
    const r = sgi(['align', '--input', input, '--out', out, '--size', '128', '--all-faces']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/no face found in .*b\.png/);
    expect(fs.readdirSync(out).sort()).toEqual(['a_face0.json', 'a_face0.png']);
    const none = sgi(['align', '--input', gradient, '--out', path.join(dir, 'none')]);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/^error: no face was aligned: no face found in gradient\.png/m);
  });

  it('invert --align --paste-back: the aligned input, its record and the reconstruction pasted into the photo', async () => {
    const { config } = microInversion(dir, 'align-micro');
    const out = path.join(dir, 'inv');
    const r = sgi(['invert', '--config', config, '--input', rotated, '--out', out, '--align', '--paste-back'], { SGI_RUNS_DIR: path.join(dir, 'runs') });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/inverted 1 image\(s\)/);
    expect(r.out).toMatch(/aligned 1 image\(s\) FFHQ-style first/);
    const names = fs.readdirSync(out).sort();
    for (const n of ['rotated.npy', 'rotated.png', 'rotated_align.json', 'rotated_aligned.png', 'rotated_pasted.png', 'rotated_stages.png']) expect(names).toContain(n);
    const pasted = await sharp(path.join(out, 'rotated_pasted.png')).metadata();
    const photo = await sharp(rotated).metadata();
    expect([pasted.width, pasted.height]).toEqual([photo.width, photo.height]);
    // the corners of the photo lie outside the face's quad: unchanged by the paste
    const a = await sharp(rotated).removeAlpha().raw().toBuffer();
    const b = await sharp(path.join(out, 'rotated_pasted.png')).removeAlpha().raw().toBuffer();
    expect(Array.from(b.subarray(0, 3))).toEqual(Array.from(a.subarray(0, 3)));
    expect(b.equals(a)).toBe(false);
    // the micro config is a face-world config (data.kind facesjs): alignment is off unless asked for
    const plain = sgi(['invert', '--config', config, '--input', rotated, '--out', path.join(dir, 'inv2')], { SGI_RUNS_DIR: path.join(dir, 'runs') });
    expect(plain.code, plain.err).toBe(0);
    expect(plain.out).toMatch(/alignment off: .*data\.kind facesjs/);
    expect(fs.readdirSync(path.join(dir, 'inv2'))).not.toContain('rotated_aligned.png');
  });
});
