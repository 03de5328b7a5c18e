// sgi invert --config <file> [--checkpoint <file>] --input <image or folder> --out <dir>
// Writes, per image, the reconstruction of every stage (PNG), the final W+ code (.npy), and a
// timing summary. Unreadable images are reported by name and skipped.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { trainedModelOptions } from './trained.js';
import { Scope, Tensor, native, noGrad, writeNpy } from '@sgi/core';
import { buildExperiment, listImages, loadConfig, loadImage, runCheckpoint, runDirFor, runsRoot, writeImageGrid, IMAGE_EXTENSIONS } from '@sgi/experiment';

export function invertCommand(y: Argv): Argv {
  return y.command(
    'invert',
    'Invert images into W+ with a trained encoder: reconstructions (PNG), codes (.npy), timing',
    (a) => trainedModelOptions(a)
      .option('input', { type: 'string', demandOption: true, describe: 'an image file or a folder of images' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder' }),
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
      const exp = buildExperiment(c, { runsRoot: runsRoot(), checkpoint });
      exp.model.eval();
      fs.mkdirSync(argv.out, { recursive: true });
      const size = c.encoder.inputSize;
      const times: number[] = [];
      const skipped: string[] = [];
      for (const file of files) {
        let img: Float32Array;
        try {
          img = await loadImage(file, size);
        } catch (e) {
          skipped.push(file);
          console.error(`skipped ${file}: ${(e as Error).message}`);
          continue;
        }
        const scope = new Scope();
        const base = path.basename(file).replace(/\.[^.]+$/, '');
        const out = scope.run(() => noGrad(() => {
          const x = Tensor.fromArray(img, [1, 3, size, size]);
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
      }
      const sorted = [...times].sort((a, b) => a - b);
      const median = sorted.length ? sorted[Math.floor(sorted.length / 2)]! : NaN;
      console.log(`inverted ${times.length} image(s) into ${argv.out} with ${c.stages} stage(s) from ${checkpoint}; median ${median.toFixed(3)} s/image (batch 1, ${native.info().cpu.threads} threads)`);
      if (skipped.length) console.log(`skipped ${skipped.length} unreadable image(s): ${skipped.join(', ')}`);
      fs.writeFileSync(path.join(argv.out, 'timing.json'), JSON.stringify({ checkpoint, images: times.length, skipped, secondsPerImage: times, median }, null, 2));
    },
  );
}
