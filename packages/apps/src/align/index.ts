// Face alignment (FFHQ): detection and 68 landmarks (detect.ts; the networks in nets.ts and the
// package's own TFJS pipeline in tfjs.ts), the FFHQ transform and warps (ffhq.ts), image files and
// per-face records (faces.ts), and `sgi align` as a function (run.ts).
export * from './ffhq.js';
export * from './detect.js';
export * from './faces.js';
export * from './run.js';
export { FaceLandmark68Net, TinyFaceDetectorNet, readTfjsModel, faceApiModelDir, netInput, nonMaxSuppression } from './nets.js';
export { detectWithTfjs, faceApi } from './tfjs.js';
