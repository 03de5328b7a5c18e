// sgi world: the built-in face world measured (generator fidelity, inversion per stage, edits read
// by the attribute classifier) and the README's picture (input | stage 1 | stage 2 | glasses edit).
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { createLpipsMetric, faceWorldReport } from '@sgi/eval';
import { DEFAULT_WEIGHTS_DIR, runsRoot, workspaceRoot } from '@sgi/experiment';

export function worldCommand(y: Argv): Argv {
  return y.command(
    'world',
    'Measure the built-in face world: generator fidelity, inversion per stage, attribute edits; draw the demo picture',
    (a) => a
      .option('stages', { type: 'array', string: true, default: ['configs/tiny/stage1.yaml', 'configs/tiny/stage2.yaml'], describe: 'configs of the inversion stages, first stage first' })
      .option('directions', { type: 'string', default: `${DEFAULT_WEIGHTS_DIR}/faces/directions`, describe: 'folder of editing directions (<attribute>.npy and directions.json)' })
      .option('attributes', { type: 'string', default: `${DEFAULT_WEIGHTS_DIR}/faces/attributes.safetensors`, describe: 'weights of the attribute classifier' })
      .option('count', { type: 'number', default: 64, describe: 'held-out faces to measure' })
      .option('strength', { type: 'number', default: 1.5, describe: "edit strength, in units of each direction's separation" })
      .option('out', { type: 'string', default: 'results/face-world', describe: 'output folder (face-world.json, face-world.png)' }),
    async (argv) => {
      const ws = workspaceRoot();
      const lpips = createLpipsMetric({});
      const r = await faceWorldReport({
        stageConfigs: argv.stages.map((f) => path.resolve(ws, f)), runsRoot: runsRoot(), directions: path.resolve(ws, argv.directions),
        attributes: path.resolve(ws, argv.attributes), count: argv.count, strength: argv.strength, lpips: lpips.distance,
        outDir: path.resolve(ws, argv.out), log: (l) => console.log(l),
      });
      console.log(`wrote ${path.relative(process.cwd(), r.picture)} and face-world.json`);
    },
  );
}
