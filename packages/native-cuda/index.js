'use strict';
// Loads the compiled addon. SGI_NATIVE_PATH points at another build (e.g. a CUDA-off build folder).
const path = require('node:path');
const fs = require('node:fs');

function load() {
  const candidates = [
    process.env.SGI_NATIVE_PATH,
    path.join(__dirname, 'build', 'Release', 'sgi_native.node'),
    path.join(__dirname, 'build', 'Debug', 'sgi_native.node'),
  ].filter(Boolean);
  for (const file of candidates) {
    if (fs.existsSync(file)) return require(file);
  }
  throw new Error(
    `sgi native addon is not built (looked in ${candidates.join(', ')}). ` +
      'Run `npx nx run native-cuda:build` (or `npm run setup`) first.',
  );
}

module.exports = load();
