// The inversion API: codes and reconstructions of a batch, synthesis of codes, shape errors.
import { describe, it, expect } from 'vitest';
import { Inverter, checkCodeShape } from '../src/index.js';
import { microFaces, microInversion, tempDir } from './micro.js';

describe('Inverter', () => {
  it('inverts a batch into W+ codes whose synthesis is the last stage reconstruction', async () => {
    const dir = tempDir('inv');
    const { config } = microInversion(dir);
    const inv = Inverter.load(config, { runsRoot: dir });
    expect(inv.codeShape).toEqual([8, 16]);
    const files = await microFaces(dir, 3);
    const x = new Float32Array(3 * 3 * 32 * 32);
    for (const [i, f] of files.entries()) x.set(await inv.readImage(f), i * 3 * 32 * 32);
    const r = inv.invert(x);
    expect(r.codes.length).toBe(3 * 8 * 16);
    expect(r.stages.length).toBe(2);
    const y = inv.synthesize(r.codes);
    expect(Array.from(y)).toEqual(Array.from(r.stages[1]!));
    expect(() => inv.synthesize(new Float32Array(7))).toThrow(/7 values do not make a batch of shape \[B, 8, 16\]/);
    expect(() => checkCodeShape('age.npy', [18, 512], 8, 16)).toThrow(/age\.npy has shape \[18, 512\], but this generator's W\+ is \[8, 16\]/);
    inv.release();
  });
});
