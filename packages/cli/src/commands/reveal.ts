// sgi reveal --config <file> [--checkpoint <file>] --stego <png> --out <dir> [--key K]
// Reads the W+ code hidden by `sgi hide` (checksum-verified), dequantises it and regenerates the
// secret face: writes secret.png and secret.npy ([nLatent, styleDim]) into the output folder.
import type { Argv } from 'yargs';
import { trainedModelOptions } from './trained.js';
import { Inverter, revealImageFile } from '@sgi/apps';

export function revealCommand(y: Argv): Argv {
  return y.command(
    'reveal',
    'Reveal a W+ code hidden by sgi hide and regenerate the secret face: secret.png and secret.npy',
    (a) => trainedModelOptions(a, 'experiment config the code was hidden with (its generator regenerates the face)')
      .option('stego', { type: 'string', demandOption: true, describe: 'stego image written by sgi hide (PNG)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
      .option('key', { type: 'string', default: '', describe: 'the passphrase given to sgi hide' }),
    async (argv) => {
      const inv = Inverter.load(argv.config, { checkpoint: argv.checkpoint, device: argv.device });
      try {
        const r = await revealImageFile(inv, { stego: argv.stego, outDir: argv.out, key: argv.key });
        const q = r.quantised;
        console.log(`revealed a [${q.nLatent}, ${q.styleDim}] W+ code (${q.bits} bits per value, ${q.range} ranges, CRC-32 ok) from ${argv.stego}`);
        console.log(`wrote ${r.secretPng} and ${r.codeNpy}`);
      } finally {
        inv.release();
      }
    },
  );
}
