// The IR-SE backbone's fused inference path (nn/inference.ts, models/irse.ts): in eval mode with
// frozen weights and no gradient wanted, BatchNorms and PReLUs are folded into the convolutions.
// It must give the layers' values, follow new weights (loadStateDict), and stay out of the way
// whenever a gradient is needed or the model trains.
import { describe, it, expect } from 'vitest';
import { IRSEBackbone, Rng, Tensor, native, noGrad, ops, tidy } from '../src/index.js';
import { expectClose } from './helpers.js';

/** A small IR-SE (two stages, SE gates, shortcut convolutions and max-pool shortcuts) with non-trivial BatchNorm statistics. */
function backbone(seed: number): IRSEBackbone {
  const net = new IRSEBackbone({ inChannels: 3, widths: [16, 32], units: [2, 2], seReduction: 4 }, new Rng(seed));
  const rng = new Rng(seed + 100);
  const state = new Map<string, Tensor>();
  for (const [name, t] of net.stateDict()) {
    if (name.endsWith('running_var')) state.set(name, rng.uniform([...t.shape], 0.5, 2));
    else if (name.endsWith('running_mean') || name.endsWith('bn.bias') || /\.(bias)$/.test(name)) state.set(name, rng.uniform([...t.shape], -0.3, 0.3));
    else if (name.endsWith('num_batches_tracked')) state.set(name, t);
    else state.set(name, t.shape.length === 1 ? rng.uniform([...t.shape], 0.5, 1.5) : t);
  }
  net.loadStateDict(state);
  return net;
}

/** Counts calls of a native function while fn runs. */
function countCalls(name: 'conv2dForwardFused' | 'batchNormForward' | 'adaptiveAvgPool2dForward', fn: () => void): number {
  const table = native as unknown as Record<string, (...a: unknown[]) => unknown>;
  const original = table[name]!;
  let calls = 0;
  table[name] = (...a: unknown[]) => { calls++; return original.apply(native, a); };
  try { fn(); } finally { table[name] = original; }
  return calls;
}

const stages = (net: IRSEBackbone, x: Tensor) => noGrad(() => net.forwardStages(x)).map((t) => t.toArray());

describe('IR-SE fused inference', () => {
  it('eval mode with frozen weights gives the layers\' values, with BatchNorm folded away', () => {
    tidy(() => {
      const net = backbone(1).eval();
      const x = new Rng(2).randn([2, 3, 32, 32]);
      const plain = stages(net, x);  // trainable parameters: the layers run as written
      net.freeze();
      let fused: Float32Array[] = [];
      expect(countCalls('batchNormForward', () => { fused = stages(net, x); })).toBe(0);
      // the SE gates' means come from the convolutions' channel sums, not from a pooling pass
      expect(countCalls('adaptiveAvgPool2dForward', () => stages(net, x))).toBe(0);
      net.train(false).freeze(false);
      expect(countCalls('adaptiveAvgPool2dForward', () => stages(net, x))).toBe(4);
      expect(fused.length).toBe(2);
      fused.forEach((f, i) => expectClose(f, plain[i]!, 1e-5, `stage ${i}`));
      net.release();
    });
  });

  it('follows new weights: loadStateDict rebuilds the folded weights', () => {
    tidy(() => {
      const net = backbone(1).eval().freeze();
      const other = backbone(7).eval();
      const x = new Rng(3).randn([1, 3, 32, 32]);
      stages(net, x);  // builds the folded weights of the first model
      net.loadStateDict(other.stateDict());
      const want = stages(other, x);  // other's parameters are trainable: unfused
      stages(net, x).forEach((f, i) => expectClose(f, want[i]!, 1e-5, `stage ${i} after loadStateDict`));
      net.release();
      other.release();
    });
  });

  it('stays unfused when a gradient is needed or the model trains', () => {
    tidy(() => {
      const net = backbone(1).eval().freeze();
      const x = new Rng(4).randn([1, 3, 32, 32]).requireGrad();
      // A frozen network inside a loss: the gradient must reach the input.
      const calls = countCalls('conv2dForwardFused', () => {
        const feats = net.forwardStages(x);
        ops.sum(feats[1]!).backward();
      });
      expect(calls).toBe(0);
      expect(x.grad).not.toBeNull();
      net.train();
      expect(countCalls('conv2dForwardFused', () => { noGrad(() => net.forwardStages(x.detach())); })).toBe(0);
      net.release();
    });
  });
});
