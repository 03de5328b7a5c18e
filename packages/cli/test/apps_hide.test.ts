// sgi hide / sgi reveal as a user runs them (the built dist/main.js) on the micro inversion config:
// the revealed code equals the quantised code of the secret, secret.png is written, a wrong key
// fails the checksum, and JPEG or too-small carriers are refused before anything is written.
// Build first: npx tsc -b packages/cli
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { readNpy } from '@sgi/core';
import { Inverter, stego } from '@sgi/apps';
import { microFaces, microInversion, tempDir } from '../../apps/test/micro.js';
import { cli, sgi } from './sgi.js';



describe('sgi hide / sgi reveal', () => {
  let dir: string, config: string, secret: string, carrier: string;
  beforeAll(async () => {
    dir = tempDir('cli-hide');
    ({ config } = microInversion(dir));
    [secret] = (await microFaces(dir, 1)) as [string];
    const cdir = path.join(dir, 'carrier');
    fs.mkdirSync(cdir);
    [carrier] = (await microFaces(cdir, 1, 64)) as [string];
  });

  it('--help shows the options', () => {
    for (const [c, opts] of [['hide', ['--config', '--secret', '--carrier', '--out', '--key', '--bits', '--height']], ['reveal', ['--config', '--stego', '--out', '--key']]] as const) {
      const h = sgi([c, '--help']);
      expect(h.code, h.err).toBe(0);
      expect(h.out.split('\n')[0]).toBe(`sgi ${c}`);
      for (const o of opts) expect(h.out).toMatch(new RegExp(`^ {2}${o}`, 'm'));
    }
  });

  it('hide then reveal gives the quantised code of the secret and its face', () => {
    const out = path.join(dir, 'stego.png');
    const h = sgi(['hide', '--config', config, '--secret', secret, '--carrier', carrier, '--out', out, '--key', 'open sesame', '--bits', '8', '--height', '10']);
    expect(h.code, h.err).toBe(0);
    console.log(h.out.trim());
    expect(h.out).toMatch(/payload: 1696 bits \(212 bytes with header and CRC-32\) \+ 48 frame bits = 0\.4258 bpp/);
    expect(h.out).toMatch(/max \|difference\| 1; stego PSNR vs carrier \d+\.\d+ dB/);
    expect(h.out).toMatch(/embedding time: \d+\.\d+ s/);
    expect(fs.existsSync(out)).toBe(true);

    const rdir = path.join(dir, 'revealed');
    const r = sgi(['reveal', '--config', config, '--stego', out, '--out', rdir, '--key', 'open sesame']);
    expect(r.code, r.err).toBe(0);
    expect(fs.existsSync(path.join(rdir, 'secret.png'))).toBe(true);
    const got = readNpy(path.join(rdir, 'secret.npy'));
    expect(got.shape).toEqual([8, 16]);
    return (async () => {
      const inv = Inverter.load(config, { runsRoot: dir });
      const code = inv.invert(await inv.readImage(secret)).codes;
      inv.release();
      const want = stego.dequantiseCode(stego.quantiseCode(code, 8, 16, 8));
      expect(Array.from(got.data)).toEqual(Array.from(want));
      const meta = await sharp(path.join(rdir, 'secret.png')).metadata();
      expect([meta.width, meta.height]).toEqual([32, 32]);

      const w = sgi(['reveal', '--config', config, '--stego', out, '--out', path.join(dir, 'wrong'), '--key', 'open sesame!']);
      expect(w.code).toBe(1);
      expect(w.err).toMatch(/^error: .*stego\.png: checksum failed: wrong key, or the image was modified/m);
      expect(fs.existsSync(path.join(dir, 'wrong'))).toBe(false);
    })();
  });

  it('refuses a JPEG carrier and an oversize payload before writing anything', async () => {
    const jpeg = path.join(dir, 'carrier.jpg');
    await sharp(carrier).jpeg().toFile(jpeg);
    const out = path.join(dir, 'refused', 'stego.png');
    const j = sgi(['hide', '--config', config, '--secret', secret, '--carrier', jpeg, '--out', out]);
    expect(j.code).toBe(1);
    expect(j.err).toMatch(/^error: .*JPEG carriers are refused because lossy \(re\)compression destroys the embedded bits/m);
    const s = sgi(['hide', '--config', config, '--secret', secret, '--carrier', secret, '--out', out, '--key', 'k']);
    expect(s.code).toBe(1);
    expect(s.err).toMatch(/^error: .*payload too large: 1696 bits \+ 48 frame bits = 1\.703 bpp in a 32x32 carrier, over the maximum of 0\.5 bpp/m);
    expect(fs.existsSync(path.dirname(out))).toBe(false);
  });
});
