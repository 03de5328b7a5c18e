'use strict';
// Loads the compiled addon. SGI_NATIVE_PATH points at another build (e.g. a CUDA-off build folder).
const path = require('node:path');

// OpenMP threads spin at barriers by default; on a shared 2-core machine a spinning thread whose
// partner was descheduled wastes its core (2 threads measured ~2x slower than 1 under load).
// libgomp reads the policy once, when the addon loads, so it is set here unless the user chose one.
if (!process.env.OMP_WAIT_POLICY) process.env.OMP_WAIT_POLICY = 'PASSIVE';
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
      'Run `npx nx run native-cuda:build` first (`npm test` and `npx nx run trainer:train` build it too).',
  );
}

module.exports = load();
