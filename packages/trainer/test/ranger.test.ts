// Optimizers: Ranger parity with pSp's implementation (ranger.safetensors, 14 steps), Ranger and
// Adam minimising a small quadratic, exact resume from stateDict(), and bad input.
import { describe, it, expect } from 'vitest';
import { Tensor, native, ops, tidy, serializeSafetensors, parseSafetensors } from '@sgi/core';
import { Adam, Ranger, radamStepSize, type Optimizer, type OptimizerNative } from '../src/index.js';
import { loadFixture, fixtureCases, get, toTensor, relError, rng } from '../../core/test/helpers.js';

interface RangerMeta {
  optimizer: string; lr: number; alpha: number; k: number; n_sma_threshold: number;
  betas: [number, number]; eps: number; steps: number;
}

function param(data: ArrayLike<number>, shape: number[], name?: string): Tensor {
  const t = Tensor.fromArray(data, shape).requireGrad();
  t.persistent = true;
  if (name) t.name = name;
  return t;
}

function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

describe('Ranger (pSp) fixture parity', () => {
  const f = loadFixture('ranger.safetensors');
  const meta = fixtureCases<{ model: RangerMeta }>(f).model;

  it('reproduces every step of ranger.safetensors within 1e-5', () => {
    expect(meta.optimizer).toBe('Ranger');
    const init0 = get(f, 'p0.init'), init1 = get(f, 'p1.init');
    const p0 = param(init0.data, init0.shape), p1 = param(init1.data, init1.shape);
    const storages = [p0.storage, p1.storage];
    const opt = new Ranger([p0, p1], {
      lr: meta.lr, betas: meta.betas, eps: meta.eps, alpha: meta.alpha, k: meta.k, nSmaThreshold: meta.n_sma_threshold,
    });
    let worst = 0;
    let live = -1;
    const branches = new Set<boolean>();
    for (let t = 1; t <= meta.steps; t++) {
      branches.add(radamStepSize(t, meta.betas, meta.n_sma_threshold).rectified);
      p0.grad = toTensor(get(f, `step${t}.grad0`));
      p1.grad = toTensor(get(f, `step${t}.grad1`));
      opt.step();
      opt.zeroGrad();
      expect(p0.grad).toBeNull();
      for (const [p, key] of [[p0, `step${t}.p0`], [p1, `step${t}.p1`]] as const) {
        const err = relError(p.toArray(), get(f, key).data);
        worst = Math.max(worst, err);
        expect(err, `${key}: relative error ${err.toExponential(2)}`).toBeLessThanOrEqual(1e-5);
      }
      // In place: same storages, and no storage is allocated per step after the first.
      expect([p0.storage, p1.storage]).toEqual(storages);
      if (t === 1) live = native.memory().liveStorages;
      else expect(native.memory().liveStorages).toBe(live);
    }
    expect(opt.stepCount(0)).toBe(meta.steps);
    // The fixture covers both RAdam branches (and meta.steps >= 2k gives two Lookahead syncs).
    expect([...branches].sort()).toEqual([false, true]);
    expect(meta.steps).toBeGreaterThanOrEqual(2 * meta.k);
    console.log(`ranger.safetensors: max relative error over ${meta.steps} steps ${worst.toExponential(2)}`);
    opt.dispose();
  });

  it('matches pSp\'s RAdam schedule: un-adapted momentum steps until N_sma > 5', () => {
    const b: [number, number] = [0.95, 0.999];
    for (let t = 1; t <= 5; t++) expect(radamStepSize(t, b, 5).rectified).toBe(false);
    for (let t = 6; t <= 20; t++) expect(radamStepSize(t, b, 5).rectified).toBe(true);
    expect(radamStepSize(1, b, 5).stepSize).toBeCloseTo(1 / 0.05, 10);
    expect(radamStepSize(1, b, 5).nSma).toBeCloseTo(1, 9);
  });
});

/** loss = sum(w * (x - c)^2) over each (param, target, weight). */
function quadratic(params: Tensor[], targets: Tensor[], weights: Tensor[]): Tensor {
  let total: Tensor | null = null;
  params.forEach((x, i) => {
    const term = ops.sum(ops.mul(ops.square(ops.sub(x, targets[i]!)), weights[i]!));
    total = total ? ops.add(total, term) : term;
  });
  return total!;
}

function minimise(make: (ps: Tensor[]) => Optimizer, steps: number): { first: number; last: number } {
  const shapes = [[4, 3, 2], [6]];
  const params = shapes.map((s, i) => param(randomArray(s.reduce((a, b) => a * b), 10 + i), s));
  const targets = shapes.map((s, i) => Tensor.fromArray(randomArray(s.reduce((a, b) => a * b), 20 + i, 2), s));
  const weights = shapes.map((s, i) => Tensor.fromArray(randomArray(s.reduce((a, b) => a * b), 30 + i).map((v) => 1 + Math.abs(v)), s));
  const opt = make(params);
  let first = NaN, last = NaN;
  for (let t = 0; t < steps; t++) {
    const value = tidy(() => {
      const loss = quadratic(params, targets, weights);
      loss.backward();
      return loss.item();
    });
    if (t === 0) first = value;
    last = value;
    opt.step();
    opt.zeroGrad();
  }
  opt.dispose();
  return { first, last };
}

