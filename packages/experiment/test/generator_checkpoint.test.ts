// A rosinality StyleGAN2 checkpoint ({g_ema, latent_avg}) read directly from PyTorch's zip and
// legacy formats reproduces the reference synthesis of generator_small.safetensors.
import { describe, it, expect } from 'vitest';
import * as path from 'node:path';
import { StyleGAN2Generator, Tensor, noGrad, stylegan2ConfigFromJson } from '@sgi/core';
import { readGeneratorWeights } from '../src/index.js';
import { expectClose, fixtureCases, fixturesDir, get, loadFixture } from '../../core/test/helpers.js';

describe('rosinality generator checkpoints', () => {
  for (const file of ['generator_small.pt', 'generator_small_legacy.pt']) {
    it(`${file} loads into the generator and reproduces the reference synthesis`, () => {
      const f = loadFixture('generator_small.safetensors');
      const g = new StyleGAN2Generator(stylegan2ConfigFromJson(fixtureCases<{ model: Record<string, unknown> }>(f).model)).eval();
      const w = readGeneratorWeights(path.join(fixturesDir(), file));
      g.loadStateDict(w.state, { context: file });
      expect(w.latentAvg?.shape.reduce((a, b) => a * b, 1)).toBe(g.styleDim);
      const wPlus = Tensor.fromArray(get(f, 'input.w_plus').data, get(f, 'input.w_plus').shape);
      expectClose(noGrad(() => g.synthesis(wPlus)), get(f, 'eval.out0'), 1e-3, `${file} synthesis`);
    });
  }
});
