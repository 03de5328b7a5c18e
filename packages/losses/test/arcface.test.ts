import { describe, it, expect } from 'vitest';
import { ArcFace } from '@sgi/losses';
import { loadFixture, fixtureCases, get, toTensor, expectClose } from '../../core/test/helpers.js';
import { paramsOf, weightedSum } from './util.js';

interface ArcMeta { model: { widths: number[]; units: number[]; embedding: number; input_size: number } }

describe('ArcFace IR-SE (TreB1eN layout)', () => {
  const f = loadFixture('arcface_small.safetensors');
  const meta = fixtureCases<ArcMeta>(f).model;
  const build = () => {
    const net = new ArcFace({ widths: meta.widths, units: meta.units, embedding: meta.embedding, inputSize: meta.input_size });
    net.loadStateDict(paramsOf(f), { context: 'arcface_small' });
    return net.eval();
  };

  it('has the parameter names of the checkpoints (output_layer 0..4)', () => {
    const names = [...build().stateDict().keys()];
    expect(names).toContain('output_layer.3.weight');
    expect(names).toContain('output_layer.4.running_var');
    expect(names).toContain('body.0.res_layer.5.fc1.weight');
  });

  it('matches the 5 feature levels and gradients in eval mode', () => {
    const net = build();
    const x = toTensor(get(f, 'input.x'), true);
    const { stages, embedding } = net.forwardAll(x);
    const outs = [...stages, embedding];
    expect(outs.length).toBe(5);
    outs.forEach((o, i) => expectClose(o, get(f, `eval.out${i}`), 1e-3, `out${i}`));
    const gouts = outs.map((_, i) => toTensor(get(f, `eval.grad_out${i}`)));
    weightedSum(outs, gouts).backward();
    expectClose(x.grad!, get(f, 'eval.grad_input.x'), 5e-3, 'grad x');
    for (const [name, p] of net.namedParameters()) {
      const key = `eval.grad_param.${name}`;
      if (f.tensors.has(key)) expectClose(p.grad!, get(f, key), 5e-3, key);
    }
  });

  it('passes gradients to the input but not to frozen parameters', () => {
    const net = build().freeze();
    const x = toTensor(get(f, 'input.x'), true);
    const { embedding } = net.forwardAll(x);
    weightedSum([embedding], [toTensor(get(f, 'eval.grad_out4'))]).backward();
    expect(x.grad).not.toBeNull();
    for (const p of net.parameters()) expect(p.grad).toBeNull();
  });
});
