// sgi edit --config <file> [--checkpoint <file>] --input <image or folder> (--direction <file.npy> | --attribute <name>)
//          [--strengths -3,-1.5,0,1.5,3] [--relative] --out <dir>
// Inverts each image and moves its W+ code along the direction, W+ + s * direction, for each
// strength; writes per image a strip (input | edits in order) and each edited code (.npy).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { trainedModelOptions } from './trained.js';
import { readNpy } from '@sgi/core';
import { writeImageGrid } from '@sgi/experiment';
import { Inverter, absoluteStrengths, attributeDirection, codeValues, directionInfo, editImage, faceDirectionsDir, inputImages, parseStrengths, strengthLabel, uniqueStems, writeLatent, type DirectionInfo } from '@sgi/apps';

/** The shipped face-world attributes, for --help. */
function faceAttributes(): string {
  const dir = faceDirectionsDir();
  const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.npy')).map((f) => f.slice(0, -4)).sort() : [];
  return names.length ? names.join(', ') : 'e.g. glasses';
}

export function editCommand(y: Argv): Argv {
  return y.command(
    'edit',
    'Edit faces along a latent direction (InterFaceGAN): a strip of edits per image and the edited W+ codes',
    (a) => trainedModelOptions(a)
      .option('input', { type: 'string', demandOption: true, describe: 'an image file or a folder of images' })
      .option('direction', { type: 'string', describe: 'direction .npy of shape [nLatent, styleDim] (e.g. pretrained/editing/age.npy, or one made by sgi directions)' })
      .option('attribute', { type: 'string', describe: `a face-world attribute, pretrained/faces/directions/<attribute>.npy (${faceAttributes()}); implies --relative` })
      .option('strengths', { type: 'string', nargs: 1, default: '-3,-1.5,0,1.5,3', describe: 'comma-separated strengths s of W+ + s * direction' })
      .option('relative', { type: 'boolean', describe: "strengths in units of the direction's separation (from directions.json, or the .json beside the .npy); default with --attribute, --no-relative to turn off" })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
      .conflicts('direction', 'attribute')
      .check((v) => {
        if (!v.direction && !v.attribute) throw new Error('give --direction <file.npy> or --attribute <name>');
        return true;
      }),
    async (argv) => {
      const strengths = parseStrengths(argv.strengths);
      let info: DirectionInfo;
      if (argv.attribute) info = attributeDirection(argv.attribute);
      else {
        if (!fs.existsSync(argv.direction!)) throw new Error(`direction not found: ${argv.direction}`);
        info = directionInfo(argv.direction!);
      }
      const relative = argv.relative ?? Boolean(argv.attribute);
      const absolute = absoluteStrengths(strengths, relative, info);
      const files = inputImages(argv.input);
      const inv = Inverter.load(argv.config, { checkpoint: argv.checkpoint, device: argv.device });
      try {
        const what = path.basename(info.file);
        const direction = readNpy(info.file);
        codeValues(what, direction, inv);
        const stems = uniqueStems(files, argv.input);
        fs.mkdirSync(argv.out, { recursive: true });
        const written: string[] = [];
        const skipped: string[] = [];
        for (const [i, file] of files.entries()) {
          let image: Float32Array;
          try {
            image = await inv.readImage(file);
          } catch (e) {
            skipped.push(file);
            console.error(`skipped ${file}: ${(e as Error).message}`);
            continue;
          }
          const r = editImage(inv, image, direction, absolute, what);
          const strip = path.join(argv.out, `${stems[i]}_edits.png`);
          await writeImageGrid(strip, [image, ...r.images].map((data) => ({ data, offset: 0 })), inv.size, 1 + r.images.length);
          written.push(strip);
          r.codes.forEach((code, k) => {
            const f = path.join(argv.out, `${stems[i]}_s${strengthLabel(strengths[k]!)}.npy`);
            writeLatent(f, code, inv);
            written.push(f);
          });
        }
        if (skipped.length === files.length) throw new Error(`no readable image in ${argv.input}`);
        const summary = path.join(argv.out, 'edit.json');
        fs.writeFileSync(summary, JSON.stringify({
          config: argv.config, checkpoint: inv.checkpoint, direction: info.file, separation: info.separation ?? null,
          relative, strengths, absoluteStrengths: absolute, codeShape: inv.codeShape,
          images: files.filter((f) => !skipped.includes(f)), skipped,
          strip: 'input | edits in the order of strengths', codes: '<image>_s<strength>.npy, shape [nLatent, styleDim]',
        }, null, 2) + '\n');
        written.push(summary);
        const unit = relative ? ` x separation ${info.separation!.toPrecision(4)} = [${absolute.map((v) => Number(v.toPrecision(4))).join(', ')}] in W units` : ' (W units)';
        console.log(`edited ${files.length - skipped.length} image(s) along ${info.file} with strengths [${strengths.join(', ')}]${unit}; wrote:`);
        for (const f of written) console.log(`  ${f}`);
        if (skipped.length) console.log(`skipped ${skipped.length} unreadable image(s): ${skipped.join(', ')}`);
      } finally {
        inv.release();
      }
    },
  );
}
