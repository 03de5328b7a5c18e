// The config a training benchmark measures: a shipped config at another batch size, with paper
// configs on random networks of the real sizes (no weight files are needed: speed does not depend
// on the values) and earlier stages on their random initial weights.
import * as path from 'node:path';
import { loadConfig, type Config } from '@sgi/experiment';

export function benchConfig(repo: string, file: string, o: { batch: number; paper?: boolean; stages?: number }): Config {
  const cfg = loadConfig(path.join(repo, file), { checkFiles: false });
  cfg.train.batchSize = o.batch;
  if (o.paper) {
    cfg.generator.checkpoint = null;
    cfg.generator.randomInit = true;
    cfg.generator.meanLatentSamples = 16;
    cfg.loss.randomInit = true;
  }
  cfg.previousStages = [];
  cfg.stages = o.stages ?? 1;
  return cfg;
}
