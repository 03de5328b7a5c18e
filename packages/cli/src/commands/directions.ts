// sgi directions --config <file> [--checkpoint <file>] --positive <folder> --negative <folder> --out <dir.npy> [--space w|wplus]
// InterFaceGAN's method for a user's own generator: inverts both folders, fits the linear boundary
// between their codes (by default in W: each W+ code averaged over its layers) and writes the W+
// direction [nLatent, styleDim] (.npy) and a JSON beside it (accuracy, separation, counts), which
// `sgi edit --direction <dir.npy> --relative` reads.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { trainedModelOptions } from './trained.js';
import { Inverter, DIRECTION_SPACES, directionFromImages, directionReport, writeDirectionReport, writeLatent, type DirectionSpace } from '@sgi/apps';

export function directionsCommand(y: Argv): Argv {
  return y.command(
    'directions',
    'Fit an editing direction (InterFaceGAN) from a folder of faces with an attribute and one without',
    (a) => trainedModelOptions(a)
      .option('positive', { type: 'string', demandOption: true, describe: 'folder (or image) of faces with the attribute' })
      .option('negative', { type: 'string', demandOption: true, describe: 'folder (or image) of faces without it' })
      .option('space', { type: 'string', choices: DIRECTION_SPACES as string[], default: 'w', describe: 'fit in W (codes averaged over layers; the normal repeated on every layer) or on the flattened W+ codes' })
      .option('out', { type: 'string', demandOption: true, describe: 'direction file to write (.npy); its report goes beside it (.json)' }),
    async (argv) => {
      if (path.extname(argv.out).toLowerCase() !== '.npy') throw new Error(`--out ${argv.out}: the direction is written as .npy (e.g. ${argv.out}.npy)`);
      for (const p of [argv.positive, argv.negative]) if (!fs.existsSync(p)) throw new Error(`input not found: ${p}`);
      const inv = Inverter.load(argv.config, { checkpoint: argv.checkpoint, device: argv.device });
      try {
        const d = await directionFromImages(inv, argv.positive, argv.negative, {
          space: argv.space as DirectionSpace,
          onSkip: (f, e) => console.error(`skipped ${f}: ${e}`),
        });
        writeLatent(argv.out, d.direction, inv);
        const json = writeDirectionReport(argv.out, directionReport(d, {
          config: argv.config, checkpoint: inv.checkpoint,
          positiveFiles: d.positiveFiles, negativeFiles: d.negativeFiles, skipped: d.skipped.map((s) => s.file),
        }));
        console.log(`fitted a direction in ${d.space === 'w' ? 'W' : 'W+'} on ${d.positives} positive and ${d.negatives} negative image(s): accuracy ${d.accuracy.toFixed(3)}, separation ${d.separation.toPrecision(4)}; wrote:`);
        console.log(`  ${argv.out} (shape [${d.shape.join(', ')}])`);
        console.log(`  ${json}`);
        if (d.skipped.length) console.log(`skipped ${d.skipped.length} unreadable image(s): ${d.skipped.map((s) => s.file).join(', ')}`);
        if (d.accuracy < 1) console.log(`note: the boundary separates ${(d.accuracy * 100).toFixed(1)}% of the codes; the attribute is not fully linear in this space`);
      } finally {
        inv.release();
      }
    },
  );
}
