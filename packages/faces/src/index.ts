// @sgi/faces: the built-in face world. Seeded cartoon faces drawn by facesjs (Apache-2.0), their
// attribute labels, the parameter codes the face generator is trained on, and renders.
export * from './sample.js';
export * from './encode.js';
export * from './labels.js';
export * from './render.js';
export * from './segmentation.js';
export * from './sketch.js';
