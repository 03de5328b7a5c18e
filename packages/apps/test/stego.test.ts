// Secure deep hiding: STC embedding/extraction is bit-exact for every height and a range of
// payloads on random and face carriers; +-1 changes only; STC beats LSB replacement for the same
// costs; wrong keys and tampering fail the checksum; oversize payloads are refused before writing;
// quantisation is within half a step; files round-trip through the micro inverter. Prints the
// payload (bpp), stego PSNR and embedding time per carrier size for the docs.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { readNpy } from '@sgi/core';
import { Inverter, checkCodeFits, hideCode, hideImageFile, readCarrierPng, readStegoPixels, revealCode, revealImageFile, writeStegoPng } from '../src/index.js';
import {
  FRAME_BITS, StegoError, capacity, decodePayload, dequantiseCode, embedMessage, encodePayload, extractMessage, frameCoverLength, hillCosts, hhatWidth,
  keyedPermutation, keyedRandom, lsbReplacementDistortion, makeHhat, quantisationSteps, quantiseCode, stcEmbed, stcExtract, type PixelImage,
} from '../src/stego/index.js';
import { microFaces, microInversion, tempDir } from './micro.js';

const rgb = (data: Uint8Array, size: number): PixelImage => ({ data, width: size, height: size, channels: 3, colourChannels: 3 });

function randomImage(size: number, seed: string, channels = 3): PixelImage {
  const rng = keyedRandom(seed, 'test-image');
  const data = new Uint8Array(size * size * channels);
  for (let i = 0; i < data.length; i++) {
    // a quarter of the values saturated at 0/255 to exercise the boundaries
    const r = rng.below(8);
    data[i] = r === 0 ? 0 : r === 1 ? 255 : rng.below(256);
  }
  return { data, width: size, height: size, channels, colourChannels: channels === 4 ? 3 : channels };
}

function randomBytes(n: number, seed: string): Uint8Array {
  const rng = keyedRandom(seed, 'test-bytes');
  return Uint8Array.from({ length: n }, () => rng.below(256));
}

/** Largest |stego - carrier| over all values, and whether alpha (if any) is untouched. */
function diffStats(a: PixelImage, b: PixelImage): { maxAbs: number; alphaSame: boolean } {
  let maxAbs = 0, alphaSame = true;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(a.data[i]! - b.data[i]!);
    if (i % a.channels >= a.colourChannels) {
      if (d) alphaSame = false;
    } else if (d > maxAbs) maxAbs = d;
  }
  return { maxAbs, alphaSame };
}

/** Bytes of a payload of about `bpp` (frame included) in a carrier of `size` x `size`. */
const bytesFor = (bpp: number, size: number) => Math.max(1, Math.floor((bpp * size * size - FRAME_BITS) / 8));

