// sgi train ...: runs the trainer's own executable, `sgi-train` (package @sgi/trainer), with the
// same arguments, as git runs git-<command>. The CLI does not import training code: inference,
// evaluation and conversion work without the trainer installed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Argv } from 'yargs';

export const TRAIN_EXECUTABLE = 'sgi-train';

/** The sgi-train executable: node_modules/.bin above this CLI or the current folder, else PATH. */
export function findTrainExecutable(): string | null {
  const starts = [path.dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of starts) {
    for (let dir = start; ; dir = path.dirname(dir)) {
      const bin = path.join(dir, 'node_modules', '.bin', TRAIN_EXECUTABLE);
      if (fs.existsSync(bin)) return bin;
      if (path.dirname(dir) === dir) break;
    }
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const bin = path.join(dir, TRAIN_EXECUTABLE);
    if (dir && fs.existsSync(bin)) return bin;
  }
  return null;
}

/** Runs `sgi-train args...` with this terminal; returns its exit status. */
export function runTrain(args: string[]): number {
  const bin = findTrainExecutable();
  if (!bin) {
    console.error(`error: \`sgi train\` needs the trainer (package @sgi/trainer, executable ${TRAIN_EXECUTABLE}), which is not installed here; in this repository run \`npm ci\``);
    return 1;
  }
  const r = spawnSync(process.execPath, [fs.realpathSync(bin), ...args], { stdio: 'inherit' });
  if (r.error) {
    console.error(`error: cannot run ${bin}: ${r.error.message}`);
    return 1;
  }
  return r.status ?? 1;
}

/** Listed in `sgi --help`; main.ts hands `sgi train ...` to runTrain before yargs parses it. */
export function trainCommand(y: Argv): Argv {
  return y.command('train', 'Train the last stage of an experiment config (runs sgi-train; see sgi train --help)', (a) => a, () => {
    process.exitCode = runTrain(process.argv.slice(3));
  });
}
