// @sgi/trainer: the training loop, training data and optimizers. What an experiment is (configs,
// networks, checkpoints, image files) lives in @sgi/experiment.
export * from './data.js';
export * from './train.js';
export * from './optim/index.js';
