export { Optimizer, OPTIM_MODES, type OptimMode, type ParamState, type StepScalars, type BaseOptions, type OptimizerNative } from './optimizer.js';
export { Ranger, RANGER_DEFAULTS, radamStepSize, type RangerOptions } from './ranger.js';
export { Adam, ADAM_DEFAULTS, type AdamOptions } from './adam.js';

import type { Tensor } from '@sgi/core';
import { Ranger } from './ranger.js';
import { Adam } from './adam.js';
import type { Optimizer } from './optimizer.js';

/** The optimizer a config's train section names. */
export function makeOptimizer(t: { optimizer: 'ranger' | 'adam'; lr: number; betas?: [number, number] }, params: Tensor[]): Optimizer {
  return t.optimizer === 'adam' ? new Adam(params, { lr: t.lr, betas: t.betas }) : new Ranger(params, { lr: t.lr, betas: t.betas });
}
