// Every op family, one module each (forward + gradient rule side by side).
export * from './elementwise.js';
export * from './shape.js';
export * from './conv.js';
export * from './linear.js';
export * from './normalization.js';
export * from './activation.js';
export * from './loss.js';
export * from './pooling.js';
export * from './resample.js';
export * from './modulated_conv.js';
