// Secure deep hiding building blocks: keyed randomness, HILL costs, syndrome-trellis codes, the
// +-1 container and the W+ code payload.
export * from './keys.js';
export * from './crc32.js';
export * from './cost.js';
export * from './stc.js';
export * from './container.js';
export * from './payload.js';
