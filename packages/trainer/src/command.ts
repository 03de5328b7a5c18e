// The training command line, `sgi-train` (also reached as `sgi train`): trains the last stage of an experiment config.
//   sgi train [--config <file>] [--run-dir <folder>] [--resume [<run folder>]] [--overwrite] [--steps N]
// A run folder holds one run: training into a folder that holds a run is refused unless the
// user resumes it (--resume) or replaces it (--overwrite). Started by mpirun or srun, each process is
// one rank of a data-parallel job (distributed.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import yargs from 'yargs';
import { loadConfig, runsRoot, workspaceRoot, type Config } from '@sgi/experiment';
import { train } from './train.js';
import { exportRun } from './renderer.js';
import { initWorld } from './distributed.js';

export const DEFAULT_CONFIG = 'configs/tiny/stage1.yaml';

/** The config a command line trains, with its run folder decided. */
export function configFor(argv: { config?: string; resume?: string; 'run-dir'?: string; steps?: number; device?: Config['device'] }): { config: Config; file: string } {
  const resumeDir = argv.resume ? path.resolve(argv.resume) : undefined;
  if (resumeDir && !fs.existsSync(path.join(resumeDir, 'config.json'))) {
    throw new Error(`${resumeDir} is not a run folder (no config.json); runs are written by \`sgi train\``);
  }
  const file = argv.config ?? (resumeDir ? path.join(resumeDir, 'config.json') : path.join(workspaceRoot(), DEFAULT_CONFIG));
  if (!argv.config && !resumeDir) console.log(`no --config given: training the tiny built-in experiment (${path.relative(process.cwd(), file) || file})`);
  const config = loadConfig(file);
  if (resumeDir) config.runDir = resumeDir;
  if (argv['run-dir']) {
    if (resumeDir && path.resolve(argv['run-dir']) !== resumeDir) throw new Error(`--run-dir ${argv['run-dir']} and --resume ${argv.resume} name different folders`);
    config.runDir = path.resolve(argv['run-dir']);
  }
  if (argv.steps) config.train.steps = argv.steps;
  if (argv.device) config.device = argv.device;
  return { config, file };
}

/** Runs the training command line on `args` (process.argv without node and the script). */
export async function trainCli(args: string[]): Promise<void> {
  await yargs(args)
    .scriptName('sgi train')
    .usage('$0\n\nTrain the last stage of an experiment config (earlier stages are loaded frozen from their runs).')
    .option('config', { type: 'string', describe: `experiment config (YAML or JSON); default: the tiny built-in experiment, ${DEFAULT_CONFIG}` })
    .option('run-dir', { type: 'string', describe: 'folder the run is written to (default: runs/<config name> in the workspace, or the config\'s runDir)' })
    .option('resume', { type: 'string', describe: "continue a run from its newest checkpoint: a run folder, or no value for the config's own run" })
    .option('overwrite', { type: 'boolean', default: false, describe: 'delete the run the folder holds and start over (with --resume: only when it holds another config\'s run)' })
    .option('steps', { type: 'number', describe: 'override train.steps (a finished run resumed with more steps trains on)' })
    .option('stop-after', { type: 'number', describe: 'stop after this step (the schedule is unchanged; resume later)' })
    .option('device', {
      choices: ['auto', 'cpu', 'cuda'] as const,
      describe: "where to train: cuda, cpu, or auto (CUDA when a usable GPU is present, else the CPU). Default: the config's device (auto). A run resumes on any device",
    })
    .option('export', { type: 'string', describe: "renderer runs: write the run's best generator (and its editing directions beside it) to this file, then exit" })
    .example('$0', 'train the tiny built-in experiment (tiny stage 1)')
    .example('$0 --config configs/tiny/stage2.yaml', 'train tiny stage 2 (stage 1 must be trained)')
    .example('$0 --resume runs/tiny-stage1 --steps 6000', 'continue a run and train it longer')
    .example('$0 --config configs/paper/stage1.yaml --device cuda', 'train on the GPU (fails with the reason when CUDA cannot be used)')
    .example('mpirun -np 4 $0 --config configs/tiny/stage1.yaml', 'data-parallel on 4 processes (train.batchSize per process)')
    .wrap(Math.min(120, Math.max(100, process.stdout.columns ?? 100)))
    .strict()
    .help()
    .fail((msg, err, y) => {
      if (err) throw err;
      console.error(`${msg}\n`);
      y.showHelp();
      process.exit(1);
    })
    .parseAsync()
    .then(async (argv) => {
      if (argv.help) return;
      const { config } = configFor(argv);
      if (argv.export) {
        const file = exportRun(config, runsRoot(), path.resolve(argv.export));
        console.log(`wrote ${file} and ${path.join(path.dirname(file), 'directions')}/`);
        return;
      }
      const world = initWorld();
      const result = await train(config, { resume: argv.resume !== undefined, overwrite: argv.overwrite, stopAfter: argv['stop-after'], runsRoot: runsRoot(), world });
      world.finish();
      if (world.rank !== 0) return;
      const last = result.history[result.history.length - 1];
      const first = result.history[0];
      console.log(`done: ${result.runDir} at step ${result.step}${last ? `, val PSNR ${last.psnr.toFixed(2)} dB` : ''}${first && last && first !== last ? ` (from ${first.psnr.toFixed(2)} dB at step ${first.step})` : ''}`);
      if (result.bestCheckpoint) console.log(`best checkpoint: ${result.bestCheckpoint}`);
    });
}
