import { describe, it, expect } from 'vitest';
import { Tensor, loadTensors, noGrad, ops } from '@sgi/core';
import { LPIPS } from '@sgi/losses';
import { loadFixture, get, toTensor, expectClose, repoFile, randTensor } from '../../core/test/helpers.js';
import { paramsOf } from './util.js';

function fixtureLPIPS(): LPIPS {
  const f = loadFixture('lpips_small.safetensors');
  const lpips = new LPIPS({ load: false });
  lpips.net.loadStateDict(paramsOf(f), { context: 'lpips_small' });
  lpips.lin.loadStateDict(new Map([0, 1, 2, 3, 4].map((k) => [`lin${k}.model.1.weight`, get(f, `lin${k}`)])), { context: 'lpips_small lins' });
  return lpips;
}

describe('LPIPS v0.1 (AlexNet)', () => {
  it('matches the fixture distances and the gradient w.r.t. x', () => {
    const f = loadFixture('lpips_small.safetensors');
    const lpips = fixtureLPIPS();
    const x = toTensor(get(f, 'input.x'), true);
    const y = toTensor(get(f, 'input.y'));
    const d = lpips.distance(x, y);
    expectClose(d, get(f, 'out'), 1e-3, 'lpips distance');
    ops.sum(d).backward();
    expectClose(x.grad!, get(f, 'grad_input.x'), 5e-3, 'lpips grad x');
    // the loss networks are frozen: no parameter gradients
    for (const p of [...lpips.net.parameters(), ...lpips.lin.parameters()]) expect(p.grad).toBeNull();
  });

  it('loads the shipped real v0.1 linear layers (pretrained/, legacy CUDA-tagged pickle)', () => {
    const file = repoFile('pretrained/lpips_alex_v0.1.pth');
    const f = loadFixture('lpips_small.safetensors');
    const lpips = new LPIPS({ linear: file, alexnet: '/nonexistent/alexnet.pth', randomInit: true });
    expect(lpips.randomInitialised).toEqual(['lpips.alexnet']);
    for (let k = 0; k < 5; k++) {
      const w = lpips.lin.lins[k]!.weight;
      expectClose(w, get(f, `lin${k}`), 0, `lin${k}`);
    }
    const raw = loadTensors(file).tensors;
    expect([...raw.keys()].sort()).toEqual([0, 1, 2, 3, 4].map((k) => `lin${k}.model.1.weight`));
  });

  it('is 0 for identical images and grows with the noise level', () => {
    const lpips = fixtureLPIPS();
    const x = randTensor([2, 3, 64, 64], 5).requireGrad(false);
    noGrad(() => {
      const same = lpips.distance(x, x).toArray();
      for (const v of same) expect(Math.abs(v)).toBeLessThan(1e-7);
      let prev = 0;
      for (const level of [0.02, 0.1, 0.3, 0.8]) {
        const noise = ops.scale(randTensor([2, 3, 64, 64], 17).requireGrad(false), level);
        const v = lpips.forward(ops.add(x, noise), x).item();
        expect(v).toBeGreaterThan(prev);
        prev = v;
      }
    });
  });

  it('rejects mismatched inputs', () => {
    const lpips = fixtureLPIPS();
    expect(() => lpips.distance(Tensor.zeros([1, 3, 64, 64]), Tensor.zeros([1, 3, 32, 32]))).toThrow(/same shape/);
  });
});
