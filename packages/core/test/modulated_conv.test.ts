import { describe, it, expect } from 'vitest';
import { Tensor, ops, native, noGrad, tidy } from '../src/index.js';
import {
  demodulateAddNoise, makeBlurKernel, modulatedConv2d, modulatedConv2dGrouped, scaleChannels, upsampleBlurPad, upsamplePad,
} from '../src/ops/modulated_conv.js';
import { expectClose, fixtureCases, get, gradcheck, loadFixture, randTensor, toTensor } from './helpers.js';

interface ModConvCase {
  op: string;
  inputs: string[];
  params: string[];
  upsample: boolean;
  demodulate: boolean;
  kernel: number;
  equalized_lr: boolean;
  note: string;
}

/** rosinality's modulation: EqualLinear(style_dim -> Cin, bias init 1, lr_mul 1): W (w * 1/sqrt(style_dim))^T + b. */
function modulation(w: Tensor, modWeight: Tensor, modBias: Tensor): Tensor {
  return ops.linear(w, ops.scale(modWeight, 1 / Math.sqrt(modWeight.shape[1]!)), modBias);
}

describe('modulatedConv2d', () => {
  const f = loadFixture('ops.safetensors');
  const cases = Object.entries(fixtureCases<Record<string, ModConvCase>>(f)).filter(([, c]) => c.op === 'modulated_conv2d');

  it('has fixture cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(3);
  });

  for (const [name, c] of cases) {
    for (const [label, fn] of [['fast', modulatedConv2d], ['grouped', modulatedConv2dGrouped]] as const) {
      it(`${name} (${c.demodulate ? 'demod' : 'no demod'}${c.upsample ? ', upsample' : ''}, k ${c.kernel}) matches the fixture: ${label}`, () => {
        tidy(() => {
          const t: Record<string, Tensor> = {};
          for (const k of [...c.inputs, ...c.params]) t[k] = toTensor(get(f, `${name}.${k}`), true);
          const weight = t.weight!;
          expect(weight.shape[3]).toBe(c.kernel);
          // The fixture's `style` input is the W vector before the modulation EqualLinear.
          expect(t.style!.shape[1]).toBe(t.mod_weight!.shape[1]);
          expect(t.mod_weight!.shape[0]).toBe(weight.shape[2]);
          const s = modulation(t.style!, t.mod_weight!, t.mod_bias!);
          const out = fn(t.x!, weight, s, {
            demodulate: c.demodulate,
            upsample: c.upsample,
            blurKernel: c.upsample ? makeBlurKernel([1, 3, 3, 1], 2) : null,
          });
          expectClose(out, get(f, `${name}.out`), 1e-4, `${name} out`);
          out.backward(toTensor(get(f, `${name}.grad_out`)));
          for (const k of [...c.inputs, ...c.params]) {
            expect(t[k]!.grad, `${name} grad_${k} exists`).not.toBeNull();
            expectClose(t[k]!.grad!, get(f, `${name}.grad_${k}`), 1e-3, `${name} grad_${k}`);
          }
        });
      });
    }
  }

  it('rosinality paddings: blur (1, 1) after the 3x3 transposed conv, Upsample (2, 1)', () => {
    expect(upsampleBlurPad(3, 4)).toEqual([1, 1]);
    expect(upsamplePad(4)).toEqual([2, 1]);
    const k = makeBlurKernel([1, 3, 3, 1], 2).toArray();
    expect(k[0]).toBeCloseTo(1 / 16, 7);
    expect(k[5]).toBeCloseTo(9 / 16, 7);
  });

  const modes = [
    { demodulate: true, upsample: false, k: 3 },
    { demodulate: true, upsample: true, k: 3 },
    { demodulate: false, upsample: false, k: 1 },
  ];
  for (const m of modes) {
    it(`gradcheck (${m.demodulate ? 'demod' : 'no demod'}${m.upsample ? ', upsample' : ''}, k ${m.k})`, () => {
      const blur = makeBlurKernel([1, 3, 3, 1], 2);
      const x = randTensor([2, 3, 5, 5], 11);
      const w = randTensor([1, 4, 3, m.k, m.k], 12);
      const s = randTensor([2, 3], 13, 0.5, 1.5);
      gradcheck((a, b, c) => modulatedConv2d(a, b, c, { ...m, blurKernel: blur }), [x, w, s], { eps: 1e-2, tol: 2e-2 });
    });
  }

  it('x with batch 1 is broadcast over the styles (the constant input), fast == grouped', () => {
    tidy(() => {
      const x = randTensor([1, 3, 4, 4], 21);
      const w = randTensor([1, 5, 3, 3, 3], 22);
      const s = randTensor([3, 3], 23, 0.5, 1.5);
      const a = modulatedConv2d(x, w, s);
      const b = modulatedConv2dGrouped(x, w, s);
      expect(a.shape).toEqual([3, 5, 4, 4]);
      expectClose(a, b.toArray(), 1e-5, 'broadcast x');
      gradcheck((p, q, r) => modulatedConv2d(p, q, r), [x, w, s]);
    });
  });

  it('fused helpers: scaleChannels and demodulateAddNoise match the composed ops and finite differences', () => {
    tidy(() => {
      const s = randTensor([2, 3], 41, 0.5, 1.5);
      for (const xb of [2, 1]) {
        const x = randTensor([xb, 3, 4, 5], 40 + xb);
        expectClose(scaleChannels(x, s), ops.mul(x, ops.reshape(s, [2, 3, 1, 1])).toArray(), 1e-6, `scaleChannels x batch ${xb}`);
        gradcheck((a, b) => scaleChannels(a, b), [x, s]);
      }
      const y = randTensor([2, 3, 4, 5], 43);
      const d = randTensor([2, 3], 44, 0.5, 1.5);
      const nw = randTensor([1], 45);
      for (const nb of [1, 2]) {
        const noise = randTensor([nb, 1, 4, 5], 46 + nb);
        const ref = ops.add(ops.mul(y, ops.reshape(d, [2, 3, 1, 1])), ops.mul(noise, nw));
        expectClose(demodulateAddNoise(y, d, noise, nw), ref.toArray(), 1e-6, `demodulateAddNoise noise batch ${nb}`);
        gradcheck((a, b, n, w) => demodulateAddNoise(a, b, n, w), [y, d, noise, nw]);
        gradcheck((a, n, w) => demodulateAddNoise(a, null, n, w), [y, noise, nw]);
      }
      gradcheck((a, b) => demodulateAddNoise(a, b, null, null), [y, d]);
      // with the fused activation (StyledConv's tail)
      const bias = randTensor([3], 49);
      const noise = randTensor([1, 1, 4, 5], 50);
      const act = (b: Tensor) => ({ bias: b, slope: 0.2, gain: Math.SQRT2 });
      const ref = ops.fusedLeakyRelu(ops.add(ops.mul(y, ops.reshape(d, [2, 3, 1, 1])), ops.mul(noise, nw)), bias, { slope: 0.2, gain: Math.SQRT2 });
      expectClose(demodulateAddNoise(y, d, noise, nw, act(bias)), ref.toArray(), 1e-6, 'demodulateAddNoise + activation');
      gradcheck((a, b, n, w, c) => demodulateAddNoise(a, b, n, w, act(c)), [y, d, noise, nw, bias], { eps: 1e-3 });
      gradcheck((a, c) => demodulateAddNoise(a, null, null, null, act(c)), [y, bias], { eps: 1e-3 });
    });
  });

  it('demodulateAddNoise consuming y frees it and rebuilds the same gradients from the output', () => {
    tidy(() => {
      const d = randTensor([2, 3], 61, 0.5, 1.5), nw = randTensor([1], 62), bias = randTensor([3], 63);
      for (const [nb, withAct, withBias] of [[1, true, true], [2, true, false], [2, false, false], [0, true, true]] as const) {
        const noise = nb ? randTensor([nb, 1, 4, 5], 64 + nb) : null;
        const act = withAct ? { bias: withBias ? bias : null, slope: 0.2, gain: Math.SQRT2 } : null;
        const gradsOf = (consume: boolean) => {
          const y = ops.add(randTensor([2, 3, 4, 5], 60), randTensor([2, 3, 4, 5], 59));  // an intermediate whose producer does not read it back
          for (const t of [d, nw, bias]) t.grad = null;
          const out = demodulateAddNoise(y, d, noise, noise ? nw : null, act, consume);
          expect(y.released).toBe(consume);
          const values = out.toArray();
          out.backward(randTensor([2, 3, 4, 5], 70));
          return { values, gd: d.grad!.toArray(), gw: noise ? nw.grad!.toArray() : null, gb: act?.bias ? bias.grad!.toArray() : null };
        };
        const kept = gradsOf(false), consumed = gradsOf(true);
        const label = `noise batch ${nb}, activation ${withAct}, bias ${withBias}`;
        expectClose(consumed.values, kept.values, 0, `${label}: values`);
        expectClose(consumed.gd, kept.gd, 1e-5, `${label}: gradient of d`);
        if (kept.gw) expectClose(consumed.gw!, kept.gw, 0, `${label}: gradient of the noise weight`);
        if (kept.gb) expectClose(consumed.gb!, kept.gb, 0, `${label}: gradient of the bias`);
      }
    });
  });

  it('noise injection and activation fused into the modulated conv: grad and no-grad paths agree with the reference', () => {
    tidy(() => {
      const blur = makeBlurKernel([1, 3, 3, 1], 2);
      const x = randTensor([2, 3, 4, 4], 51);
      const w = randTensor([1, 4, 3, 3, 3], 52);
      const s = randTensor([2, 3], 53, 0.5, 1.5);
      const nw = randTensor([1], 54);
      for (const upsample of [false, true]) {
        const r = upsample ? 8 : 4;
        const noise = randTensor([1, 1, r, r], 55);
        noise.requiresGrad = false;
        const bias = randTensor([4], 56);
        const activation = { bias, slope: 0.2, gain: Math.SQRT2 };
        const opts = { upsample, blurKernel: blur, noise, noiseWeight: nw, activation };
        const ref = ops.fusedLeakyRelu(ops.add(modulatedConv2dGrouped(x, w, s, { upsample, blurKernel: blur }), ops.mul(noise, nw)), bias).toArray();
        expectClose(modulatedConv2d(x, w, s, opts), ref, 1e-5, `noise, upsample ${upsample}`);
        expectClose(noGrad(() => modulatedConv2d(x, w, s, opts)), ref, 1e-5, `noise, no grad, upsample ${upsample}`);
        gradcheck((a, b, c, e, f) => modulatedConv2d(a, b, c, { ...opts, noiseWeight: e, activation: { ...activation, bias: f } }), [x, w, s, nw, bias], { eps: 1e-3 });
      }
    });
  });

  it('a kept transposed weight (frozen upsampling layers) gives the same values and gradients, and is checked', () => {
    tidy(() => {
      const blur = makeBlurKernel([1, 3, 3, 1], 2);
      const x = randTensor([2, 3, 4, 4], 91), s = randTensor([2, 3], 92, 0.5, 1.5);
      const w = randTensor([1, 4, 3, 3, 3], 93).detach();
      const wt = ops.permute(ops.reshape(w, [4, 3, 3, 3]), [1, 0, 2, 3]);
      const run = (transposedWeight: Tensor | null) => {
        x.grad = null; s.grad = null;
        const y = modulatedConv2d(x, w, s, { upsample: true, blurKernel: blur, transposedWeight });
        const values = y.toArray();
        y.backward(randTensor([...y.shape], 94));
        return { values, gx: x.grad!.toArray(), gs: s.grad!.toArray() };
      };
      const plain = run(null), kept = run(wt);
      expectClose(kept.values, plain.values, 0, 'values');
      expectClose(kept.gx, plain.gx, 0, 'gradient of x');
      expectClose(kept.gs, plain.gs, 0, 'gradient of the style');
      expect(wt.released).toBe(false);  // the caller's copy is not released by the op
      expect(() => modulatedConv2d(x, w, s, { upsample: true, blurKernel: blur, transposedWeight: ops.reshape(w, [4, 3, 3, 3]) }))
        .toThrow(/modulatedConv2d: transposedWeight \[4, 3, 3, 3\] must be \[3, 4, 3, 3\]/);
      expect(() => modulatedConv2d(x, w, s, { transposedWeight: wt })).toThrow(/is for upsampling only/);
    });
  });

  it('without autograd history, intermediates are freed at once', () => {
    const x = randTensor([2, 4, 8, 8], 31);
    const w = randTensor([1, 6, 4, 3, 3], 32);
    const s = randTensor([2, 4], 33);
    const blur = makeBlurKernel([1, 3, 3, 1], 2);
    for (const t of [x, w, s, blur]) t.persistent = true;
    const before = native.memory().liveStorages;
    for (const upsample of [false, true]) {
      const y = noGrad(() => modulatedConv2d(x, w, s, { upsample, blurKernel: blur }));
      expect(native.memory().liveStorages).toBe(before + 1);
      y.release();
    }
    expect(native.memory().liveStorages).toBe(before);
  });

  it('rejects mismatched shapes with clear errors', () => {
    const x = Tensor.zeros([2, 4, 6, 6]);
    expect(() => modulatedConv2d(x, Tensor.zeros([5, 4, 3, 3]), Tensor.zeros([2, 4]))).toThrow(/weight must be \[1, Cout, Cin, k, k\]/);
    expect(() => modulatedConv2d(x, Tensor.zeros([1, 5, 3, 3, 3]), Tensor.zeros([2, 4]))).toThrow(/x must be/);
    expect(() => modulatedConv2d(x, Tensor.zeros([1, 5, 4, 3, 3]), Tensor.zeros([3, 4]))).toThrow(/batch/);
    expect(() => modulatedConv2d(x, Tensor.zeros([1, 5, 4, 3, 3]), Tensor.zeros([2, 4]), { upsample: true })).toThrow(/blurKernel/);
  });
});
