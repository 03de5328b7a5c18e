#!/usr/bin/env node
// sgi-train: the trainer's executable (`sgi train` runs it). See command.ts for the options.
import { hideBin } from 'yargs/helpers';
import { trainCli } from './command.js';
import { currentWorld } from './distributed.js';

trainCli(hideBin(process.argv)).catch((e: Error) => {
  // in a data-parallel job the failing rank names itself and ends every rank (none waits for it)
  const world = currentWorld();
  console.error(`error${world.size > 1 ? ` on rank ${world.rank} of ${world.size}` : ''}: ${e.message}`);
  if (process.env.SGI_DEBUG) console.error(e.stack);
  if (world.size > 1) world.abort(1);
  process.exit(1);
});
