// sgi swap --config <file> [--checkpoint <file>] --source <image> --target <image> --out <dir>
//          [--center-x --center-y --radius-x --radius-y --feather]
// Face swap (the paper's Section 5): the source's inner face is pasted onto the target through a
// soft elliptical mask and the pasted image is inverted. Writes pasted.png, reconstructed.png,
// stages.png, mask.png, swap.png, code.npy and timing.json (see runSwap in @sgi/apps).
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { trainedModelOptions } from './trained.js';
import { native } from '@sgi/core';
import { DEFAULT_FACE_MASK, Inverter, runSwap } from '@sgi/apps';

export function swapCommand(y: Argv): Argv {
  const m = DEFAULT_FACE_MASK;
  return y.command(
    'swap',
    "Face swap: paste the source's inner face onto the target through a soft mask, then invert the pasted image",
    (a) => trainedModelOptions(a)
      .option('source', { type: 'string', demandOption: true, describe: 'aligned face image whose inner face (eyes, nose, mouth) is used' })
      .option('target', { type: 'string', demandOption: true, describe: 'aligned face image that receives it (hair, face outline, background kept)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
      .option('center-x', { type: 'number', default: m.centerX, describe: "mask ellipse centre, x, as a fraction of the image width" })
      .option('center-y', { type: 'number', default: m.centerY, describe: 'mask ellipse centre, y, as a fraction of the image height (0: top)' })
      .option('radius-x', { type: 'number', default: m.radiusX, describe: 'half-width of the full-strength ellipse, fraction of the width' })
      .option('radius-y', { type: 'number', default: m.radiusY, describe: 'half-height of the full-strength ellipse, fraction of the height' })
      .option('feather', { type: 'number', default: m.feather, describe: 'width of the soft edge beyond the ellipse, fraction of the image side (0: hard edge)' })
      .example('$0 swap --config configs/tiny/stage2.yaml --source data/faces/000001.png --target data/faces/000002.png --out out/swap', ''),
    async (argv) => {
      const inv = Inverter.load(argv.config, { checkpoint: argv.checkpoint, device: argv.device });
      try {
        const mask = { centerX: argv['center-x'], centerY: argv['center-y'], radiusX: argv['radius-x'], radiusY: argv['radius-y'], feather: argv.feather };
        const { result, files } = await runSwap(inv, argv.source, argv.target, argv.out, mask);
        const rel = (f: string) => path.relative(argv.out, f);
        console.log(`swapped the face of ${argv.source} onto ${argv.target} with ${inv.config.stages} stage(s) from ${inv.checkpoint}`);
        console.log(`wrote ${[files.pasted, files.reconstructed, files.stages, files.mask, files.overview, files.code, files.timing].map(rel).join(', ')} in ${argv.out}`);
        console.log(`code [${inv.codeShape.join(', ')}]; inversion ${result.seconds.toFixed(3)} s (batch 1, ${native.info().cpu.threads} threads)`);
      } finally {
        inv.release();
      }
    },
  );
}