describe('optimizers minimise a quadratic', () => {
  it('Ranger', () => {
    // Centralization removes each row's mean gradient of the 3-d parameter, so the part of the
    // loss tied to the row means of w * (x - c) stays out of reach (about 5% remains here).
    const { first, last } = minimise((ps) => new Ranger(ps, { lr: 0.05 }), 300);
    expect(last).toBeLessThan(0.1 * first);
  });
  it('Ranger without gradient centralization', () => {
    const { first, last } = minimise((ps) => new Ranger(ps, { lr: 0.05, useGc: false }), 300);
    expect(last).toBeLessThan(0.01 * first);
  });
  it('Adam', () => {
    const { first, last } = minimise((ps) => new Adam(ps, { lr: 0.05 }), 300);
    expect(last).toBeLessThan(0.01 * first);
  });
  it('AdamW (decoupled weight decay)', () => {
    const { first, last } = minimise((ps) => new Adam(ps, { lr: 0.05, weightDecay: 1e-3, decoupled: true }), 300);
    expect(last).toBeLessThan(0.05 * first);
  });
});

describe('Adam matches a double-precision reference of PyTorch\'s formulas', () => {
  it('with coupled weight decay', () => {
    const n = 7, lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    const x0 = randomArray(n, 3);
    const p = param(x0, [n]);
    const opt = new Adam([p], { lr, weightDecay: wd });
    const ref = Float64Array.from(x0), m = new Float64Array(n), v = new Float64Array(n);
    for (let t = 1; t <= 10; t++) {
      const g = randomArray(n, 100 + t);
      p.grad = Tensor.fromArray(g, [n]);
      opt.step();
      opt.zeroGrad();
      for (let i = 0; i < n; i++) {
        const gi = g[i]! + wd * ref[i]!;
        m[i] = b1 * m[i]! + (1 - b1) * gi;
        v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
        ref[i]! -= (lr / (1 - b1 ** t)) * m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(1 - b2 ** t) + eps);
      }
    }
    expect(relError(p.toArray(), Float32Array.from(ref))).toBeLessThan(1e-6);
    opt.dispose();
  });
});

/** Deterministic gradients of step t for the given params. */
function feedGrads(params: Tensor[], t: number): void {
  params.forEach((p, i) => { p.grad = Tensor.fromArray(randomArray(p.numel, 1000 * t + i), p.shape); });
}

function resumeCase(make: (ps: Tensor[]) => Optimizer, total: number, split: number): void {
  const shapes = [[4, 3, 3, 3], [5], [2, 6]];
  const init = shapes.map((s, i) => randomArray(s.reduce((a, b) => a * b), 50 + i));
  // Uninterrupted run.
  const a = shapes.map((s, i) => param(init[i]!, s));
  const optA = make(a);
  for (let t = 1; t <= total; t++) { feedGrads(a, t); optA.step(); optA.zeroGrad(); }
  // Interrupted run: save params + optimizer state through safetensors bytes, restore into fresh objects.
  const b = shapes.map((s, i) => param(init[i]!, s));
  const optB = make(b);
  for (let t = 1; t <= split; t++) { feedGrads(b, t); optB.step(); optB.zeroGrad(); }
  const entries: [string, { shape: readonly number[]; data: Float32Array }][] = [];
  b.forEach((p, i) => entries.push([`param.${i}`, { shape: p.shape, data: p.toArray() }]));
  for (const [k, t] of optB.stateDict()) entries.push([`optim.${k}`, { shape: t.shape, data: t.toArray() }]);
  const bytes = serializeSafetensors(entries);
  optB.dispose();
  const file = parseSafetensors(bytes);
  const c = shapes.map((s, i) => param(file.tensors.get(`param.${i}`)!.data, s));
  const optC = make(c);
  const dict = new Map<string, Tensor>();
  for (const [k, h] of file.tensors) if (k.startsWith('optim.')) dict.set(k.slice(6), Tensor.fromArray(h.data, h.shape));
  optC.loadStateDict(dict);
  expect(optC.stepCount(0)).toBe(split);
  for (let t = split + 1; t <= total; t++) { feedGrads(c, t); optC.step(); optC.zeroGrad(); }
  a.forEach((p, i) => expect(Array.from(c[i]!.toArray()), `param ${i}`).toEqual(Array.from(p.toArray())));
  optA.dispose();
  optC.dispose();
}

