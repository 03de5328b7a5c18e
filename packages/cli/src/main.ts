#!/usr/bin/env node
// The sgi command line. Every command has --help.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { runTrain, trainCommand } from './commands/train.js';
import { convertCommand } from './commands/convert.js';
import { infoCommand } from './commands/info.js';
import { alignCommand } from './commands/align.js';
import { invertCommand } from './commands/invert.js';
import { sweepCommand } from './commands/sweep.js';
import { tableCommand } from './commands/table.js';
import { worldCommand } from './commands/world.js';
import { serveCommand } from './commands/serve.js';
import { hideCommand } from './commands/hide.js';
import { revealCommand } from './commands/reveal.js';
import { editCommand } from './commands/edit.js';
import { directionsCommand } from './commands/directions.js';
import { interpolateCommand } from './commands/interpolate.js';
import { mixCommand } from './commands/mix.js';
import { swapCommand } from './commands/swap.js';
import { videoCommand } from './commands/video.js';
import { restoreCommand } from './commands/restore.js';
import { exportCommand } from './commands/export.js';
import { applyPrecision } from './commands/trained.js';

let cli = yargs(hideBin(process.argv)).scriptName('sgi').usage('$0 <command> [options]')
  .wrap(Math.min(120, Math.max(100, process.stdout.columns ?? 100)));
// the order of `sgi --help`: inversion, the applications (Section 5), training and evaluation, tools
const COMMANDS = [
  infoCommand, alignCommand, invertCommand,
  editCommand, directionsCommand, interpolateCommand, mixCommand, swapCommand, videoCommand, restoreCommand, hideCommand, revealCommand,
  trainCommand, sweepCommand, tableCommand, worldCommand, serveCommand,
  convertCommand, exportCommand,
];
for (const add of COMMANDS) cli = add(cli);
cli = cli.middleware(applyPrecision);
function fail(e: Error): never {
  console.error(`error: ${e.message}`);
  if (process.env.SGI_DEBUG) console.error(e.stack);
  process.exit(1);
}

async function main(): Promise<void> {
  // `sgi train ...` belongs to the trainer's executable, options and --help included
  if (process.argv[2] === 'train') {
    process.exitCode = runTrain(process.argv.slice(3));
    return;
  }
  await cli
    .demandCommand(1, 'choose a command (see --help)')
    .strict()
    .help()
    .fail((msg, err, y) => {
      if (err) fail(err);
      console.error(`${msg}\n`);
      y.showHelp();
      process.exit(1);
    })
    .parseAsync();
}

main().catch(fail);
