import { describe, it, expect } from 'vitest';
import { Tensor, ops, tidy, native } from '../src/index.js';
import { loadFixture, fixtureCases, get, toTensor, expectClose, gradcheck, randTensor } from './helpers.js';

type Case = { op: string; inputs: string[]; params: string[]; reduction?: string };

const f = loadFixture('ops.safetensors');
const cases = Object.entries(fixtureCases<Record<string, Case>>(f));

const apply: Record<string, (a: Tensor, b: Tensor) => Tensor> = {
  mse_loss: ops.mseLoss,
  one_minus_cosine: ops.cosineLoss,
};

describe('losses: fixture parity', () => {
  const mine = cases.filter(([, c]) => c.op in apply);
  it('has the loss cases', () => {
    for (const op of Object.keys(apply)) expect(mine.some(([, c]) => c.op === op), op).toBe(true);
  });
  for (const [name, c] of mine) {
    it(name, () => {
      if (c.reduction !== undefined) expect(c.reduction).toBe('mean');
      const [ka, kb] = c.inputs as [string, string];
      const a = toTensor(get(f, `${name}.${ka}`), true);
      const b = toTensor(get(f, `${name}.${kb}`), true);
      const out = apply[c.op]!(a, b);
      expect(out.shape).toEqual([]);
      // the fixture stores the scalar as [1]
      expectClose(out.toArray(), get(f, `${name}.out`).data, 1e-4, `${name}.out`);
      const go = get(f, `${name}.grad_out`);
      out.backward(Tensor.fromArray(go.data, []));
      for (const [k, t] of [[ka, a], [kb, b]] as const) {
        const key = `${name}.grad_${k}`;
        if (!f.tensors.has(key)) continue;
        // a detached input (the cosine target) has no gradient: compare as zeros
        const g = t.grad ? t.grad.toArray() : new Float32Array(t.numel);
        expectClose(g, get(f, key).data, 1e-3, key);
      }
    });
  }
});

describe('mseLoss: kernels', () => {
  it('matches a float64 reference on a large input (chunked reduction)', () => {
    const a = randTensor([3, 100003], 1), b = randTensor([3, 100003], 2);
    const ad = a.toArray(), bd = b.toArray();
    let s = 0;
    for (let i = 0; i < ad.length; i++) s += (ad[i]! - bd[i]!) ** 2;
    const loss = ops.mseLoss(a, b);
    expect(Math.abs(loss.item() - s / ad.length)).toBeLessThan(1e-6);
    loss.backward();
    const ref = ad.map((v, i) => (2 * (v - bd[i]!)) / ad.length);
    expectClose(a.grad!.toArray(), ref, 1e-6, 'grad a');
    expectClose(b.grad!.toArray(), ref.map((v) => -v), 1e-6, 'grad b');
  });

  it('gradients match finite differences; one-sided gradients', () => {
    gradcheck((x, y) => ops.mseLoss(x, y), [randTensor([2, 3, 4], 3), randTensor([2, 3, 4], 4)]);
    const t = randTensor([5], 5).detach();
    const p = randTensor([5], 6);
    ops.mseLoss(t, p).backward();
    expect(t.grad).toBeNull();
    expect(p.grad).not.toBeNull();
  });
});

describe('cosineLoss: kernels', () => {
  function reference(a: Float32Array, b: Float32Array, rows: number): number {
    const d = a.length / rows;
    let total = 0;
    for (let r = 0; r < rows; r++) {
      let ab = 0, aa = 0, bb = 0;
      for (let i = r * d; i < (r + 1) * d; i++) { ab += a[i]! * b[i]!; aa += a[i]! ** 2; bb += b[i]! ** 2; }
      total += 1 - ab / (Math.max(Math.sqrt(aa), 1e-8) * Math.max(Math.sqrt(bb), 1e-8));
    }
    return total / rows;
  }

  it('matches a float64 reference for long rows (split across threads) and many short rows', () => {
    for (const shape of [[3, 8, 100, 100], [4096, 32]]) {
      const a = randTensor(shape, 11), b = ops.add(a, randTensor(shape, 12)).detach();
      const v = ops.cosineLoss(a, b).item();
      expect(Math.abs(v - reference(a.toArray(), b.toArray(), shape[0]!))).toBeLessThan(1e-6);
    }
  });

  it('gradient w.r.t. b matches finite differences; the target a gets none', () => {
    const a = randTensor([3, 4, 2, 2], 21), b = randTensor([3, 4, 2, 2], 22);
    gradcheck((x, y) => ops.cosineLoss(x.detach(), y), [a.detach(), b], { eps: 1e-3 });
    const a2 = randTensor([2, 6], 23), b2 = randTensor([2, 6], 24);
    ops.cosineLoss(a2, b2).backward();
    expect(a2.grad).toBeNull();
    expect(b2.grad).not.toBeNull();
    // a zero row has cosine 0 (clamped norms) and finite gradients
    const z = Tensor.zeros([1, 4]).requireGrad();
    const l = ops.cosineLoss(Tensor.ones([1, 4]), z);
    expect(l.item()).toBe(1);
    l.backward();
    expect([...z.grad!.toArray()].every(Number.isFinite)).toBe(true);
  });

  it('leaves no live storages behind', () => {
    const a = randTensor([2, 50], 31), b = randTensor([2, 50], 32);
    a.persistent = true; b.persistent = true;
    const before = native.memory().liveStorages;
    for (let i = 0; i < 200; i++) {
      tidy(() => {
        ops.add(ops.cosineLoss(a, b), ops.mseLoss(a, b)).backward();
        for (const t of [a, b]) { t.grad?.release(); t.grad = null; }
      });
    }
    expect(native.memory().liveStorages).toBe(before);
  });
});

describe('losses: bad input', () => {
  it('names the op and the shapes', () => {
    expect(() => ops.mseLoss(Tensor.zeros([2, 3]), Tensor.zeros([3, 2]))).toThrow(/mseLoss: inputs have shapes \[2, 3\] and \[3, 2\]/);
    expect(() => ops.cosineLoss(Tensor.zeros([2, 3]), Tensor.zeros([2, 4]))).toThrow(/cosineLoss: inputs have shapes \[2, 3\] and \[2, 4\]/);
    expect(() => ops.cosineLoss(Tensor.zeros([5]), Tensor.zeros([5]))).toThrow(/cosineLoss: inputs must be \[batch, \.\.\.\].*\[5\]/);
    expect(() => ops.mseLoss(Tensor.zeros([0]), Tensor.zeros([0]))).toThrow(/mseLoss: inputs are empty/);
  });

  it('the native functions check sizes', () => {
    const a = Tensor.zeros([2, 3]);
    expect(() => native.mseForward(a.storage, Tensor.zeros([5]).storage, Tensor.zeros([]).storage))
      .toThrow(/mseForward: tensor 'b' has 5 elements, expected 6/);
    expect(() => native.cosineLossForward(a.storage, a.storage, Tensor.zeros([2, 2]).storage, Tensor.zeros([]).storage, 2, 3))
      .toThrow(/cosineLossForward: tensor 'stats' has 4 elements, expected 6/);
  });
});
