// @sgi/eval: evaluation of inversion methods and the paper's tables. The image metrics live in
// @sgi/core (the trainer's validation uses them too) and are re-exported here.
export { psnr, mse, ssim, tensorToImage, tensorToImages, describeMetricConventions, type SsimWindow } from '@sgi/core';
export * from './evaluate.js';
export * from './tables.js';
export * from './report.js';
export * from './run_table.js';
export * from './networks.js';
export * from './face_attributes.js';
export * from './face_world.js';
export * from './restoration.js';
