// @sgi/core: tensors, autograd, ops, modules, models and weight loading.
export { native } from './native.js';
export { precision, setPrecision, withPrecision, PRECISIONS, type Precision } from './precision.js';
export type { Native, NativeInfo, NativeMemory, Storage } from './native.js';
export { Tensor, deviceReadbacks, type Device } from './tensor.js';
export { Scope, tidy, currentScope } from './scope.js';
export { noGrad, isGradEnabled, needsGrad, attachGrad, backward, addInto, checkpoint, type BackwardOptions, type GradNode } from './autograd.js';
export * from './shape.js';
export * as ops from './ops/index.js';
export * as nn from './nn/index.js';
export { Module, Sequential, ModuleList, StateDictError } from './nn/module.js';
export { Rng } from './random.js';
export * from './io/index.js';
export { backends, availableDevices, defaultDevice, resolveDevice, type BackendInfo, type DeviceChoice } from './device.js';
export * from './metrics/index.js';
export * from './models/irse.js';
export * from './models/encoder.js';
export * from './models/inversion.js';
export * from './models/stylegan2.js';
