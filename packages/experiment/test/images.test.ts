// Image files: transparency is composited on white (not black), unreadable files name themselves.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { loadImage, IMAGE_BACKGROUND } from '../src/index.js';
import { tempDir } from './micro.js';

describe('image files', () => {
  it('transparent pixels are composited on white by default, or on the background asked for', async () => {
    const dir = tempDir('alpha');
    const file = path.join(dir, 'clear.png');
    // left half: fully transparent black; right half: opaque red
    const px = Buffer.alloc(8 * 8 * 4);
    for (let y = 0; y < 8; y++) for (let x = 4; x < 8; x++) px.set([255, 0, 0, 255], (y * 8 + x) * 4);
    await sharp(px, { raw: { width: 8, height: 8, channels: 4 } }).png().toFile(file);
    expect(IMAGE_BACKGROUND).toBe('#ffffff');
    const img = await loadImage(file, 8);
    const at = (c: number, y: number, x: number) => img[c * 64 + y * 8 + x]!;
    for (const c of [0, 1, 2]) expect(at(c, 3, 0)).toBeCloseTo(1, 2); // white, not black (-1)
    expect(at(0, 3, 7)).toBeCloseTo(1, 2);
    expect(at(1, 3, 7)).toBeCloseTo(-1, 2);
    const grey = await loadImage(file, 8, { background: '#808080' });
    expect(grey[3 * 8]!).toBeCloseTo(128 / 127.5 - 1, 2);
  });

  it('an unreadable file is an error that names it', async () => {
    const dir = tempDir('bad');
    const file = path.join(dir, 'broken.png');
    fs.writeFileSync(file, 'not a png');
    await expect(loadImage(file, 8)).rejects.toThrow(/cannot read image .*broken\.png/);
  });
});