describe('stateDict round trip resumes exactly', () => {
  it('Ranger (resume across the RAdam switch and a Lookahead sync)', () => {
    resumeCase((ps) => new Ranger(ps, { lr: 0.01, weightDecay: 0.01 }), 14, 4);
    resumeCase((ps) => new Ranger(ps, { lr: 0.01 }), 13, 6);
  });
  it('Adam', () => {
    resumeCase((ps) => new Adam(ps, { lr: 0.01, weightDecay: 0.01 }), 9, 4);
  });
});

describe('optimizer bookkeeping and bad input', () => {
  it('skips parameters without gradients', () => {
    const p = param([1, 2, 3], [3]), q = param([4, 5, 6, 7], [2, 2]);
    const opt = new Ranger([p, q], { lr: 0.1 });
    q.grad = Tensor.fromArray([1, -1, 2, 0], [2, 2]);
    opt.step();
    expect(Array.from(p.toArray())).toEqual([1, 2, 3]);
    expect(opt.stepCount(0)).toBe(0);
    expect(opt.stepCount(1)).toBe(1);
    expect([...opt.stateDict().keys()].sort()).toEqual(['1.exp_avg', '1.exp_avg_sq', '1.slow_buffer', '1.step']);
    opt.zeroGrad();
    opt.dispose();
  });

  it('centralizes gradients of >1-d parameters: a row-constant gradient does not move them', () => {
    const q = param([4, 5, 6, 7], [2, 2]);
    const opt = new Ranger([q], { lr: 0.1 });
    q.grad = Tensor.fromArray([3, 3, -2, -2], [2, 2]);
    opt.step();
    expect(Array.from(q.toArray())).toEqual([4, 5, 6, 7]);
    opt.dispose();
  });

  it('state tensors survive scopes', () => {
    const p = param([1, 2], [2]);
    const opt = new Adam([p]);
    tidy(() => { p.grad = Tensor.fromArray([1, 1], [2]); p.grad.persistent = true; opt.step(); });
    const state = opt.stateDict();
    for (const t of state.values()) expect(t.released).toBe(false);
    opt.zeroGrad();
    opt.dispose();
  });

  it('throws clear errors', () => {
    const p = param([1, 2, 3, 4], [2, 2], 'w');
    expect(() => new Ranger([p, p])).toThrow(/appears twice/);
    expect(() => new Ranger([p], { lr: -1 })).toThrow(/lr/);
    expect(() => new Ranger([p], { betas: [1, 0.999] })).toThrow(/betas\[0\]/);
    expect(() => new Ranger([p], { k: 0 })).toThrow(/'k'/);
    const opt = new Ranger([p]);
    p.grad = Tensor.fromArray([1, 2, 3], [3]);
    expect(() => opt.step()).toThrow(/gradient of parameter 0 'w' has shape \[3\]/);
    opt.zeroGrad();
    p.grad = Tensor.fromArray([1, 2, 3, 4], [2, 2]);
    opt.step();
    opt.zeroGrad();
    const good = opt.stateDict();
    const bad = new Map(good);
    bad.set('0.exp_avg', Tensor.zeros([3]));
    expect(() => opt.loadStateDict(bad)).toThrow(/'0.exp_avg' has 3 elements/);
    const missing = new Map(good);
    missing.delete('0.slow_buffer');
    expect(() => opt.loadStateDict(missing)).toThrow(/'0.slow_buffer' is missing/);
    expect(() => opt.loadStateDict(new Map([...good, ['3.step', Tensor.zeros([1])]]))).toThrow(/names parameter 3/);
    expect(() => new Adam([p]).loadStateDict(good)).toThrow(/no Lookahead/);
    opt.dispose();
    expect(() => opt.step()).toThrow(/disposed/);

    const nat = native as unknown as OptimizerNative;
    const s = (n: number) => Tensor.zeros([n]).storage;
    expect(() => nat.optimizerStep(s(6), s(6), s(6), s(6), null, 4, true, 0, 0.9, 0.999, 0.1, 0.001, 1e-8, 0.1, 1, 0, 0, false, 0))
      .toThrow(/optimizerStep: 'rows' \(4\) does not divide/);
    expect(() => nat.optimizerStep(s(6), s(5), s(6), s(6), null, 1, false, 0, 0.9, 0.999, 0.1, 0.001, 1e-8, 0.1, 1, 0, 0, false, 0))
      .toThrow(/tensor 'g' has 5 elements, expected 6/);
    expect(() => nat.optimizerStep(s(6), s(6), s(6), s(6), null, 1, false, 0, 0.9, 0.999, 0.1, 0.001, 1e-8, 0.1, 1, 0, 0, true, 0.5))
      .toThrow(/needs the slow weights/);
    const same = s(6);
    expect(() => nat.optimizerStep(same, same, s(6), s(6), null, 1, false, 0, 0.9, 0.999, 0.1, 0.001, 1e-8, 0.1, 1, 0, 0, false, 0))
      .toThrow(/distinct/);
  });
});
