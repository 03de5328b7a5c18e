// The IDS networks: ArcFace / CurricularFace load from a path (here: a checkpoint written from a
// seeded network, as real weights are not available offline) and reproduce that network.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng, noGrad, writeSafetensors } from '@sgi/core';
import { ArcFace, CURRICULARFACE_IR101, ARCFACE_IRSE50, faceCrop } from '@sgi/losses';
import { createIdentityNetwork } from '../src/index.js';

describe('identity networks for IDS', () => {
  for (const [name, cfg] of [['curricularface', CURRICULARFACE_IR101], ['arcface', ARCFACE_IRSE50]] as const) {
    it(`${name} loads its weights by path and gives the network's embeddings`, () => {
      const net = new ArcFace(cfg, new Rng(7)).eval();
      if (name === 'curricularface') {
        const units = [...net.stateDict().keys()].filter((k) => /^body\.\d+\.res_layer\.0\.weight$/.test(k)).length;
        expect(units).toBe(49); // IR-101: 3 + 13 + 30 + 3 units
        expect([...net.stateDict().keys()].some((k) => k.includes('.fc1.'))).toBe(false); // no SE gates
      }
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-ids-')), `${name}.safetensors`);
      writeSafetensors(file, [...net.stateDict()].map(([k, t]) => [k, { shape: t.shape, data: t.toArray() }]));
      const id = createIdentityNetwork({ network: name, checkpoint: file });
      const x = new Rng(8).uniform([2, 3, 256, 256], -1, 1);
      const ours = noGrad(() => id.embed(x)).toArray();
      expect(ours.length).toBe(2 * 512);
      // the same crop-and-pool as the loss, then the network
      const ref = noGrad(() => net.forward(faceCrop(x, 112))).toArray();
      let maxDiff = 0;
      for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i]! - ours[i]!));
      expect(maxDiff).toBeLessThan(1e-5);
    });
  }

  it('asks for the checkpoint of a network that has no npm weights', () => {
    expect(() => createIdentityNetwork({ network: 'curricularface' })).toThrow(/--id-checkpoint <CurricularFace_Backbone\.pth/);
  });
});
