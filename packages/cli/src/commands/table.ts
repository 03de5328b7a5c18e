// sgi table <table1|table2|table3>: evaluates the rows' checkpoints and prints the table beside
// the paper's numbers; writes results.json and report.html.
// sgi table restoration --config <task config>: scores a restoration/translation checkpoint per
// degradation level (identity baseline beside the restored output); writes table.md and results.json.
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { TABLES, runRestorationReport, runTable } from '@sgi/eval';
import { createIdentityNetwork, createLpipsMetric } from '@sgi/eval';
import { runsRoot, workspaceRoot } from '@sgi/experiment';

const RESTORATION = 'restoration';

export function tableCommand(y: Argv): Argv {
  return y.command(
    'table <table>',
    "Evaluate a paper table's methods (PSNR, SSIM, LPIPS, IDS, runtime, params), or a task checkpoint per degradation level (restoration), and write reports",
    (a) => a
      .positional('table', {
        choices: [...Object.keys(TABLES) as (keyof typeof TABLES)[], RESTORATION] as const, demandOption: true,
        describe: `which table: a paper table, or ${RESTORATION} (needs --config <task config>: identity baseline vs restored output at each level of the task, on held-out images)`,
      })
      .option('config', { type: 'string', describe: `${RESTORATION} only: the task config (e.g. configs/tiny/tasks/super_resolution.yaml)` })
      .option('checkpoint', { type: 'string', describe: `${RESTORATION} only: checkpoint (default: the newest best checkpoint of the config's run)` })
      .option('suite', { choices: ['tiny', 'paper'] as const, default: 'tiny' as const, describe: 'paper tables: tiny CPU configs or the full-scale paper configs' })
      .option('images', { type: 'string', describe: "folder of evaluation images (default for tiny and restoration: held-out images of the config's world)" })
      .option('count', { type: 'number', describe: 'evaluate a random selection of this many images (the paper: 2000; default without --images: 32)' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the random selection (and of which held-out images)' })
      .option('ssim', { choices: ['gaussian', 'uniform7'] as const, default: 'gaussian' as const, describe: 'SSIM window' })
      .option('id-network', { choices: ['faceapi', 'arcface', 'curricularface', 'none'] as const, default: 'faceapi' as const, describe: 'paper tables: face-recognition network for IDS' })
      .option('id-checkpoint', { type: 'string', describe: 'weights of the ArcFace / CurricularFace network' })
      .option('lpips-alexnet', { type: 'string', describe: 'torchvision AlexNet weights for LPIPS (random AlexNet otherwise, reported)' })
      .option('timing-runs', { type: 'number', default: 3, describe: 'paper tables: timed runs per image after a warm-up' })
      .option('out', { type: 'string', describe: `output folder (default results/<table>-<suite>, or results/${RESTORATION}-<config name>)` })
      .example(`$0 table ${RESTORATION} --config configs/tiny/tasks/super_resolution.yaml`, 'identity vs restored PSNR/SSIM/LPIPS at x1, x2, ... x16 on 32 held-out faces'),
    async (argv) => {
      const ws = workspaceRoot();
      const lpips = createLpipsMetric({ alexnet: argv['lpips-alexnet'] });
      const notes = lpips.note ? [lpips.note] : [];
      if (argv.table === RESTORATION) {
        if (!argv.config) throw new Error(`sgi table ${RESTORATION} needs --config <task config> (e.g. configs/tiny/tasks/super_resolution.yaml)`);
        const r = await runRestorationReport({
          configFile: argv.config, checkpoint: argv.checkpoint, workspace: ws, runsRoot: runsRoot(), outDir: argv.out && path.resolve(argv.out),
          images: argv.images, count: argv.count, seed: argv.seed, ssimWindow: argv.ssim, lpips: lpips.distance, log: (l) => console.log(l), notes,
        });
        console.log(`\n${r.markdown}\n`);
        console.log(`wrote ${r.table} and ${r.json}`);
        return;
      }
      if (argv.config || argv.checkpoint) throw new Error(`--config and --checkpoint are for sgi table ${RESTORATION}; ${argv.table} takes its configs and checkpoints from packages/eval/tables.yaml and the runs`);
      const identity = argv['id-network'] === 'none' ? undefined : createIdentityNetwork({ network: argv['id-network'], checkpoint: argv['id-checkpoint'] });
      const outDir = path.resolve(argv.out ?? path.join(ws, 'results', `${argv.table}-${argv.suite}`));
      const r = await runTable({
        table: argv.table, suite: argv.suite, workspace: ws, runsRoot: runsRoot(), outDir,
        images: argv.images, count: argv.count, seed: argv.seed, ssimWindow: argv.ssim,
        identity, lpips: lpips.distance, timingRuns: argv['timing-runs'], log: (l) => console.log(l), notes,
      });
      console.log(`\n${r.markdown}\n`);
      console.log(`wrote ${r.json} and ${r.html}`);
    },
  );
}
