// @sgi/trainer: configs, data, experiments, checkpoints, the training loop and optimizers.
export * from './config.js';
export * from './data.js';
export * from './checkpoint.js';
export * from './experiment.js';
export * from './train.js';
export * from './progress.js';
export * from './optim/index.js';
