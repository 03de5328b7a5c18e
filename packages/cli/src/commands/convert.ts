// sgi convert <in> <out.safetensors>
import type { Argv } from 'yargs';
import { convertToSafetensors } from '@sgi/core';

export function convertCommand(y: Argv): Argv {
  return y.command(
    'convert <input> <output>',
    'Convert a checkpoint (.pt/.pth zip or legacy pickle, .npy, safetensors) to safetensors',
    (a) => a
      .positional('input', { type: 'string', demandOption: true, describe: 'checkpoint to read' })
      .positional('output', { type: 'string', demandOption: true, describe: 'safetensors file to write' })
      .option('config', { type: 'string', describe: 'experiment config recorded in the metadata' }),
    (argv) => {
      const meta: Record<string, string> = { converted_from: argv.input! };
      if (argv.config) meta.config = argv.config;
      const n = convertToSafetensors(argv.input!, argv.output!, meta);
      console.log(`wrote ${argv.output} (${n} tensors)`);
    },
  );
}
