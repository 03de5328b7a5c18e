// The latent-space commands as a user runs them (the built dist/main.js) on the micro config:
// sgi directions, edit, interpolate and mix: their --help, the files each writes, and the
// refusal of a latent or direction of the wrong shape.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { readNpy, writeNpy } from '@sgi/core';
import { microFaces, microInversion, tempDir } from '../../apps/test/micro.js';
import { cli, sgi } from './sgi.js';

const N = 8, D = 16, S = 32;

const rows = (f: string) => {
  const t = readNpy(f);
  expect(t.shape, f).toEqual([N, D]);
  return Array.from(t.data);
};

describe('sgi edit / directions / interpolate / mix', () => {
  let dir: string, config: string, checkpoint: string, faces: string[], pos: string, neg: string;
  const common = () => ['--config', config, '--checkpoint', checkpoint];

  beforeAll(async () => {
    dir = tempDir('cli-latent');
    ({ config, checkpoint } = microInversion(dir));
    faces = await microFaces(dir, 6);
    pos = path.join(dir, 'with');
    neg = path.join(dir, 'without');
    fs.mkdirSync(pos); fs.mkdirSync(neg);
    faces.slice(0, 3).forEach((f) => fs.copyFileSync(f, path.join(pos, path.basename(f))));
    faces.slice(3).forEach((f) => fs.copyFileSync(f, path.join(neg, path.basename(f))));
  });

  it('--help lists each command and its options', () => {
    const top = sgi(['--help']);
    expect(top.code, top.err).toBe(0);
    const want: Record<string, string[]> = {
      edit: ['--config', '--checkpoint', '--input', '--direction', '--attribute', '--strengths', '--relative', '--out'],
      directions: ['--config', '--checkpoint', '--positive', '--negative', '--space', '--out'],
      'interpolate <a> <b>': ['--config', '--checkpoint', '--steps', '--delay', '--out'],
      mix: ['--config', '--checkpoint', '--content', '--style', '--from', '--layer-index', '--out'],
    };
    for (const [usage, options] of Object.entries(want)) {
      expect(top.out).toMatch(new RegExp(`^ {2}sgi ${usage.replace(/[<>]/g, '.')} {2,}\\S`, 'm'));
      const h = sgi([usage.split(' ')[0]!, '--help']);
      expect(h.code, h.err).toBe(0);
      expect(h.out.split('\n')[0]).toBe(`sgi ${usage}`);
      const shown = [...h.out.matchAll(/^ {2}(--[a-z][a-z-]*)/gm)].map((m) => m[1]!);
      for (const o of ['--help', ...options]) expect(shown, `sgi ${usage} --help:\n${h.out}`).toContain(o);
    }
  });

  it('directions: inverts both folders and writes the W+ direction and its report', () => {
    const out = path.join(dir, 'dirs', 'mine.npy');
    const r = sgi(['directions', ...common(), '--positive', pos, '--negative', neg, '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(out);
    expect(r.out).toMatch(/accuracy 1\.000/);
    const d = rows(out);
    for (let l = 1; l < N; l++) expect(d.slice(l * D, (l + 1) * D)).toEqual(d.slice(0, D)); // W normal on every layer
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'dirs', 'mine.json'), 'utf8'));
    expect(report).toMatchObject({ accuracy: 1, positives: 3, negatives: 3, count: 6, shape: [N, D] });
    expect(report.separation).toBeGreaterThan(0);
    const bad = sgi(['directions', ...common(), '--positive', pos, '--negative', neg, '--out', path.join(dir, 'x.txt')]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^error: .*\.npy/m);
  });

  it('edit: a strip per input and one code per strength; strength 0 is the plain inversion', async () => {
    const direction = path.join(dir, 'dirs', 'mine.npy');
    if (!fs.existsSync(direction)) writeNpy(direction, { shape: [N, D], data: new Float32Array(N * D).fill(0.1) });
    const out = path.join(dir, 'edit');
    const r = sgi(['edit', ...common(), '--input', pos, '--direction', direction, '--strengths', '-3,-1.5,0,1.5,3', '--out', out]);
    expect(r.code, r.err).toBe(0);
    const names = fs.readdirSync(out).sort();
    for (const f of ['face0', 'face1', 'face2']) {
      expect(names).toContain(`${f}_edits.png`);
      for (const s of ['-3', '-1.5', '0', '1.5', '3']) expect(names).toContain(`${f}_s${s}.npy`);
      expect(r.out).toContain(path.join(out, `${f}_edits.png`));
    }
    expect(names.filter((n) => n.endsWith('.npy')).length).toBe(15);
    const m = await sharp(path.join(out, 'face0_edits.png')).metadata();
    expect([m.width, m.height]).toEqual([6 * S, S]); // input | 5 edits
    // strength 0 is the inversion sgi invert writes; 1.5 moves by 1.5 x direction
    const inv = path.join(dir, 'inv');
    const i = sgi(['invert', ...common(), '--input', faces[0]!, '--out', inv]);
    expect(i.code, i.err).toBe(0);
    const plain = rows(path.join(inv, 'face0.npy'));
    expect(rows(path.join(out, 'face0_s0.npy'))).toEqual(plain);
    const d = rows(direction), up = rows(path.join(out, 'face0_s1.5.npy'));
    up.forEach((v, k) => expect(v).toBeCloseTo(plain[k]! + 1.5 * d[k]!, 5));
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'edit.json'), 'utf8'));
    expect(summary.strengths).toEqual([-3, -1.5, 0, 1.5, 3]);
  });

  it('edit: --relative reads the separation beside the direction; wrong shapes are refused naming both', () => {
    const direction = path.join(dir, 'dirs', 'mine.npy');
    const sep = JSON.parse(fs.readFileSync(path.join(dir, 'dirs', 'mine.json'), 'utf8')).separation as number;
    const out = path.join(dir, 'edit-rel');
    const r = sgi(['edit', ...common(), '--input', faces[0]!, '--direction', direction, '--strengths', '0,2', '--relative', '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'edit.json'), 'utf8')).absoluteStrengths[1]).toBeCloseTo(2 * sep, 10);
    const glasses = sgi(['edit', ...common(), '--input', faces[0]!, '--attribute', 'glasses', '--out', path.join(dir, 'g')]);
    expect(glasses.code).toBe(1);
    expect(glasses.err).toMatch(/^error: glasses\.npy has shape \[10, 64\], but this generator's W\+ is \[8, 16\]/m);
    const age = sgi(['edit', ...common(), '--input', faces[0]!, '--direction', 'pretrained/editing/age.npy', '--out', path.join(dir, 'a')]);
    expect(age.code).toBe(1);
    expect(age.err).toMatch(/age\.npy has shape \[18, 512\], but this generator's W\+ is \[8, 16\]/);
    expect(fs.existsSync(path.join(dir, 'a'))).toBe(false);
  });

  it('interpolate: frames, codes and animated WebP/GIF with N frames; the ends are A and B', async () => {
    const b = path.join(dir, 'b.npy');
    const code = new Float32Array(N * D).map((_, i) => Math.cos(i) * 0.5);
    writeNpy(b, { shape: [N, D], data: code });
    const out = path.join(dir, 'interp');
    const r = sgi(['interpolate', faces[0]!, b, ...common(), '--steps', '5', '--out', out]);
    expect(r.code, r.err).toBe(0);
    for (let i = 0; i < 5; i++) {
      expect(fs.existsSync(path.join(out, `frame_${i}.png`))).toBe(true);
      expect(r.out).toContain(path.join(out, `frame_${i}.npy`));
    }
    expect(rows(path.join(out, 'frame_4.npy'))).toEqual(Array.from(code));
    const inv = path.join(dir, 'inv-a');
    expect(sgi(['invert', ...common(), '--input', faces[0]!, '--out', inv]).code).toBe(0);
    expect(rows(path.join(out, 'frame_0.npy'))).toEqual(rows(path.join(inv, 'face0.npy')));
    for (const ext of ['webp', 'gif']) {
      const m = await sharp(path.join(out, `interpolation.${ext}`), { animated: true }).metadata();
      expect(m.format).toBe(ext);
      expect(m.pages).toBe(5);
      expect(m.pageHeight).toBe(S);
    }
    writeNpy(path.join(dir, 'wrong.npy'), { shape: [N, D + 1], data: new Float32Array(N * (D + 1)) });
    const bad = sgi(['interpolate', faces[0]!, path.join(dir, 'wrong.npy'), ...common(), '--out', path.join(dir, 'ib')]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/wrong\.npy has shape \[8, 17\], but this generator's W\+ is \[8, 16\]/);
  });

  it('mix: the scaled layer index is printed with why; layers before it from the content, after from the style', () => {
    const out = path.join(dir, 'mix');
    const r = sgi(['mix', ...common(), '--content', faces[0]!, '--style', faces[1]!, '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/layer index 3 of 8: .*round\(7 \* 8 \/ 18\) = 3/);
    for (const f of ['content.png', 'style.png', 'mixed.png', 'mix.png', 'content.npy', 'style.npy', 'mixed.npy']) {
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
      expect(r.out).toContain(path.join(out, f));
    }
    const c = rows(path.join(out, 'content.npy')), s = rows(path.join(out, 'style.npy')), m = rows(path.join(out, 'mixed.npy'));
    expect(m.slice(0, 3 * D)).toEqual(c.slice(0, 3 * D));
    expect(m.slice(3 * D)).toEqual(s.slice(3 * D));
    const exact = sgi(['mix', ...common(), '--content', faces[0]!, '--style', faces[1]!, '--layer-index', '7', '--out', path.join(dir, 'mix7')]);
    expect(exact.code, exact.err).toBe(0);
    expect(exact.out).toMatch(/layer index 7 of 8: --layer-index 7 given as an exact index/);
    const m7 = rows(path.join(dir, 'mix7', 'mixed.npy'));
    expect(m7.slice(0, 7 * D)).toEqual(c.slice(0, 7 * D));
    expect(m7.slice(7 * D)).toEqual(s.slice(7 * D));
    const bad = sgi(['mix', ...common(), '--content', faces[0]!, '--style', 'pretrained/editing/smile.npy', '--out', path.join(dir, 'mb')]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/smile\.npy has shape \[18, 512\], but this generator's W\+ is \[8, 16\]/);
  });
});
