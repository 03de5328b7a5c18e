// Interpolation between two faces (the paper's Section 5): W_I = lambda W_B + (1 - lambda) W_A for
// lambda from 0 to 1 in N evenly spaced steps, on the W+ codes of two inverted images (or .npy codes).
import { codeValues, type CodeShape, type Latent } from './latents.js';

/** N evenly spaced lambdas from 0 to 1 (both included); N >= 2. */
export function interpolationSteps(steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 2) throw new Error(`--steps must be an integer of at least 2 (got ${steps})`);
  return Array.from({ length: steps }, (_, i) => (i === steps - 1 ? 1 : i / (steps - 1)));
}

/**
 * The codes lambda B + (1 - lambda) A, one per step. Lambda 0 and 1 return exact copies of A and B
 * (bit-identical). Refuses A or B of the wrong shape, naming both shapes.
 */
export function interpolateCodes(a: Latent, b: Latent, steps: number, s: CodeShape): { lambdas: number[]; codes: Float32Array[] } {
  const A = codeValues('latent A', a, s);
  const B = codeValues('latent B', b, s);
  const lambdas = interpolationSteps(steps);
  const codes = lambdas.map((t) => {
    if (t === 0) return A.slice();
    if (t === 1) return B.slice();
    const out = new Float32Array(A.length);
    for (let i = 0; i < A.length; i++) out[i] = t * B[i]! + (1 - t) * A[i]!;
    return out;
  });
  return { lambdas, codes };
}
