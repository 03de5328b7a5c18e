// sgi train --config <file> [--resume] [--steps N]
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { loadConfig, train } from '@sgi/trainer';
import { runsRoot, workspaceRoot } from '../workspace.js';

export function trainCommand(y: Argv): Argv {
  return y.command(
    'train',
    'Train the last stage of an experiment config (earlier stages are loaded frozen)',
    (a) => a
      .option('config', { type: 'string', describe: 'experiment config (YAML or JSON); default: the tiny built-in experiment, configs/tiny/stage1.yaml' })
      .option('resume', { type: 'string', describe: "continue a run from its newest checkpoint: a run folder, or no value for the config's own run" })

      .option('steps', { type: 'number', describe: 'override train.steps' })
      .option('stop-after', { type: 'number', describe: 'stop after this step (the schedule is unchanged; resume later)' }),
    async (argv) => {
      const resumeDir = argv.resume ? path.resolve(argv.resume) : undefined;
      if (resumeDir && !fs.existsSync(path.join(resumeDir, 'config.json'))) {
        throw new Error(`${resumeDir} is not a run folder (no config.json); runs are written by \`sgi train\``);
      }
      const file = argv.config ?? (resumeDir ? path.join(resumeDir, 'config.json') : path.join(workspaceRoot(), 'configs/tiny/stage1.yaml'));
      if (!argv.config && !resumeDir) console.log(`no --config given: training the tiny built-in experiment (${path.relative(process.cwd(), file)})`);
      const config = loadConfig(file);
      if (resumeDir) config.runDir = resumeDir;
      if (argv.steps) config.train.steps = argv.steps;
      const result = await train(config, { resume: argv.resume !== undefined, stopAfter: argv['stop-after'], runsRoot: runsRoot() });
      const last = result.history[result.history.length - 1];
      const first = result.history[0];
      console.log(`done: ${result.runDir} at step ${result.step}${last ? `, val PSNR ${last.psnr.toFixed(2)} dB` : ''}${first && last && first !== last ? ` (from ${first.psnr.toFixed(2)} dB at step ${first.step})` : ''}`);
      if (result.bestCheckpoint) console.log(`best checkpoint: ${result.bestCheckpoint}`);
    },
  );
}
