// A run folder holds one run. A fresh run in a folder that holds one is refused (nothing
// changes) unless the caller resumes it or asks to replace it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configHash, latestCheckpoint, readCheckpointMeta, type Config } from '@sgi/experiment';

export interface RunDirOptions {
  /**
   * Continue the run in its folder from its newest checkpoint (a folder without a checkpoint
   * starts at step 0). A checkpoint written with another config is an error, unless `overwrite`.
   */
  resume?: boolean;
  /**
   * Replace whatever run the folder holds (deleted) instead of refusing. With `resume`: continue a
   * run of the same config, and start over only when the folder holds another config's run.
   */
  overwrite?: boolean;
}

/** A run folder already holds a run and the caller asked neither to resume nor to overwrite it. */
export class RunExistsError extends Error {}

/**
 * What a run folder holds: nothing, or a run (its config name and its newest usable checkpoint with
 * that checkpoint's step, if any; `warn` hears about unreadable checkpoints skipped on the way).
 */
export function describeRunDir(runDir: string, warn?: (msg: string) => void): { exists: false } | { exists: true; name?: string; latest: string | null; step?: number } {
  if (!fs.existsSync(runDir)) return { exists: false };
  const entries = fs.readdirSync(runDir);
  if (!entries.some((e) => e === 'config.json' || e === 'metrics.jsonl' || e === 'checkpoints')) return { exists: false };
  let name: string | undefined;
  try { name = (JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')) as { name?: string }).name; } catch { /* no config yet */ }
  const latest = latestCheckpoint(runDir, warn);
  return { exists: true, name, latest, step: latest ? readCheckpointMeta(latest)?.step : undefined };
}

/** Decides how a run starts in its folder: fresh, resumed from a checkpoint, or refused. */
export function prepareRunDir(c: Config, runDir: string, opts: RunDirOptions, say: (l: string) => void): string | null {
  // the newest checkpoint is read (and checked) once, here
  const held = describeRunDir(runDir, opts.resume ? say : undefined);
  const wipe = (why: string) => {
    say(`${why}: deleting the earlier run in ${runDir} (--overwrite)`);
    fs.rmSync(runDir, { recursive: true, force: true });
  };
  if (held.exists && opts.resume) {
    const latest = held.latest;
    const meta = latest ? readCheckpointMeta(latest) : null;
    const hash = configHash(c);
    if (latest && meta && meta.configHash === hash) return latest;
    if (latest && meta && !opts.overwrite) {
      throw new RunExistsError(`${runDir} holds a run written with a different config (hash ${meta.configHash}, now ${hash}); ` +
        'resume it with the config it was trained with, start over with --overwrite (deletes it), or choose another folder with --run-dir');
    }
    if (latest) wipe('the folder holds a run of a different config');
    else if (opts.overwrite) wipe('no checkpoint to resume');
    else say(`no checkpoint in ${runDir}: starting from step 0`);
  } else if (held.exists) {
    if (!opts.overwrite) {
      const what = `a run${held.name ? ` of '${held.name}'` : ''}${held.step !== undefined ? ` (checkpoint at step ${held.step})` : ''}`;
      throw new RunExistsError(`${runDir} already holds ${what}; nothing was changed. ` +
        'Continue it with --resume, start over with --overwrite (deletes it), or write this run elsewhere with --run-dir <folder>');
    }
    wipe('a fresh run was asked for');
  }
  fs.mkdirSync(runDir, { recursive: true });
  // a folder resumed without a checkpoint keeps no log lines of the lost steps
  const log = path.join(runDir, 'metrics.jsonl');
  if (fs.existsSync(log)) fs.rmSync(log);
  return null;
}

