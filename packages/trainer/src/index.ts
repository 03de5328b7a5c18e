// @sgi/trainer: the training loop, what it trains (an encoder stage, the face-world generator),
// training data and optimizers. What an experiment is (configs, networks, checkpoints, image
// files) lives in @sgi/experiment.
export * from './data.js';
export * from './train.js';
export * from './loop.js';
export * from './distributed.js';
export * from './run_dir.js';
export * from './inversion.js';
export * from './renderer.js';
export * from './optim/index.js';