describe('syndrome-trellis codes', () => {
  let faces: PixelImage[];
  beforeAll(async () => {
    const dir = tempDir('stego-faces');
    faces = [];
    for (const f of await microFaces(dir, 2, 64)) faces.push(await readCarrierPng(f));
  });

  it('binary STC: the syndrome of the stego bits is the message, for heights 7..12, and segmentation changes nothing', () => {
    const n = 3000;
    for (let h = 7; h <= 12; h++) {
      for (const m of [30, 300, 1000, 3000]) {
        const rng = keyedRandom(`stc${h}-${m}`, 'x');
        const cover = rng.bits(new Uint8Array(n));
        const costs = Float64Array.from({ length: n }, () => 0.1 + rng.nextU32() / 2 ** 32);
        const msg = rng.bits(new Uint8Array(m));
        const hhat = makeHhat(rng, hhatWidth(n, m), h);
        const r = stcEmbed(cover, costs, msg, hhat, h);
        expect(Array.from(stcExtract(r.stego, m, hhat)), `h=${h} m=${m}`).toEqual(Array.from(msg));
        // a tiny decision memory cuts the trellis into segments: the same optimum
        const seg = stcEmbed(cover, costs, msg, hhat, h, { maxPathBytes: 1 << 12 });
        expect(seg.segments).toBeGreaterThan(1);
        expect(Array.from(seg.stego)).toEqual(Array.from(r.stego));
      }
    }
    expect(() => makeHhat(keyedRandom('k', 'h'), 4, 13)).toThrow(/height must be an integer from 7 to 12/);
  });

  it('extracts every embedded bit exactly: payloads 0.01-0.3 bpp, heights 7..12, random and face carriers; +-1 changes only', () => {
    const carriers: [string, PixelImage][] = [['random', randomImage(64, 'c1')], ['face0', faces[0]!], ['face1', faces[1]!]];
    let runs = 0;
    for (let h = 7; h <= 12; h++) {
      for (const bpp of h === 10 ? [0.01, 0.05, 0.1, 0.2, 0.3] : [0.01, 0.1, 0.3]) {
        for (const [name, img] of carriers) {
          if (name === 'face1' && h !== 10) continue;
          const msg = randomBytes(bytesFor(bpp, 64), `${name}-${h}-${bpp}`);
          const key = `key-${h}-${bpp}`;
          const r = embedMessage(img, msg, { key, height: h });
          const what = `${name} h=${h} ${bpp} bpp`;
          expect(Array.from(extractMessage(r.stego, key)), what).toEqual(Array.from(msg));
          const d = diffStats(img, r.stego);
          expect(d.maxAbs, what).toBeLessThanOrEqual(1);
          expect(r.maxAbsDiff).toBe(d.maxAbs);
          expect(r.changes).toBeGreaterThan(0);
          runs++;
        }
      }
    }
    expect(runs).toBe(5 * 3 + 5 * 3 * 2);
  });

  it('keeps alpha, moves saturated values inwards only, and works on grey carriers', () => {
    const rgba = randomImage(48, 'alpha', 4);
    const msg = randomBytes(bytesFor(0.3, 48), 'alpha');
    const r = embedMessage(rgba, msg, { key: 'a' });
    expect(Array.from(extractMessage(r.stego, 'a'))).toEqual(Array.from(msg));
    const d = diffStats(rgba, r.stego);
    expect(d.alphaSame).toBe(true);
    expect(d.maxAbs).toBe(1); // a wrap-around (0 -> 255) would show as 255
    const grey: PixelImage = { ...randomImage(48, 'grey', 1) };
    const g = embedMessage(grey, msg, { key: 'g' });
    expect(Array.from(extractMessage(g.stego, 'g'))).toEqual(Array.from(msg));
    expect(diffStats(grey, g.stego).maxAbs).toBe(1);
  });

  it('STC distortion is lower than naive LSB replacement at the same payload and costs', () => {
    for (const [name, img] of [['face', faces[0]!], ['random', randomImage(64, 'c2')]] as const) {
      const costs = hillCosts(img.data, img.width, img.height, img.channels);
      // a cap keeps the comparison about placement, not about the 1/eps of flat regions
      for (let i = 0; i < costs.length; i++) costs[i] = Math.min(costs[i]!, 1e3);
      for (const bpp of [0.05, 0.1, 0.3]) {
        const msg = randomBytes(bytesFor(bpp, 64), `d-${bpp}`);
        const r = embedMessage(img, msg, { key: 'd', costs });
        const naive = lsbReplacementDistortion(img, msg, costs, 'd');
        console.log(`[stego] distortion ${name} ${bpp} bpp: STC h=10 ${r.distortion.toFixed(1)} (${r.changes} changes) vs LSB replacement ${naive.distortion.toFixed(1)} (${naive.changes} changes)`);
        expect(r.distortion, `${name} ${bpp} bpp`).toBeLessThan(naive.distortion);
        expect(r.changes).toBeLessThan(naive.changes);
      }
    }
  });

  it('HILL costs: low in texture, high in flat regions, Infinity for alpha', () => {
    const size = 32;
    const data = new Uint8Array(size * size * 4);
    const rng = keyedRandom('hill', 'x');
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) for (let c = 0; c < 4; c++) data[(y * size + x) * 4 + c] = c === 3 ? 255 : x < size / 2 ? 128 : rng.below(256);
    const costs = hillCosts(data, size, size, 4, 3);
    const at = (x: number, y: number, c: number) => costs[(y * size + x) * 4 + c]!;
    expect(at(2, 16, 0)).toBeGreaterThan(1000 * at(29, 16, 0));
    expect(at(5, 5, 3)).toBe(Infinity);
    for (let i = 0; i < costs.length; i++) if (i % 4 !== 3) expect(costs[i]! > 0 && Number.isFinite(costs[i]!)).toBe(true);
  });
});

