// Shared test helpers: fixture loading (FIXTURES_DIR, default fixtures/ in the repository),
// the files that ship with the repository (pretrained/, data/faces), closeness checks with the
// fixtures README's relative metric, and finite-difference gradient checks.
import * as path from 'node:path';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { Tensor, noGrad, tidy, native } from '../src/index.js';
import { readSafetensors, type HostTensor, type SafetensorsFile } from '../src/io/safetensors.js';
import { mulberry32 as rng, relativeError as relError, randTensor } from '../src/cuda_parity.js';

// the fixtures README's relative metric and seeded random numbers and tensors: the CUDA parity table's
export { relError, randTensor, rng };

/** The repository root (this file is packages/core/test/helpers.ts). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The reference fixtures: FIXTURES_DIR when set (relative to the repository root), else fixtures/. */
export function fixturesDir(): string {
  return path.resolve(repoRoot, process.env.FIXTURES_DIR || 'fixtures');
}

/**
 * A file that ships with the repository (e.g. 'pretrained/lpips_alex_v0.1.pth', 'data/faces'),
 * as an absolute path. Throws when it is missing: tests that use it must fail, not skip.
 */
export function repoFile(rel: string): string {
  const file = path.join(repoRoot, rel);
  if (!fs.existsSync(file)) throw new Error(`${file} not found: it ships with the repository (see pretrained/README.md, data/README.md)`);
  return file;
}

const cache = new Map<string, SafetensorsFile>();
export function loadFixture(name: string): SafetensorsFile {
  const file = path.join(fixturesDir(), name);
  if (!fs.existsSync(file)) throw new Error(`fixture ${file} not found (fixtures/ ships with the repository; FIXTURES_DIR overrides it)`);
  let f = cache.get(file);
  if (!f) { f = readSafetensors(file); cache.set(file, f); }
  return f;
}

/** The parsed `cases` metadata entry of a fixture file. */
export function fixtureCases<T = Record<string, any>>(f: SafetensorsFile): T {
  return JSON.parse(f.metadata.cases ?? '{}') as T;
}

export function get(f: SafetensorsFile, key: string): HostTensor {
  const t = f.tensors.get(key);
  if (!t) throw new Error(`fixture key '${key}' missing`);
  return t;
}

export function toTensor(h: HostTensor, requiresGrad = false): Tensor {
  const t = Tensor.fromArray(h.data, h.shape);
  t.requiresGrad = requiresGrad;
  return t;
}

/** max |a-b| / max(1, max |b|), the fixtures' relative error. */
export function expectClose(actual: Tensor | Float32Array, expected: HostTensor | Float32Array, tol: number, label: string): void {
  const a = actual instanceof Tensor ? actual.toArray() : actual;
  const e = expected instanceof Float32Array ? expected : expected.data;
  if (actual instanceof Tensor && !(expected instanceof Float32Array)) {
    expect(actual.shape, `${label}: shape`).toEqual(expected.shape);
  }
  expect(a.length, `${label}: element count`).toBe(e.length);
  const err = relError(a, e);
  expect(err, `${label}: relative error ${err.toExponential(2)} > ${tol}`).toBeLessThanOrEqual(tol);
}

/**
 * Finite-difference gradient check of f (a function of the inputs returning any tensor) using a
 * random projection: loss = sum(f(x) * w). Central differences in float32 with step eps on up to
 * `samples` coordinates of each input.
 */
export function gradcheck(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: { eps?: number; tol?: number; samples?: number; seed?: number } = {}): void {
  const eps = opts.eps ?? 1e-2, tol = opts.tol ?? 2e-2, samples = opts.samples ?? 12;
  const r = rng(opts.seed ?? 7);
  const out0 = f(...inputs);
  const w = Tensor.fromArray(Float32Array.from({ length: out0.numel }, () => r() * 2 - 1), out0.shape);
  const lossOf = (o: Tensor) => {
    const a = o.toArray(), b = w.toArray();
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
    return s;
  };
  for (const x of inputs) x.grad = null;
  // analytic: backward with gradOut = w
  out0.backward(w);
  for (const [k, x] of inputs.entries()) {
    if (!x.requiresGrad) continue;
    const analytic = x.grad ? x.grad.toArray() : new Float32Array(x.numel);
    const base = x.toArray();
    for (let s = 0; s < Math.min(samples, x.numel); s++) {
      const i = Math.floor(r() * x.numel);
      const probe = (delta: number) => {
        const d = base.slice();
        d[i]! += delta;
        const xi = Tensor.fromArray(d, x.shape);
        const args = inputs.map((t, j) => (j === k ? xi : t));
        return noGrad(() => lossOf(f(...args)));
      };
      const numeric = (probe(eps) - probe(-eps)) / (2 * eps);
      const diff = Math.abs(numeric - analytic[i]!);
      const scale = Math.max(1, Math.abs(numeric), Math.abs(analytic[i]!));
      expect(diff / scale, `gradient of input ${k} at ${i}: numeric ${numeric}, analytic ${analytic[i]}`).toBeLessThanOrEqual(tol);
    }
  }
}

/**
 * Runs `outputs()` (ops of x) with 1 thread and with at least 2: the outputs and the gradients of x
 * (for an all-ones upstream gradient of each output) must be identical. Restores the thread count.
 */
export function expectSameWithThreads(x: Tensor, outputs: () => Tensor[]): void {
  const run = () => tidy(() => {
    const outs = outputs();
    const g = outs.map((o) => { x.grad = null; o.backward(Tensor.ones(o.shape)); const a = x.grad!.toArray(); x.grad!.release(); return a; });
    return [...outs.map((o) => o.toArray()), ...g];
  });
  const threads = native.info().cpu.threads;
  native.setNumThreads(1);
  const one = run();
  native.setNumThreads(Math.max(2, threads));
  const two = run();
  native.setNumThreads(threads);
  for (let i = 0; i < one.length; i++) expect(two[i]).toEqual(one[i]);
}

// Per-backend test declarations (imports kept with the helper: ES imports are hoisted).
import { describe, it } from 'vitest';
import { backends, type Device } from '../src/index.js';

/**
 * Declares `fn`'s tests once per backend, inside `describe('on <device>')`:
 *   forEachBackend((device) => { it('adds', () => { ... Tensor.zeros([2], device) ... }); });
 * An unavailable backend (CUDA on a machine without a GPU, or a build without CUDA) shows up
 * as one skipped test whose name carries the reason; `fn` is not called for it, so it may
 * create tensors while declaring tests.
 */
export function forEachBackend(fn: (device: Device) => void): void {
  for (const b of backends()) {
    if (b.available) describe(`on ${b.name}`, () => fn(b.name));
    else describe(`on ${b.name}`, () => it.skip(`${b.name} unavailable: ${b.reason}`, () => {}));
  }
}

/** A hand-made .npy file (format 1.0 or 2.0/3.0 header) with the given header dict and raw data. */
export function npyBytes(dict: string, data: Uint8Array, major = 1): Buffer {
  const pre = major === 1 ? 10 : 12;
  const h = Buffer.from(dict + ' '.repeat((64 - ((pre + dict.length + 1) % 64)) % 64) + '\n', 'latin1');
  const head = Buffer.alloc(pre);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]).copy(head);
  if (major === 1) head.writeUInt16LE(h.length, 8); else head.writeUInt32LE(h.length, 8);
  return Buffer.concat([head, h, data]);
}
