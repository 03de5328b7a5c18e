// @sgi/apps: what users do with an inverted face (the paper's Section 5 and Appendix A), each on
// the inversion API (inverter.ts) and each reached through an `sgi` command.
export * from './inverter.js';
export * from './latents.js';
export * from './edit.js';
export * from './directions.js';
export * from './interpolate.js';
export * from './mix.js';
export * from './animation.js';
export * from './swap.js';
export * from './video.js';
export * from './frames.js';
export * from './hide.js';
export * as stego from './stego/index.js';
export * from './restore.js';
export * as align from './align/index.js';
export * as serve from './serve/index.js';
