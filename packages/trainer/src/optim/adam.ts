// Adam with PyTorch's semantics (torch.optim.Adam, no amsgrad), optionally AdamW's decoupled decay:
//   g += wd * p                      (weightDecay, coupled; PyTorch Adam)
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= wd * lr * p                 (weightDecay with decoupled: true; PyTorch AdamW)
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// PyTorch updates m with lerp; the kernel's b1 m + (1 - b1) g differs by rounding only.
import type { Tensor } from '@sgi/core';
import { Optimizer, type StepScalars } from './optimizer.js';
import { stripUndefined } from './ranger.js';

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  /** AdamW: decay the weights directly instead of adding wd * p to the gradient. */
  decoupled?: boolean;
  /** Gradient centralization (as in Ranger) on gradients with more than one dimension. */
  useGc?: boolean;
}

export const ADAM_DEFAULTS = {
  lr: 1e-3,
  betas: [0.9, 0.999] as const,
  eps: 1e-8,
  weightDecay: 0,
  decoupled: false,
  useGc: false,
} satisfies Required<AdamOptions>;

export class Adam extends Optimizer {
  readonly decoupled: boolean;
  readonly useGc: boolean;

  constructor(params: readonly Tensor[], opts: AdamOptions = {}) {
    const o = { ...ADAM_DEFAULTS, ...stripUndefined(opts) };
    super(o.decoupled ? 'AdamW' : 'Adam', params, o);
    this.decoupled = o.decoupled;
    this.useGc = o.useGc;
  }

  protected scalars(t: number): StepScalars {
    const [b1, b2] = this.betas;
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    return {
      mode: 'adaptive',
      step: this.lr / bc1,
      denomDiv: Math.sqrt(bc2),
      l2: this.decoupled ? 0 : this.weightDecay,
      decay: this.decoupled ? this.weightDecay * this.lr : 0,
    };
  }

  protected centralizes(p: Tensor): boolean {
    return this.useGc && p.ndim > 1;
  }

  protected lookahead(): null {
    return null;
  }
}
