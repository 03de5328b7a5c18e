// Running exported ONNX graphs with onnxruntime-node (a devDependency; its CPU binaries ship in the
// package) and comparing with the engine: what the ONNX export tests share.
import { expect } from 'vitest';
import * as ort from 'onnxruntime-node';
import { Module, Rng, Tensor } from '../src/index.js';

/** Runs a model (bytes or file) on float32 inputs; returns every output as [data, dims]. */
export async function runOnnx(model: Uint8Array | string, inputs: Record<string, Tensor>): Promise<Record<string, { data: Float32Array; dims: number[] }>> {
  const session = typeof model === 'string'
    ? await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 })
    : await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(inputs)) feeds[k] = new ort.Tensor('float32', t.toArray(), [...t.shape]);
    const out = await session.run(feeds);
    const res: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (const [k, v] of Object.entries(out)) res[k] = { data: v.data as Float32Array, dims: [...v.dims] };
    return res;
  } finally {
    await session.release();
  }
}

/** The largest |a - b| (shapes must agree). */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** onnxruntime's output matches ours: same shape, max abs difference <= tol (1e-4), finite values. */
export function expectMatch(got: { data: Float32Array; dims: number[] } | undefined, ours: Tensor, what: string, tol = 1e-4): number {
  expect(got, `${what}: onnxruntime gave no such output`).toBeDefined();
  expect(got!.dims, `${what}: shape`).toEqual([...ours.shape]);
  const mine = ours.toArray();
  expect(mine.every(Number.isFinite), `${what}: our output is finite`).toBe(true);
  const d = maxAbsDiff(got!.data, mine);
  expect(d, `${what}: max |onnxruntime - ours|`).toBeLessThanOrEqual(tol);
  return d;
}

/**
 * Gives the parameters and buffers that start as constants (biases, BN statistics, noise weights,
 * PReLU slopes) random values, so that an exporter that drops or misplaces them fails. Variances
 * stay positive.
 */
export function randomizeConstants(m: Module, seed: number): void {
  const rng = new Rng(seed);
  const state = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [name, t] of m.stateDict()) {
    if (t.ndim === 0 || name.endsWith('num_batches_tracked')) continue;
    const values = t.toArray();
    if (values.some((v) => v !== values[0])) continue; // already random
    const r = rng.uniform([t.numel], 0.5, 1.5).toArray();
    const data = name.endsWith('running_var') ? r : name.includes('noise') ? r.map((v) => v - 1) : r.map((v, i) => (i % 2 ? v - 1 : 1 - v) + values[0]!);
    state.set(name, { shape: t.shape, data });
  }
  m.loadStateDict(state, { strict: false });
}
