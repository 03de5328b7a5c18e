// train(config): runs what the config trains, in its run folder, through the shared loop
// (loop.ts): the last encoder stage (inversion.ts) or the face-world generator (renderer.ts).
import type { Config } from '@sgi/experiment';
import { runTraining, type TrainOptions, type TrainResult } from './loop.js';
import { inversionTask } from './inversion.js';
import { rendererTask } from './renderer.js';

export async function train(c: Config, opts: TrainOptions): Promise<TrainResult> {
  const say = (line: string) => { if (!opts.quiet && (opts.world?.rank ?? 0) === 0) console.log(line); };
  return c.kind === 'renderer'
    ? runTraining(c, opts, () => rendererTask(c, opts.world))
    : runTraining(c, opts, () => inversionTask(c, opts.runsRoot, say, opts.world));
}
