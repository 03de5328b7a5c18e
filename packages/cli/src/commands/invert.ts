// sgi invert --config <file> [--checkpoint <file>] --input <image or folder> --out <dir>
//            [--align | --no-align] [--paste-back]
// Writes, per image, the reconstruction of every stage (PNG), the final W+ code (.npy), and a
// timing summary. Unreadable images are reported by name and skipped.
// --align (FFHQ alignment of the largest face first; <name>_aligned.png and <name>_align.json are
// written) is on by default for photos that are not already square 256 or 1024 px images, and off
// by default for configs of the built-in face world (data.kind facesjs: its faces are 64 px
// renders that are aligned by construction); --no-align turns it off. Images where alignment
// finds no face are reported and skipped. --paste-back puts the reconstruction back into the
// original photo through the inverse transform and a feathered mask (<name>_pasted.png).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { trainedModelOptions } from './trained.js';
import { Scope, Tensor, native, noGrad, writeNpy } from '@sgi/core';
import { align } from '@sgi/apps';
import { buildExperiment, listImages, loadConfig, loadImage, runCheckpoint, runDirFor, runsRoot, writeImageGrid, IMAGE_EXTENSIONS } from '@sgi/experiment';

export function invertCommand(y: Argv): Argv {
  return y.command(
    'invert',
    'Invert images into W+ with a trained encoder: reconstructions (PNG), codes (.npy), timing',
    (a) => trainedModelOptions(a)
      .option('input', { type: 'string', demandOption: true, describe: 'an image file or a folder of images' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
      .option('align', {
        type: 'boolean',
        describe: 'align the largest face FFHQ-style before inverting (default: on, except for square 256/1024 px images and face-world configs, data.kind facesjs); --no-align turns it off',
      })
      .option('paste-back', { type: 'boolean', default: false, describe: 'paste the reconstruction back into the original photo (inverse transform, feathered mask): <name>_pasted.png' })
      .option('feather', { type: 'number', default: 0.1, describe: 'paste-back: width of the soft edge, fraction of the aligned side' }),
    async (argv) => {
      const c = loadConfig(argv.config);
      let checkpoint = argv.checkpoint;
      if (!checkpoint) {
        const runDir = runDirFor(c, runsRoot());
        checkpoint = runCheckpoint(runDir) ?? undefined;
        if (!checkpoint) {
          throw new Error(`no checkpoint for '${c.name}' in ${runDir}: train one first with \`sgi train --config ${argv.config}\` (or npx nx run trainer:train for the tiny default), or pass --checkpoint`);
        }
      } else if (!fs.existsSync(checkpoint)) {
        throw new Error(`checkpoint not found: ${checkpoint}`);
      }
      if (!fs.existsSync(argv.input)) throw new Error(`input not found: ${argv.input}`);
      const files = fs.statSync(argv.input).isDirectory() ? listImages(argv.input) : [argv.input];
      if (files.length === 1 && !IMAGE_EXTENSIONS.has(path.extname(files[0]!).toLowerCase())) {
        console.warn(`warning: ${files[0]} does not have an image extension; trying to decode it anyway`);
      }
      const exp = buildExperiment(c, { runsRoot: runsRoot(), checkpoint, device: argv.device });
      exp.model.eval();
      fs.mkdirSync(argv.out, { recursive: true });
      const size = c.encoder.inputSize;
      const faceWorld = c.data.kind === 'facesjs';
      if (argv.align === undefined && faceWorld) console.log(`alignment off: '${c.name}' works on the face world's own ${size} px faces (data.kind facesjs); pass --align to align photos`);
      const feather = argv.feather;
      if (!(feather >= 0 && feather <= 0.5)) throw new Error(`--feather must be in [0, 0.5], got ${feather}`);
      let landmarker: align.FaceLandmarker | null = null;
      const times: number[] = [];
      const skipped: string[] = [];
      const noFace: string[] = [];
      let alignedCount = 0;
      for (const file of files) {
        const base = path.basename(file).replace(/\.[^.]+$/, '');
        let img: Float32Array;
        // photo -> encoder-input pixels, for paste-back
        let toInput: align.Affine | null = null;
        let photo: align.RgbImage | null = null;
        try {
          let doAlign = argv.align;
          if (doAlign === undefined) {
            if (faceWorld) doAlign = false;
            else {
              photo = await align.readRgb(file);
              doAlign = !(photo.width === photo.height && (photo.width === 256 || photo.width === 1024));
            }
          }
          if (doAlign) {
            photo ??= await align.readRgb(file);
            landmarker ??= new align.FaceLandmarker();
            const faces = await landmarker.detect(photo);
            if (faces.length === 0) {
              noFace.push(file);
              console.error(`skipped ${file}: no face found (pass --no-align to invert it as it is)`);
              continue;
            }
            const [a] = align.alignFaces(photo, faces, { size });
            await align.writePng(path.join(argv.out, `${base}_aligned.png`), a!.image);
            fs.writeFileSync(path.join(argv.out, `${base}_align.json`), align.formatAlignmentRecord(align.alignmentRecord(file, photo, a!, landmarker.backend)));
            img = await align.rgbToChw(a!.image, size);
            toInput = a!.matrix;
            alignedCount++;
          } else {
            img = await loadImage(file, size);
            if (argv['paste-back']) {
              photo ??= await align.readRgb(file);
              // the plain resize to size x size (pixel centres), as loadImage does
              const sx = size / photo.width, sy = size / photo.height;
              toInput = [sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5];
            }
          }
        } catch (e) {
          skipped.push(file);
          console.error(`skipped ${file}: ${(e as Error).message}`);
          continue;
        }
        const scope = new Scope();
        const out = scope.run(() => noGrad(() => {
          const x = Tensor.fromArray(img, [1, 3, size, size], exp.device);
          const t0 = performance.now();
          const r = exp.model.forward(x, { withImages: true });
          native.synchronize();
          times.push((performance.now() - t0) / 1000);
          return { code: r.codes[r.codes.length - 1]!.toArray(), codeShape: r.codes[r.codes.length - 1]!.shape, images: r.images.map((t) => t.toArray()) };
        }));
        scope.dispose();
        writeNpy(path.join(argv.out, `${base}.npy`), { shape: out.codeShape.slice(1), data: out.code });
        await writeImageGrid(path.join(argv.out, `${base}.png`), [{ data: out.images[out.images.length - 1]!, offset: 0 }], size, 1);
        await writeImageGrid(path.join(argv.out, `${base}_stages.png`), [{ data: img, offset: 0 }, ...out.images.map((d) => ({ data: d, offset: 0 }))], size, 1 + out.images.length);
        if (argv['paste-back'] && photo && toInput) {
          const face = align.chwToRgb(out.images[out.images.length - 1]!, size);
          await align.writePng(path.join(argv.out, `${base}_pasted.png`), align.pasteBack(photo, face, toInput, size, { feather }));
        }
      }
      landmarker?.release();
      const sorted = [...times].sort((a, b) => a - b);
      const median = sorted.length ? sorted[Math.floor(sorted.length / 2)]! : NaN;
      console.log(`inverted ${times.length} image(s) into ${argv.out} with ${c.stages} stage(s) from ${checkpoint}; median ${median.toFixed(3)} s/image (batch 1, ${native.info().cpu.threads} threads)`);
      if (alignedCount) console.log(`aligned ${alignedCount} image(s) FFHQ-style first (<name>_aligned.png, <name>_align.json)${argv['paste-back'] ? '; pasted back: <name>_pasted.png' : ''}`);
      if (skipped.length) console.log(`skipped ${skipped.length} unreadable image(s): ${skipped.join(', ')}`);
      if (noFace.length) console.log(`skipped ${noFace.length} image(s) without a face: ${noFace.join(', ')}`);
      fs.writeFileSync(path.join(argv.out, 'timing.json'), JSON.stringify({ checkpoint, images: times.length, skipped, noFace, aligned: alignedCount, secondsPerImage: times, median }, null, 2));
    },
  );
}
