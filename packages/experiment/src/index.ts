// @sgi/experiment: what an experiment is, apart from training it: configs (validated YAML/JSON),
// the networks a config builds, run folders and checkpoints, image files, generator samples and
// progress reporting. Training (@sgi/trainer), evaluation (@sgi/eval) and the CLI build on it.
export * from './config.js';
export * from './experiment.js';
export * from './checkpoint.js';
export * from './images.js';
export * from './progress.js';
export * from './workspace.js';
export { experimentProject, isExperimentConfig } from '../naming.cjs';
export * from './faces.js';
export * from './directions.js';
export * from './degrade.js';
