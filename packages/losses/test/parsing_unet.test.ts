import { describe, it, expect } from 'vitest';
import { ParsingUNet } from '@sgi/losses';
import { loadFixture, fixtureCases, get, toTensor, expectClose } from '../../core/test/helpers.js';
import { paramsOf, weightedSum } from './util.js';

interface UNetMeta { model: { feature_scale: number; filters: number[]; n_classes: number } }

describe('CelebAMask-HQ parsing UNet', () => {
  const f = loadFixture('unet_small.safetensors');
  const meta = fixtureCases<UNetMeta>(f).model;
  const build = () => {
    const net = new ParsingUNet({ featureScale: meta.feature_scale, classes: meta.n_classes, inChannels: 3 });
    net.loadStateDict(paramsOf(f), { context: 'unet_small' });
    return net.eval();
  };

  it('derives the filters from feature_scale', () => {
    expect(build().filters).toEqual(meta.filters);
  });

  it('matches the logits, the 5 parsing-loss features and the gradients (eval)', () => {
    const net = build();
    const x = toTensor(get(f, 'input.x'), true);
    const { features, logits } = net.forwardAll(x, true);
    const outs = [logits!, ...features];
    outs.forEach((o, i) => expectClose(o, get(f, `eval.out${i}`), 1e-3, `out${i}`));
    weightedSum(outs, outs.map((_, i) => toTensor(get(f, `eval.grad_out${i}`)))).backward();
    expectClose(x.grad!, get(f, 'eval.grad_input.x'), 5e-3, 'grad x');
    for (const [name, p] of net.namedParameters()) {
      const key = `eval.grad_param.${name}`;
      expect(f.tensors.has(key), key).toBe(true);
      expectClose(p.grad!, get(f, key), 5e-3, key);
    }
  });

  it('the encoder-only pass gives the same features as the full pass', () => {
    const net = build();
    const x = toTensor(get(f, 'input.x'));
    const a = net.forwardAll(x, false).features;
    const b = net.forwardAll(x, true).features;
    a.forEach((t, i) => expectClose(t, b[i]!.toArray(), 0, `feature ${i}`));
  });
});
