#!/usr/bin/env node
// sgi-train: the trainer's executable (`sgi train` runs it). See command.ts for the options.
import { hideBin } from 'yargs/helpers';
import { trainCli } from './command.js';

trainCli(hideBin(process.argv)).catch((e: Error) => {
  console.error(`error: ${e.message}`);
  if (process.env.SGI_DEBUG) console.error(e.stack);
  process.exit(1);
});