describe('hidden W+ codes', () => {
  it('quantise/dequantise round-trips within half a step; payloads encode and decode exactly', () => {
    const rng = keyedRandom('q', 'x');
    const normal = () => Math.sqrt(-2 * Math.log(1 - rng.nextU32() / 2 ** 32)) * Math.cos((2 * Math.PI * rng.nextU32()) / 2 ** 32);
    const [L, D] = [10, 64];
    const code = Float32Array.from({ length: L * D }, (_, i) => normal() * (0.2 + Math.floor(i / D)));
    for (const range of ['layer', 'global'] as const) {
      for (const bits of [4, 8, 12, 16]) {
        const q = quantiseCode(code, L, D, bits, range);
        const back = dequantiseCode(q);
        const steps = quantisationSteps(q);
        for (let i = 0; i < code.length; i++) {
          const step = steps[range === 'layer' ? Math.floor(i / D) : 0]!;
          expect(Math.abs(back[i]! - code[i]!), `${range} ${bits} bits, value ${i}`).toBeLessThanOrEqual(step / 2 + 1e-6 * Math.abs(code[i]!) + 1e-7);
        }
        const p = encodePayload(q);
        const d = decodePayload(p);
        expect(d.bits).toBe(bits);
        expect(d.range).toBe(range);
        expect(Array.from(d.q)).toEqual(Array.from(q.q));
        expect(Array.from(dequantiseCode(d))).toEqual(Array.from(back));
      }
    }
    // a constant layer quantises to its value exactly
    const flat = new Float32Array(2 * 4).fill(0.25);
    expect(Array.from(dequantiseCode(quantiseCode(flat, 2, 4, 8)))).toEqual(Array.from(flat));
    // a tampered header (one bit) fails the checksum
    const p = encodePayload(quantiseCode(code, L, D, 8));
    for (const byte of [0, 5, 8, 12, 20, p.length - 1]) {
      const t = p.slice();
      t[byte]! ^= 0x10;
      expect(() => decodePayload(t), `byte ${byte}`).toThrow(StegoError);
      expect(() => decodePayload(t)).toThrow(/checksum failed/);
    }
  });

  it('a wrong key, or any single flipped LSB of the stego, fails the checksum with a clear error', async () => {
    const dir = tempDir('stego-key');
    const [face] = await microFaces(dir, 1, 64);
    const img = await readCarrierPng(face!);
    const code = Float32Array.from({ length: 8 * 16 }, (_, i) => Math.sin(i * 0.37));
    const r = hideCode(img, code, 8, 16, { key: 'right' });
    expect(Array.from(revealCode(r.stego, 'right').quantised.q)).toEqual(Array.from(r.quantised.q));
    for (const key of ['wrong', '', 'righ', 'right ']) {
      expect(() => revealCode(r.stego, key), key).toThrow(StegoError);
      expect(() => revealCode(r.stego, key), key).toThrow(/checksum failed: wrong key, or the image was modified/);
    }
    // flipped LSBs: in the frame region, in the message region, and at random places
    const n = img.width * img.height * 3;
    const perm = keyedPermutation(n, 'right');
    const rng = keyedRandom('flips', 'x');
    const positions = [perm[0]!, perm[5]!, perm[frameCoverLength(n) - 1]!, perm[frameCoverLength(n)]!, perm[n - 1]!, ...Array.from({ length: 15 }, () => rng.below(n))];
    for (const p of positions) {
      const t = { ...r.stego, data: r.stego.data.slice() };
      t.data[p]! ^= 1;
      expect(() => revealCode(t, 'right'), `flip at ${p}`).toThrow(/checksum failed/);
    }
  });

  it('refuses an oversize payload with the numbers, before writing anything; refuses JPEG carriers', async () => {
    const dir = tempDir('stego-size');
    const { config } = microInversion(dir);
    const inv = Inverter.load(config, { runsRoot: dir });
    const [secret] = await microFaces(dir, 1);
    const small = path.join(dir, 'small');
    fs.mkdirSync(small);
    const [carrier32] = await microFaces(small, 1, 32);
    const out = path.join(dir, 'out', 'stego.png');
    await expect(hideImageFile(inv, { secret: secret!, carrier: carrier32!, out, key: 'k' })).rejects.toThrow(/payload too large: 1696 bits \+ 48 frame bits = 1\.703 bpp in a 32x32 carrier, over the maximum of 0\.5 bpp/);
    expect(fs.existsSync(path.dirname(out))).toBe(false);
    expect(() => checkCodeFits({ width: 64, height: 64, colourChannels: 3 }, 8, 16, { bits: 16 })).toThrow(/does not fit: payload too large/);
    expect(capacity({ width: 64, height: 64, colourChannels: 3 }).maxMessageBits).toBe(2000);
    const jpeg = path.join(dir, 'carrier.jpg');
    await sharp(carrier32!).resize(64, 64).jpeg().toFile(jpeg);
    await expect(hideImageFile(inv, { secret: secret!, carrier: jpeg, out, key: 'k' })).rejects.toThrow(/JPEG carriers are refused because lossy \(re\)compression destroys the embedded bits/);
    expect(fs.existsSync(out)).toBe(false);
    inv.release();
  });

  it('hides an inverted face in a PNG and reveals its quantised code and face (micro inverter)', async () => {
    const dir = tempDir('stego-files');
    const { config } = microInversion(dir);
    const inv = Inverter.load(config, { runsRoot: dir });
    const [secret] = await microFaces(dir, 1);
    const cdir = path.join(dir, 'carrier');
    fs.mkdirSync(cdir);
    const [carrier] = await microFaces(cdir, 1, 64);
    const out = path.join(dir, 'stego.png');
    const r = await hideImageFile(inv, { secret: secret!, carrier: carrier!, out, key: 'pass' });
    const stego = await readStegoPixels(out);
    const orig = await readCarrierPng(carrier!);
    expect(diffStats(orig, stego).maxAbs).toBeLessThanOrEqual(1);
    const want = dequantiseCode(quantiseCode(inv.invert(await inv.readImage(secret!)).codes, 8, 16, 8));
    const rev = await revealImageFile(inv, { stego: out, outDir: path.join(dir, 'revealed'), key: 'pass' });
    expect(Array.from(rev.code)).toEqual(Array.from(want));
    expect(Array.from(readNpy(rev.codeNpy).data)).toEqual(Array.from(want));
    expect(fs.existsSync(rev.secretPng)).toBe(true);
    await expect(revealImageFile(inv, { stego: out, outDir: path.join(dir, 'wrong'), key: 'nope' })).rejects.toThrow(/stego\.png: checksum failed/);
    console.log(`[stego] micro code [8, 16] in a 64x64 face: ${r.messageBits} + ${FRAME_BITS} bits = ${r.bpp.toFixed(3)} bpp, PSNR ${r.psnr.toFixed(2)} dB, ${r.changes} changes, ${r.seconds.toFixed(3)} s`);
    inv.release();
  });

  it('figures for the docs: payload, stego PSNR and embedding time at 64 and 256 px', async () => {
    const dir = tempDir('stego-figures');
    const rng = keyedRandom('fig', 'x');
    const code = (n: number) => Float32Array.from({ length: n }, () => (rng.nextU32() / 2 ** 32 - 0.5) * 4);
    const rows: string[] = [];
    for (const size of [64, 256]) {
      const sdir = path.join(dir, `s${size}`);
      fs.mkdirSync(sdir);
      const [face] = await microFaces(sdir, 1, size);
      const img = await readCarrierPng(face!);
      const shapes: [number, number][] = size === 64 ? [[8, 16]] : [[8, 16], [10, 64]];
      for (const [L, D] of shapes) {
        const c = code(L * D);
        const r = hideCode(img, c, L, D, { key: 'fig', height: 10 });
        const file = path.join(sdir, `stego-${L}x${D}.png`);
        await writeStegoPng(file, r.stego);
        expect(Array.from(revealCode(await readStegoPixels(file), 'fig').quantised.q)).toEqual(Array.from(r.quantised.q));
        rows.push(`[stego] ${size}x${size} face carrier, [${L}, ${D}] code at 8 bits: ${r.embeddedBits} bits = ${r.bpp.toFixed(3)} bpp, PSNR ${r.psnr.toFixed(2)} dB, max |diff| ${r.maxAbsDiff}, ${r.changes} changes, embed ${r.seconds.toFixed(3)} s (HILL ${r.costSeconds.toFixed(3)} s)`);
      }
    }
    for (const row of rows) console.log(row);
  });
});
