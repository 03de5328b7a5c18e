export { Optimizer, OPTIM_MODES, type OptimMode, type ParamState, type StepScalars, type BaseOptions, type OptimizerNative } from './optimizer.js';
export { Ranger, RANGER_DEFAULTS, radamStepSize, type RangerOptions } from './ranger.js';
export { Adam, ADAM_DEFAULTS, type AdamOptions } from './adam.js';
