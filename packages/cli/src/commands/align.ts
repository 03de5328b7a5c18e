// sgi align --input <image or folder> --out <dir> [--size 1024] [--all-faces] [--backend engine|tfjs]
// Finds faces (face-api's tiny_face_detector + face_landmark_68, weights from the npm package) and
// aligns them as the FFHQ dataset does. Writes per face <name>.png (the aligned face) and
// <name>.json (68 landmarks, the FFHQ quad, the photo -> aligned matrix and its inverse), or
// <name>_face<k>.* for every face with --all-faces. Images without a face are named and skipped;
// the command fails when no face at all was aligned.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { align } from '@sgi/apps';
import { listImages } from '@sgi/experiment';

export function alignCommand(y: Argv): Argv {
  return y.command(
    'align',
    'Detect faces and align them as FFHQ does: aligned PNG + JSON (landmarks, quad, transform) per face',
    (a) => a
      .option('input', { type: 'string', demandOption: true, describe: 'an image file or a folder of images' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
      .option('size', { type: 'number', default: 1024, describe: 'side of the aligned images in pixels' })
      .option('all-faces', { type: 'boolean', default: false, describe: 'align every face found (default: the largest only)' })
      .option('backend', { type: 'string', choices: ['engine', 'tfjs'], default: 'engine', describe: "networks on our engine, or face-api's own TFJS CPU pipeline (slower)" })
      .option('detector', { type: 'string', choices: ['tiny', 'ssd'], default: 'tiny', describe: 'tiny_face_detector, or ssd_mobilenetv1 (tfjs backend only)' })
      .option('min-score', { type: 'number', default: 0.5, describe: 'minimum detector confidence' })
      .example('$0 align --input photos/ --out aligned/ --size 256', ''),
    async (argv) => {
      if (!fs.existsSync(argv.input)) throw new Error(`input not found: ${argv.input}`);
      const files = fs.statSync(argv.input).isDirectory() ? listImages(argv.input) : [argv.input];
      const r = await align.runAlign(files, argv.out, {
        size: argv.size,
        allFaces: argv['all-faces'],
        backend: argv.backend as align.FaceBackend,
        detector: argv.detector as align.FaceDetectorKind,
        minScore: argv['min-score'],
        log: (line) => console.log(line),
      });
      const sorted = [...r.detectSeconds].sort((p, q) => p - q);
      const median = sorted.length ? sorted[Math.floor(sorted.length / 2)]! : NaN;
      const images = new Set(r.written.map((w) => w.source)).size;
      if (r.noFace.length) console.log(`no face in ${r.noFace.length} image(s): ${r.noFace.join(', ')}`);
      if (r.unreadable.length) console.log(`skipped ${r.unreadable.length} unreadable image(s): ${r.unreadable.map((u) => u.file).join(', ')}`);
      if (r.written.length === 0) {
        throw new Error(`no face was aligned: no face found in ${r.noFace.length ? r.noFace.map((f) => path.basename(f)).join(', ') : 'any image'}${r.unreadable.length ? ` (${r.unreadable.length} unreadable)` : ''}`);
      }
      console.log(`aligned ${r.written.length} face(s) from ${images} of ${files.length} image(s) into ${argv.out} at ${argv.size}x${argv.size}; ${r.backend}, median ${median.toFixed(3)} s/image for detection + landmarks`);
    },
  );
}
