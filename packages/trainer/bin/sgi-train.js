#!/usr/bin/env node
// `sgi-train`: runs the built program (../dist/main.js). Committed so that npm links the command at
// install time; on a fresh clone the first call builds it (native addon included) through Nx.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('sgi-train: not built yet in this checkout: building it (npx nx run trainer:build) ...');
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  const r = spawnSync('npx', ['nx', 'run', 'trainer:build', '--output-style=static'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (r.status !== 0 || !existsSync(main)) {
    console.error('sgi-train: the build failed; run `npx nx run trainer:build` in ' + root + ' to see why');
    process.exit(1);
  }
}
await import(main.href);
