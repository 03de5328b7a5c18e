// Ranger as pSp trains with it: RAdam + Lookahead + gradient centralization.
// Per parameter and step t (counted per parameter):
//   g -= mean(g over all dims but the first)             when g has more than one dimension (GC)
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   rho_max = 2 / (1 - b2) - 1;  rho_t = rho_max - 2 t b2^t / (1 - b2^t)            (N_sma)
//   rho_t > threshold: p -= lr * r_t / (1 - b1^t) * m / (sqrt(v) + eps),
//                      r_t = sqrt((1 - b2^t) (rho_t - 4) / (rho_max - 4) (rho_t - 2) / rho_t rho_max / (rho_max - 2))
//   otherwise:         p -= lr / (1 - b1^t) * m                                  (un-adapted momentum step)
//   weight decay (before the step): p -= lr * wd * p
//   every k steps (Lookahead): slow += alpha (p - slow); p = slow   (slow starts as p before step 1)
// The step sizes are computed here in double and passed to the fused native kernel.
import type { Tensor } from '@sgi/core';
import { Optimizer, type StepScalars } from './optimizer.js';

export interface RangerOptions {
  /** Learning rate (pSp: 1e-4). */
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  /** Lookahead interpolation factor. */
  alpha?: number;
  /** Lookahead sync period in steps. */
  k?: number;
  /** RAdam rectification threshold on N_sma (strictly greater: rectified step). */
  nSmaThreshold?: number;
  /** Gradient centralization on (pSp's use_gc). */
  useGc?: boolean;
  /** Centralize only gradients with more than 3 dimensions (conv weights; pSp's gc_conv_only). */
  gcConvOnly?: boolean;
}

export const RANGER_DEFAULTS = {
  lr: 1e-4,
  betas: [0.95, 0.999] as const,
  eps: 1e-5,
  weightDecay: 0,
  alpha: 0.5,
  k: 6,
  nSmaThreshold: 5,
  useGc: true,
  gcConvOnly: false,
} satisfies Required<RangerOptions>;

/** The RAdam scalars of step t (pSp's Ranger): N_sma and the step size before the learning rate. */
export function radamStepSize(t: number, betas: readonly [number, number], nSmaThreshold: number): { nSma: number; stepSize: number; rectified: boolean } {
  const [beta1, beta2] = betas;
  const beta2t = beta2 ** t;
  const nSmaMax = 2 / (1 - beta2) - 1;
  const nSma = nSmaMax - (2 * t * beta2t) / (1 - beta2t);
  const bc1 = 1 - beta1 ** t;
  if (nSma > nSmaThreshold) {
    const r = Math.sqrt((((((1 - beta2t) * (nSma - 4)) / (nSmaMax - 4)) * (nSma - 2)) / nSma) * nSmaMax / (nSmaMax - 2));
    return { nSma, stepSize: r / bc1, rectified: true };
  }
  return { nSma, stepSize: 1 / bc1, rectified: false };
}

export class Ranger extends Optimizer {
  readonly alpha: number;
  readonly k: number;
  readonly nSmaThreshold: number;
  readonly useGc: boolean;
  readonly gcConvOnly: boolean;

  constructor(params: readonly Tensor[], opts: RangerOptions = {}) {
    const o = { ...RANGER_DEFAULTS, ...stripUndefined(opts) };
    super('Ranger', params, o);
    if (!(o.alpha >= 0 && o.alpha <= 1)) throw new Error(`Ranger: option 'alpha' must be in [0, 1], got ${o.alpha}`);
    if (!(Number.isInteger(o.k) && o.k >= 1)) throw new Error(`Ranger: option 'k' must be an integer >= 1, got ${o.k}`);
    if (!Number.isFinite(o.nSmaThreshold)) throw new Error(`Ranger: option 'nSmaThreshold' must be finite, got ${o.nSmaThreshold}`);
    this.alpha = o.alpha;
    this.k = o.k;
    this.nSmaThreshold = o.nSmaThreshold;
    this.useGc = o.useGc;
    this.gcConvOnly = o.gcConvOnly;
  }

  protected scalars(t: number): StepScalars {
    const { stepSize, rectified } = radamStepSize(t, this.betas, this.nSmaThreshold);
    return {
      mode: rectified ? 'adaptive' : 'momentum',
      step: stepSize * this.lr,
      denomDiv: 1,
      l2: 0,
      decay: this.weightDecay * this.lr,
    };
  }

  protected centralizes(p: Tensor): boolean {
    return this.useGc && p.ndim > (this.gcConvOnly ? 3 : 1);
  }

  protected lookahead(): { k: number; alpha: number } {
    return { k: this.k, alpha: this.alpha };
  }
}

export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
