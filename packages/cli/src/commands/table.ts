// sgi table <table1|table2|table3>: evaluates the rows' checkpoints and prints the table beside
// the paper's numbers; writes results.json and report.html.
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { TABLES, runTable } from '@sgi/eval';
import { createIdentityNetwork, createLpipsMetric } from '@sgi/eval';
import { runsRoot, workspaceRoot } from '@sgi/experiment';

export function tableCommand(y: Argv): Argv {
  return y.command(
    'table <table>',
    "Evaluate a paper table's methods (PSNR, SSIM, LPIPS, IDS, runtime, params) and write reports",
    (a) => a
      .positional('table', { choices: Object.keys(TABLES) as (keyof typeof TABLES)[], demandOption: true, describe: 'which table' })
      .option('suite', { choices: ['tiny', 'paper'] as const, default: 'tiny' as const, describe: 'tiny CPU configs or the full-scale paper configs' })
      .option('images', { type: 'string', describe: 'folder of evaluation images (default for tiny: held-out generator images)' })
      .option('count', { type: 'number', describe: 'evaluate a random selection of this many images (the paper: 2000)' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the random selection' })
      .option('ssim', { choices: ['gaussian', 'uniform7'] as const, default: 'gaussian' as const, describe: 'SSIM window' })
      .option('id-network', { choices: ['faceapi', 'arcface', 'curricularface', 'none'] as const, default: 'faceapi' as const, describe: 'face-recognition network for IDS' })
      .option('id-checkpoint', { type: 'string', describe: 'weights of the ArcFace / CurricularFace network' })
      .option('lpips-alexnet', { type: 'string', describe: 'torchvision AlexNet weights for LPIPS (random AlexNet otherwise, reported)' })
      .option('timing-runs', { type: 'number', default: 3, describe: 'timed runs per image after a warm-up' })
      .option('out', { type: 'string', describe: 'output folder (default results/<table>-<suite>)' }),
    async (argv) => {
      const ws = workspaceRoot();
      const identity = argv['id-network'] === 'none' ? undefined : createIdentityNetwork({ network: argv['id-network'], checkpoint: argv['id-checkpoint'] });
      const lpips = createLpipsMetric({ alexnet: argv['lpips-alexnet'] });
      const outDir = path.resolve(argv.out ?? path.join(ws, 'results', `${argv.table}-${argv.suite}`));
      const r = await runTable({
        table: argv.table, suite: argv.suite, workspace: ws, runsRoot: runsRoot(), outDir,
        images: argv.images, count: argv.count, seed: argv.seed, ssimWindow: argv.ssim,
        identity, lpips: lpips.distance, timingRuns: argv['timing-runs'], log: (l) => console.log(l),
        notes: lpips.note ? [lpips.note] : [],
      });
      console.log(`\n${r.markdown}\n`);
      console.log(`wrote ${r.json} and ${r.html}`);
    },
  );
}
