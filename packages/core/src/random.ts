// Seeded random numbers (xoshiro128**), so every run, test and checkpoint is reproducible.
// The generator state is four 32-bit words; getState()/setState() let checkpoints resume exactly.
import { Tensor, type Device } from './tensor.js';
import type { Shape } from './shape.js';
import { numelOf } from './shape.js';

export class Rng {
  private s = new Uint32Array(4);
  constructor(seed = 0) {
    this.seed(seed);
  }
  seed(seed: number): void {
    // splitmix32 to spread the seed over the state
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (!this.s.some((v) => v !== 0)) this.s[0] = 1;
  }
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = this.next();
    while (u <= 1e-12) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
  getState(): number[] {
    return [...this.s];
  }
  setState(state: readonly number[]): void {
    if (state.length !== 4) throw new Error('Rng.setState: expected 4 words');
    this.s.set(state.map((v) => v >>> 0));
  }
  randn(shape: Shape, device: Device = 'cpu', std = 1): Tensor {
    const data = new Float32Array(numelOf(shape));
    for (let i = 0; i < data.length; i++) data[i] = this.normal() * std;
    return Tensor.fromArray(data, shape, device);
  }
  uniform(shape: Shape, lo: number, hi: number, device: Device = 'cpu'): Tensor {
    const data = new Float32Array(numelOf(shape));
    for (let i = 0; i < data.length; i++) data[i] = lo + (hi - lo) * this.next();
    return Tensor.fromArray(data, shape, device);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
