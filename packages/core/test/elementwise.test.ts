import { describe, it, expect } from 'vitest';
import { Tensor, ops, tidy, native } from '../src/index.js';
import { gradcheck, randTensor } from './helpers.js';

describe('element-wise ops', () => {
  it('broadcasts add/sub/mul/div like NumPy', () => {
    const a = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = Tensor.fromArray([10, 20, 30], [3]);
    expect([...ops.add(a, b).toArray()]).toEqual([11, 22, 33, 14, 25, 36]);
    expect([...ops.sub(a, b).toArray()]).toEqual([-9, -18, -27, -6, -15, -24]);
    const c = Tensor.fromArray([2, 4], [2, 1]);
    expect([...ops.mul(a, c).toArray()]).toEqual([2, 4, 6, 16, 20, 24]);
    expect([...ops.div(a, c).toArray()]).toEqual([0.5, 1, 1.5, 1, 1.25, 1.5]);
  });

  it('rejects shapes that do not broadcast, naming both', () => {
    const a = Tensor.zeros([2, 3]);
    const b = Tensor.zeros([4]);
    expect(() => ops.add(a, b)).toThrow(/\[2, 3\] and \[4\]/);
  });

  it('sums and means over dims', () => {
    const a = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    expect([...ops.sum(a, 1).toArray()]).toEqual([6, 15]);
    expect([...ops.sum(a, 0).toArray()]).toEqual([5, 7, 9]);
    expect(ops.mean(a).item()).toBeCloseTo(3.5);
  });

  it('gradients of binary ops with broadcasting match finite differences', () => {
    for (const f of [ops.add, ops.sub, ops.mul, ops.div, ops.maximum]) {
      const a = randTensor([3, 4], 1);
      const b = ops.addScalar(randTensor([4], 2, 0.5, 1.5), 0).detach().requireGrad();
      gradcheck((x, y) => f(x, y), [a, b]);
    }
  });

  it('gradients of unary ops match finite differences', () => {
    const pos = randTensor([2, 5], 3, 0.5, 2);
    for (const f of [ops.exp, ops.log, ops.sqrt, ops.rsqrt, ops.sigmoid, ops.tanh, ops.square, ops.reciprocal, (x: Tensor) => ops.pow(x, 1.7)]) {
      gradcheck((x) => f(x), [pos]);
    }
    const any = randTensor([2, 5], 4);
    for (const f of [ops.neg, ops.relu, (x: Tensor) => ops.leakyRelu(x, 0.2), (x: Tensor) => ops.scale(x, 3)]) gradcheck((x) => f(x), [any]);
  });

  it('gradients of sum, mean, expand, permute, slice, cat, reshape', () => {
    const x = randTensor([2, 3, 4], 5);
    gradcheck((t) => ops.sum(t, [0, 2], true), [x]);
    gradcheck((t) => ops.mean(t, 1), [x]);
    gradcheck((t) => ops.expand(ops.sum(t, 1, true), [2, 3, 4]), [x]);
    gradcheck((t) => ops.permute(t, [2, 0, 1]), [x]);
    gradcheck((t) => ops.slice(t, 2, 1, 3), [x]);
    gradcheck((t) => ops.reshape(t, [6, 4]), [x]);
    const y = randTensor([2, 5, 4], 6);
    gradcheck((a, b) => ops.cat([a, b], 1), [x, y]);
  });

  it('releases memory: 1000 iterations inside scopes leave no live storages behind', () => {
    const w = randTensor([64, 64], 9);
    w.persistent = true;
    const before = native.memory().liveStorages;
    for (let i = 0; i < 1000; i++) {
      tidy(() => {
        const y = ops.sum(ops.square(ops.mul(w, 1.5)));
        y.backward();
        w.grad?.release();
        w.grad = null;
      });
    }
    expect(native.memory().liveStorages).toBe(before);
  });

  it('use after release and corrupt arguments raise clear errors', () => {
    const t = Tensor.zeros([3]);
    t.release();
    expect(() => t.toArray()).toThrow(/used after release/);
    expect(() => native.fill({} as never, 1)).toThrow(/fill: argument 'out'/);
    const a = Tensor.zeros([4]);
    expect(() => native.unaryForward(0, a.storage, Tensor.zeros([3]).storage, 0)).toThrow(/'y' has 3 elements, expected 4/);
  });
});
