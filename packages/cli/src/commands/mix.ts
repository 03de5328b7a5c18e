// sgi mix --config <file> [--checkpoint <file>] --content <image|.npy> --style <image|.npy> [--from K | --layer-index K] --out <dir>
// Style mixing: the content's W+ code with its layers from index k on replaced by the style's.
// --from counts on the paper's 18 latents (7: the last 11 of 18) and is scaled to the generator's
// number of latents; --layer-index is an exact index of this generator.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { trainedModelOptions } from './trained.js';
import { writeImageGrid } from '@sgi/experiment';
import { Inverter, PAPER_LATENTS, PAPER_MIX_FROM, asLatent, mixCodes, mixLayerIndex, sourceCode, writeLatent } from '@sgi/apps';

export function mixCommand(y: Argv): Argv {
  return y.command(
    'mix',
    "Style mixing: the content face's coarse W+ layers with the style face's finer ones",
    (a) => trainedModelOptions(a)
      .option('content', { type: 'string', demandOption: true, describe: 'content face: an image, or a .npy W+ code [nLatent, styleDim]' })
      .option('style', { type: 'string', demandOption: true, describe: 'style face: an image, or a .npy W+ code' })
      .option('from', { type: 'number', default: PAPER_MIX_FROM, describe: `first layer taken from the style, counted on the paper's ${PAPER_LATENTS} latents (scaled to this generator: round(k * nLatent / ${PAPER_LATENTS}))` })
      .option('layer-index', { type: 'number', describe: "exact first layer taken from the style, 0..nLatent (overrides --from)" })
      .option('out', { type: 'string', demandOption: true, describe: 'output folder' }),
    async (argv) => {
      for (const p of [argv.content, argv.style]) if (!fs.existsSync(p)) throw new Error(`input not found: ${p}`);
      const inv = Inverter.load(argv.config, { checkpoint: argv.checkpoint, device: argv.device });
      try {
        const { index, reason } = mixLayerIndex(inv.nLatent, { from: argv.from, exact: argv.layerIndex });
        console.log(`mixing from layer index ${index} of ${inv.nLatent}: ${reason}`);
        const C = await sourceCode(inv, argv.content);
        const S = await sourceCode(inv, argv.style);
        const mixed = mixCodes(asLatent(C.code, inv), asLatent(S.code, inv), index, inv);
        const mixedImage = inv.synthesize(mixed);
        fs.mkdirSync(argv.out, { recursive: true });
        const out = (f: string) => path.join(argv.out, f);
        const one = (data: Float32Array) => [{ data, offset: 0 }];
        await writeImageGrid(out('content.png'), one(C.reconstruction), inv.size, 1);
        await writeImageGrid(out('style.png'), one(S.reconstruction), inv.size, 1);
        await writeImageGrid(out('mixed.png'), one(mixedImage), inv.size, 1);
        await writeImageGrid(out('mix.png'), [C.reconstruction, S.reconstruction, mixedImage].map((data) => ({ data, offset: 0 })), inv.size, 3);
        writeLatent(out('content.npy'), C.code, inv);
        writeLatent(out('style.npy'), S.code, inv);
        writeLatent(out('mixed.npy'), mixed, inv);
        fs.writeFileSync(out('mix.json'), JSON.stringify({
          config: argv.config, checkpoint: inv.checkpoint, content: argv.content, style: argv.style,
          layerIndex: index, nLatent: inv.nLatent, reason, styleLayers: Array.from({ length: inv.nLatent - index }, (_, k) => index + k),
        }, null, 2) + '\n');
        const split = index === 0 ? `every layer from ${argv.style}` : index === inv.nLatent ? `every layer from ${argv.content} (nothing replaced)` : `layers 0..${index - 1} from ${argv.content}, ${index}..${inv.nLatent - 1} from ${argv.style}`;
        console.log(`${split}; wrote:`);
        for (const f of ['content.png', 'style.png', 'mixed.png', 'mix.png', 'content.npy', 'style.npy', 'mixed.npy', 'mix.json']) console.log(`  ${out(f)}`);
      } finally {
        inv.release();
      }
    },
  );
}
