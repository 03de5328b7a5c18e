// @sgi/losses: the inversion objective (L2, LPIPS, multi-/single-layer ID, multi-layer parsing)
// and the networks behind it (AlexNet, ArcFace IR-SE, the parsing UNet, face-api's recognizer).
export * from './weights.js';
export * from './l2.js';
export * from './lpips.js';
export * from './id_loss.js';
export * from './parse_loss.js';
export * from './combined.js';
export * from './nets/alexnet.js';
export * from './nets/arcface.js';
export * from './nets/parsing_unet.js';
export * from './nets/faceapi.js';
