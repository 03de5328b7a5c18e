// sgi restore --config <task config> [--checkpoint <file>] --input <image or folder> --out <dir> [--degrade]
// Restoration and translation (the paper's Sections 5.3 and 5.4) with an encoder trained on a task
// (the config's `task` section): the images go into the encoder as they are (degraded photos,
// sketches, colour-coded label maps), or, with --degrade, are first degraded as the task's
// evaluation does. Writes <name>_input.png (as fed), <name>_restored.png, <name>.npy (the W+ code)
// and restore.json (see runRestore in @sgi/apps).
import * as fs from 'node:fs';
import type { Argv } from 'yargs';
import { trainedModelOptions } from './trained.js';
import { listImages } from '@sgi/experiment';
import { Inverter, runRestore } from '@sgi/apps';

export function restoreCommand(y: Argv): Argv {
  return y.command(
    'restore',
    'Restoration/translation with a task-trained encoder: degraded photos, sketches or label maps in, faces out',
    (a) => trainedModelOptions(a, 'task config the checkpoint was trained with (e.g. configs/tiny/tasks/inpainting.yaml)')
      .option('input', { type: 'string', demandOption: true, describe: 'an image file or a folder of images (fed as they are unless --degrade)' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
      .option('degrade', { type: 'boolean', default: false, describe: "degrade clean images with the config's task first (seeded by their index), as evaluation does" })
      .example('$0 restore --config configs/tiny/tasks/inpainting.yaml --input data/faces --out out/restore --degrade', '')
      .example('$0 restore --config configs/tiny/tasks/sketch.yaml --input my-sketches/ --out out/sketch', ''),
    async (argv) => {
      if (!fs.existsSync(argv.input)) throw new Error(`input not found: ${argv.input}`);
      const files = fs.statSync(argv.input).isDirectory() ? listImages(argv.input) : [argv.input];
      if (files.length === 0) throw new Error(`no images in ${argv.input}`);
      const inv = Inverter.load(argv.config, { checkpoint: argv.checkpoint, device: argv.device });
      try {
        const r = await runRestore(inv, files, argv.out, { degrade: argv.degrade });
        console.log(r.summary);
        for (const s of r.skipped) console.error(`skipped ${s.file}: ${s.reason}`);
        if (r.images.length === 0) throw new Error(`none of the ${files.length} input image(s) could be restored`);
      } finally {
        inv.release();
      }
    },
  );
}
