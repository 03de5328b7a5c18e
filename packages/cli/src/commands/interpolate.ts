// sgi interpolate <a> <b> --config <file> [--checkpoint <file>] [--steps N] [--delay ms] --out <dir>
// A and B are images (inverted) or .npy W+ codes; W_I = lambda W_B + (1 - lambda) W_A for lambda
// from 0 to 1 in N steps: frames (PNG), their codes (.npy), a strip, and an animated WebP and GIF.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { trainedModelOptions } from './trained.js';
import { writeImageGrid } from '@sgi/experiment';
import { Inverter, asLatent, framesOf, interpolateCodes, sourceCode, writeAnimation, writeLatent } from '@sgi/apps';

export function interpolateCommand(y: Argv): Argv {
  return y.command(
    'interpolate <a> <b>',
    'Interpolate between two faces in W+: frames, codes, an animated WebP and GIF',
    (a) => trainedModelOptions(a)
      .positional('a', { type: 'string', demandOption: true, describe: 'first face: an image, or a .npy W+ code [nLatent, styleDim]' })
      .positional('b', { type: 'string', demandOption: true, describe: 'second face: an image, or a .npy W+ code' })
      .option('steps', { type: 'number', default: 8, describe: 'number of frames N, lambda = 0 .. 1 (both ends included)' })
      .option('delay', { type: 'number', default: 120, describe: 'milliseconds per frame of the animations' })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder' }),
    async (argv) => {
      for (const p of [argv.a!, argv.b!]) if (!fs.existsSync(p)) throw new Error(`input not found: ${p}`);
      const inv = Inverter.load(argv.config, { checkpoint: argv.checkpoint, device: argv.device });
      try {
        const A = await sourceCode(inv, argv.a!);
        const B = await sourceCode(inv, argv.b!);
        const { lambdas, codes } = interpolateCodes(asLatent(A.code, inv), asLatent(B.code, inv), argv.steps, inv);
        fs.mkdirSync(argv.out, { recursive: true });
        const width = String(codes.length - 1).length;
        const images = codes.map((c) => inv.synthesize(c));
        const written: string[] = [];
        for (const [i, code] of codes.entries()) {
          const name = `frame_${String(i).padStart(width, '0')}`;
          await writeImageGrid(path.join(argv.out, `${name}.png`), [{ data: images[i]!, offset: 0 }], inv.size, 1);
          writeLatent(path.join(argv.out, `${name}.npy`), code, inv);
          written.push(path.join(argv.out, `${name}.png`), path.join(argv.out, `${name}.npy`));
        }
        const strip = path.join(argv.out, 'interpolation.png');
        await writeImageGrid(strip, images.map((data) => ({ data, offset: 0 })), inv.size, images.length);
        const frames = framesOf(images, inv.size);
        const webp = path.join(argv.out, 'interpolation.webp'), gif = path.join(argv.out, 'interpolation.gif');
        await writeAnimation(webp, frames, inv.size, argv.delay);
        await writeAnimation(gif, frames, inv.size, argv.delay);
        const summary = path.join(argv.out, 'interpolation.json');
        fs.writeFileSync(summary, JSON.stringify({ a: argv.a, b: argv.b, config: argv.config, checkpoint: inv.checkpoint, lambdas, codeShape: inv.codeShape, delayMs: argv.delay }, null, 2) + '\n');
        written.push(strip, webp, gif, summary);
        console.log(`interpolated ${argv.a} -> ${argv.b} in ${codes.length} steps (lambda ${lambdas.map((l) => Number(l.toFixed(3))).join(', ')}); wrote:`);
        for (const f of written) console.log(`  ${f}`);
      } finally {
        inv.release();
      }
    },
  );
}
