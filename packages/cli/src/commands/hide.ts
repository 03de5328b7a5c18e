// sgi hide --config <file> [--checkpoint <file>] --secret <image> --carrier <png> --out <stego.png>
//          [--key K] [--bits 8] [--range layer|global] [--height 10] [--max-bpp 0.5]
// Secure deep hiding (Section 5.1): inverts the secret face, quantises its W+ code, and hides it in
// the PNG carrier with +-1 syndrome-trellis coding under HILL costs; prints the payload, the
// stego's PSNR against the carrier, the largest change (<= 1) and the embedding time.
import type { Argv } from 'yargs';
import { trainedModelOptions } from './trained.js';
import { Inverter, hideImageFile } from '@sgi/apps';

export function hideCommand(y: Argv): Argv {
  return y.command(
    'hide',
    "Hide a secret face's W+ code in a PNG carrier (STC +-1 embedding, HILL costs, keyed): writes the stego PNG",
    (a) => trainedModelOptions(a)
      .option('secret', { type: 'string', demandOption: true, describe: 'the secret face image (inverted; only its code is hidden)' })
      .option('carrier', { type: 'string', demandOption: true, describe: 'carrier image, PNG (JPEG is refused: lossy recompression destroys the embedded bits)' })
      .option('out', { type: 'string', demandOption: true, describe: 'stego image to write (.png)' })
      .option('key', { type: 'string', default: '', describe: 'passphrase: permutes the carrier and seeds the codes (without one anyone with sgi can reveal)' })
      .option('bits', { type: 'number', default: 8, describe: 'bits per W+ value (2..16)' })
      .option('range', { choices: ['layer', 'global'] as const, default: 'layer' as const, describe: 'quantisation range: min/max per style layer or for the whole code' })
      .option('height', { type: 'number', default: 10, describe: 'STC constraint height (7..12: higher embeds with fewer changes, more slowly)' })
      .option('max-bpp', { type: 'number', default: 0.5, describe: 'refuse payloads above this many embedded bits per carrier pixel' }),
    async (argv) => {
      const inv = Inverter.load(argv.config, { checkpoint: argv.checkpoint, device: argv.device });
      try {
        if (!argv.key) console.warn('warning: no --key given: the code is hidden under the empty key, which anyone with sgi can reveal');
        const r = await hideImageFile(inv, {
          secret: argv.secret, carrier: argv.carrier, out: argv.out, key: argv.key, bits: argv.bits, range: argv.range, height: argv.height, maxBpp: argv['max-bpp'],
        });
        const q = r.quantised;
        console.log(`hid the [${q.nLatent}, ${q.styleDim}] W+ code of ${argv.secret} (${q.bits} bits per value, ${q.range} ranges) in ${argv.carrier} (${r.carrier.width}x${r.carrier.height}) -> ${r.out}`);
        console.log(`payload: ${r.messageBits} bits (${r.payloadBytes} bytes with header and CRC-32) + ${r.embeddedBits - r.messageBits} frame bits = ${r.bpp.toFixed(4)} bpp (${r.bitsPerValue.toFixed(4)} bits per colour value), STC height ${r.height}`);
        console.log(`changes: ${r.changes} values by +-1; max |difference| ${r.maxAbsDiff}; stego PSNR vs carrier ${Number.isFinite(r.psnr) ? r.psnr.toFixed(2) : 'inf'} dB`);
        console.log(`embedding time: ${r.seconds.toFixed(3)} s (HILL costs ${r.costSeconds.toFixed(3)} s)`);
      } finally {
        inv.release();
      }
    },
  );
}
