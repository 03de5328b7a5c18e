// Editing directions (InterFaceGAN, Shen et al. 2020): for a binary attribute, the unit normal of a
// linear boundary in W that separates latent codes with and without it. Fitted here by L2-regularised
// logistic regression (full-batch gradient descent with a backtracking step; the codes are
// standardised first, and the normal is mapped back to W). A W+ direction repeats the normal on
// every layer: moving W+ along it by a strength s adds or removes the attribute.
import { writeNpy } from '@sgi/core';

export interface FittedDirection {
  /** Unit normal in W [D] (points towards the attribute). */
  normal: Float32Array;
  /** Training accuracy of the boundary (how linearly separable the attribute is in W). */
  accuracy: number;
  /**
   * Mean projection onto the normal of the codes with the attribute minus that of the codes
   * without it: the strength of an edit that takes a typical face across (in W units).
   */
  separation: number;
  positives: number;
  count: number;
}

/**
 * Fits the boundary of `labels` (0/1 per code) over codes [n, D] (row-major). Throws when a
 * class is empty: a boundary needs examples on both sides.
 */
export function fitDirection(codes: Float32Array, labels: ArrayLike<number>, D: number, opts: { l2?: number; iterations?: number } = {}): FittedDirection {
  const n = labels.length;
  if (codes.length !== n * D) throw new Error(`fitDirection: ${codes.length} code values for ${n} labels of dimension ${D} (expected ${n * D})`);
  const positives = Array.from(labels).filter((y) => y === 1).length;
  if (positives === 0 || positives === n) throw new Error(`fitDirection: all ${n} examples have label ${positives ? 1 : 0}; a boundary needs both`);
  // standardise each dimension
  const mean = new Float64Array(D), std = new Float64Array(D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) mean[d] += codes[i * D + d]! / n;
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) std[d] += (codes[i * D + d]! - mean[d]!) ** 2 / n;
  for (let d = 0; d < D; d++) std[d] = Math.sqrt(std[d]!) || 1;
  const x = new Float64Array(n * D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) x[i * D + d] = (codes[i * D + d]! - mean[d]!) / std[d]!;
  const l2 = opts.l2 ?? 1e-3;
  const w = new Float64Array(D + 1); // weights and bias
  const objective = (v: Float64Array, grad?: Float64Array): number => {
    let f = 0;
    grad?.fill(0);
    for (let i = 0; i < n; i++) {
      let z = v[D]!;
      for (let d = 0; d < D; d++) z += v[d]! * x[i * D + d]!;
      const y = labels[i]!;
      // log(1 + e^z) - y z, computed stably
      f += (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) - y * z;
      if (grad) {
        const r = 1 / (1 + Math.exp(-z)) - y;
        for (let d = 0; d < D; d++) grad[d] += r * x[i * D + d]!;
        grad[D] += r;
      }
    }
    let reg = 0;
    for (let d = 0; d < D; d++) reg += v[d]! ** 2;
    if (grad) {
      for (let d = 0; d <= D; d++) grad[d] /= n;
      for (let d = 0; d < D; d++) grad[d] += l2 * v[d]!;
    }
    return f / n + 0.5 * l2 * reg;
  };
  const grad = new Float64Array(D + 1), trial = new Float64Array(D + 1);
  let step = 1;
  let f = objective(w, grad);
  for (let it = 0; it < (opts.iterations ?? 300); it++) {
    let g2 = 0;
    for (const g of grad) g2 += g * g;
    if (g2 < 1e-12) break;
    // backtracking line search (Armijo)
    for (;;) {
      for (let d = 0; d <= D; d++) trial[d] = w[d]! - step * grad[d]!;
      const ft = objective(trial);
      if (ft <= f - 0.5 * step * g2 || step < 1e-8) break;
      step /= 2;
    }
    w.set(trial);
    f = objective(w, grad);
    step *= 2;
  }
  // accuracy, and the normal in W's own coordinates (undo the standardisation), unit length
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let z = w[D]!;
    for (let d = 0; d < D; d++) z += w[d]! * x[i * D + d]!;
    if ((z > 0 ? 1 : 0) === labels[i]) correct++;
  }
  const normal = new Float32Array(D);
  let norm = 0;
  for (let d = 0; d < D; d++) norm += (w[d]! / std[d]!) ** 2;
  norm = Math.sqrt(norm) || 1;
  for (let d = 0; d < D; d++) normal[d] = w[d]! / std[d]! / norm;
  let pos = 0, neg = 0;
  for (let i = 0; i < n; i++) {
    let p = 0;
    for (let d = 0; d < D; d++) p += normal[d]! * codes[i * D + d]!;
    if (labels[i] === 1) pos += p / positives; else neg += p / (n - positives);
  }
  return { normal, accuracy: correct / n, separation: pos - neg, positives, count: n };
}

/** A W+ direction [nLatent, D]: the normal repeated on every layer. */
export function wPlusDirection(normal: Float32Array, nLatent: number): { shape: [number, number]; data: Float32Array } {
  const D = normal.length;
  const data = new Float32Array(nLatent * D);
  for (let l = 0; l < nLatent; l++) data.set(normal, l * D);
  return { shape: [nLatent, D], data };
}

/** Writes a W+ direction as .npy (the format the editing directions ship in). */
export function writeDirection(file: string, normal: Float32Array, nLatent: number): void {
  writeNpy(file, wPlusDirection(normal, nLatent));
}
