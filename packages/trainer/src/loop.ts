// The training loop every run shares, whatever it trains (an encoder stage, or the face-world
// generator as a renderer): batches loaded a step ahead so loading overlaps compute, the task's
// loss -> backward -> optimizer step, metrics.jsonl (means since the last log line), validation
// with sample grids, atomic checkpoints (last K and best), exact resume, and a hard stop on a
// non-finite loss naming the step, the term and the last good checkpoint. In a data-parallel job
// (distributed.ts) every rank runs this loop on its part of each batch; rank 0 alone writes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Scope, Tensor, native, ops, resolveDevice, writeFileAtomic, DiskFullError, type HostTensor, type Module } from '@sgi/core';
import {
  bestCheckpointPath, configHash, createProgress, learningRateAt, markBest, pruneCheckpoints, readCheckpoint,
  resolvedConfig, runDirFor, stepCheckpointPath, writeCheckpoint, writeImageGrid, type Config,
} from '@sgi/experiment';
import { prepareRunDir, type RunDirOptions } from './run_dir.js';
import type { Optimizer } from './optim/index.js';
import {
  SINGLE_PROCESS, averageGradients, averageValues, batchNorms, broadcastOptimizer, broadcastTensors, injectedFailure, syncBatchNorms, traceWeights,
  type World,
} from './distributed.js';

export interface TrainOptions extends RunDirOptions {
  /** Stop after this step (for tests and kill/resume checks); the run's schedule is unchanged. */
  stopAfter?: number;
  runsRoot: string;
  quiet?: boolean;
  tty?: boolean;
  /** The data-parallel job this process is a rank of (default: a single process). */
  world?: World;
  /** Called at the end of every step, after its log line, validation and checkpoint (tests, monitors). */
  onStep?: (step: number) => void;
}

export interface TrainResult {
  runDir: string;
  step: number;
  bestCheckpoint: string | null;
  lastCheckpoint: string | null;
  history: { step: number; psnr: number; ssim: number; lpips?: number }[];
}

/** Validation figures (higher PSNR is better: it picks the best checkpoint) and a picture of them. */
export interface Validation {
  /** Images scored (a rank's part of the validation set in a data-parallel job; may be 0 there). */
  count: number;
  psnr: number;
  ssim: number;
  lpips?: number;
  /** Sample grid: images (CHW floats in [-1, 1]) row by row, `cols` per row, each `size` square. */
  grid: { data: Float32Array; offset: number }[];
  cols: number;
  size: number;
}

/** What a run trains: everything the loop needs to know about it. */
export interface TrainingTask<B> {
  /** One line for the log: what is trained, on which data. */
  describe: string;
  /** Where it runs and why, for the log (e.g. "cpu (auto: cuda unavailable: ...)"). */
  device: string;
  /** Networks running on random weights, printed in the log and recorded in the metrics. */
  randomInit: string[];
  /** The stage number recorded in checkpoints (1 for a generator). */
  stage: number;
  optimizer: Optimizer;
  /** The module trained (its BatchNorms are synchronised across ranks with train.syncBatchNorm). */
  module: Module;
  /** Images per step of this process (for images/s). */
  imagesPerStep: number;
  /** Weights saved in checkpoints as model.* and loaded back on resume. */
  stateDict(): Map<string, Tensor>;
  loadStateDict(state: Map<string, HostTensor>, context: string): void;
  /** Host data of step `step` (0-based), this rank's part of it; asked for one step ahead. */
  batch(step: number): Promise<B>;
  /**
   * The loss of one step (runs inside a scope): the total to minimise, and 'total' and its terms as
   * one detached vector on the device (`values`, named by `names`), read back only at log steps.
   */
  loss(batch: B, step: number): { total: Tensor; values: Tensor; names: string[] };
  /** Validation on this rank's part of the validation set (figures are means over `count` images). */
  validate(): Validation;
  /** Unreadable inputs skipped so far (counted in the metrics). */
  skipped?(): number;
  /** Called with the file of each new best checkpoint (e.g. to export the generator beside it). */
  onBest?(runDir: string, checkpoint: string): void;
}

/** Runs `task` as configured by `c`, in the run folder of `c`. */
export async function runTraining<B>(c: Config, opts: TrainOptions, makeTask: () => Promise<TrainingTask<B>>): Promise<TrainResult> {
  const runDir = runDirFor(c, opts.runsRoot);
  const world = opts.world ?? SINGLE_PROCESS;
  const root = world.rank === 0;
  const parallel = world.size > 1;
  const say = (line: string) => { if (!opts.quiet && root) console.log(line); };
  if (c.train.threads) native.setNumThreads(c.train.threads);
  if (parallel) {
    say(`world size ${world.size}: global batch ${c.train.batchSize * world.size} (train.batchSize ${c.train.batchSize} per rank), ` +
      `BatchNorm ${c.train.syncBatchNorm ? 'synchronised across ranks' : 'per rank'}`);
  }

  // Resume before building anything that consumes randomness (rank 0 decides, and reads the checkpoint).
  resolveDevice(c.device); // a device that cannot be used fails here, before the run folder is touched
  const resumeFrom = world.broadcastJson(root ? prepareRunDir(c, runDir, opts, say) : null);
  const task = await makeTask();
  const opt = task.optimizer;
  const hash = configHash(c);
  if (parallel && c.train.syncBatchNorm) syncBatchNorms(task.module, world);
  // running BatchNorm statistics: rank 0's are everyone's after each step (DDP's broadcast_buffers)
  const bnStats = parallel ? batchNorms(task.module).flatMap((bn) => [bn.runningMean, bn.runningVar]) : [];

  let startStep = 0;
  let best = -Infinity;
  if (resumeFrom && root) {
    const ck = readCheckpoint(resumeFrom);
    task.loadStateDict(ck.model, resumeFrom);
    opt.loadStateDict(new Map([...ck.optim].map(([k, t]) => [k, Tensor.fromArray(t.data, t.shape)])));
    startStep = ck.meta.step;
    best = Number(ck.meta.extra?.best ?? -Infinity);
    const ranks = Number(ck.meta.extra?.worldSize ?? 1);
    if (ranks !== world.size) say(`note: the checkpoint was written by a job of ${ranks} rank(s), this one has ${world.size}: the global batch and the data order differ from an uninterrupted run`);
    // drop the log lines of steps after the checkpoint: they are about to be run again
    const log = path.join(runDir, 'metrics.jsonl');
    if (fs.existsSync(log)) {
      const kept = fs.readFileSync(log, 'utf8').split('\n').filter((l) => {
        if (!l.trim()) return false;
        try { return (JSON.parse(l) as { step: number }).step <= startStep; } catch { return false; }
      });
      writeFileAtomic(log, kept.map((l) => `${l}\n`).join(''));
    }
    say(`resumed ${runDir} from step ${startStep} (${resumeFrom})`);
    if (startStep >= c.train.steps) say(`already trained to step ${startStep} (train.steps is ${c.train.steps}): nothing to do; --steps <more> trains longer`);
  }
  if (parallel) {
    // every rank starts from rank 0's weights, statistics and optimizer state
    const shared = world.broadcastJson({ startStep, best: Number.isFinite(best) ? best : null });
    startStep = shared.startStep;
    best = shared.best ?? -Infinity;
    broadcastTensors(world, [...task.stateDict().values()]);
    broadcastOptimizer(world, opt);
  }

  // the resolved config (absolute paths): `sgi train --resume <run dir>` reads it back
  if (root) writeFileAtomic(path.join(runDir, 'config.json'), JSON.stringify(resolvedConfig(c, runDir), null, 2));
  say(`run ${c.name}: ${task.describe}`);
  say(`  device: ${task.device}`);
  for (const note of task.randomInit) say(`  random-initialised: ${note}`);

  const metricsFile = path.join(runDir, 'metrics.jsonl');
  const started = Date.now();
  // every record carries the wall-clock seconds since this process started training
  const writeMetrics = (rec: Record<string, unknown>) => {
    if (!root) return;
    const line = `${JSON.stringify({ ...rec, seconds: Math.round((Date.now() - started) / 100) / 10 })}\n`;
    try {
      fs.appendFileSync(metricsFile, line);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EFBIG' || code === 'EDQUOT') throw new DiskFullError(`disk full: cannot append to ${metricsFile} (${code}); free some space and resume`);
      throw e;
    }
  };
  const history: TrainResult['history'] = [];
  let lastCheckpoint: string | null = resumeFrom;

  // a data-parallel run records its layout (not part of the config hash, see configHash)
  const layout = parallel ? { worldSize: world.size, ...(c.train.syncBatchNorm ? { syncBatchNorm: true } : {}) } : {};
  const saveCheckpoint = (step: number, metric?: number) => {
    const file = stepCheckpointPath(runDir, step);
    if (!root) return (lastCheckpoint = file);
    writeCheckpoint(file, task.stateDict(), opt.stateDict(), {
      step, stage: task.stage, configHash: hash, config: JSON.stringify(c), rng: [], metric, extra: { best, ...layout },
    });
    pruneCheckpoints(runDir, c.train.keepLast, file);
    lastCheckpoint = file;
    return file;
  };

  const runValidation = async (step: number) => {
    const v = reduceValidation(world, task.validate());
    history.push({ step, psnr: v.psnr, ssim: v.ssim, lpips: v.lpips });
    writeMetrics({ step, kind: 'val', psnr: v.psnr, ssim: v.ssim, lpips: v.lpips, randomInit: task.randomInit.length ? task.randomInit : undefined });
    const isBest = v.psnr > best;
    if (isBest) best = v.psnr;
    if (root) await writeImageGrid(path.join(runDir, 'samples', `step-${String(step).padStart(8, '0')}.png`), v.grid, v.size, v.cols);
    return { ...v, isBest };
  };

  if (startStep === 0) {
    const v0 = await runValidation(0);
    say(`step 0 (untrained): val PSNR ${v0.psnr.toFixed(2)} dB, SSIM ${v0.ssim.toFixed(3)}${v0.lpips !== undefined ? `, LPIPS ${v0.lpips.toFixed(3)}` : ''}`);
  }

  const total = c.train.steps;
  const end = Math.min(total, opts.stopAfter ?? total);
  const progress = createProgress(`train ${c.name}`, total, startStep, {
    // a launcher hands rank 0 a pseudo-terminal that is usually a log: plain lines, not a bar
    tty: opts.tty ?? (parallel ? false : undefined), every: c.train.logEvery, quiet: opts.quiet || !root,
  });
  let next = startStep < end ? task.batch(startStep) : null;
  let t0 = Date.now();
  let imagesSince = 0;
  // The loss values of each step stay on the device until they are read, all at once, at a log step
  // (and before validation and checkpoints): a step makes no device-to-host copy. A non-finite value
  // stops the run there, naming its step; no checkpoint is written before the steps are checked.
  let pending: { step: number; values: Tensor; names: string[] }[] = [];
  // per-term sums since the last log line: the logged values are means over those steps
  let sums: Record<string, number> = {};
  let stepsSince = 0;
  let reduceSeconds = 0;
  const collectLosses = () => {
    if (!pending.length) return;
    const names = pending[0]!.names, n = names.length;
    const all = ops.cat(pending.map((p) => p.values), 0);
    let host = all.toArray();
    all.release();
    // the figures of the global batch: every rank sees the same (finite or not) values
    if (parallel) host = averageValues(world, host);
    const steps = pending.map((p) => p.step);
    for (const p of pending) p.values.release();
    pending = [];
    steps.forEach((step, i) => {
      const row = host.subarray(i * n, (i + 1) * n);
      if (!row.every(Number.isFinite)) {
        const bad = names.filter((k, j) => k !== 'total' && !Number.isFinite(row[j]!));
        throw new Error(`non-finite loss at step ${step} (term${bad.length > 1 ? 's' : ''} ${bad.join(', ') || 'total'}); last good checkpoint: ${lastCheckpoint ?? 'none'}`);
      }
      names.forEach((k, j) => { sums[k] = (sums[k] ?? 0) + row[j]!; });
      stepsSince++;
    });
  };
  try {
    for (let step = startStep + 1; step <= end; step++) {
      injectedFailure(world, step);
      const batch = await next!;
      next = step < end ? task.batch(step) : null; // load the next batch while this one computes
      opt.lr = learningRateAt(c.train, step);
      const scope = new Scope();
      scope.run(() => {
        const out = task.loss(batch, step);
        pending.push({ step, names: out.names, values: scope.keep(out.values) });
        // the step's activations go as its gradients come (nothing reads them after the step)
        out.total.backward(undefined, { freeGraph: true });
        if (parallel) reduceSeconds += averageGradients(world, opt.params.filter((p) => p.requiresGrad));
        opt.step();
        opt.zeroGrad();
        if (parallel) broadcastTensors(world, bnStats);
      });
      traceWeights(world, step, task.stateDict());
      scope.dispose();
      imagesSince += task.imagesPerStep * world.size;
      const logging = step % c.train.logEvery === 0 || step === end;
      const validating = step % c.train.valEvery === 0 || step === total;
      const checkpointing = step % c.train.checkpointEvery === 0 || step === end;
      if (logging || validating || checkpointing) collectLosses();
      if (logging) {
        const secs = (Date.now() - t0) / 1000;
        const ips = imagesSince / Math.max(secs, 1e-9);
        const mean = (k: string) => sums[k]! / stepsSince;
        const means = { ...Object.fromEntries(Object.keys(sums).filter((k) => k !== 'total').map((k) => [k, mean(k)])), total: mean('total'), loss: mean('total') };
        const skipped = task.skipped?.();
        const reduce = parallel ? { allreduceMs: (1000 * reduceSeconds) / stepsSince } : {};
        writeMetrics({ step, kind: 'train', ...means, lr: opt.lr, imagesPerSec: ips, ...reduce, ...(skipped ? { skippedImages: skipped } : {}) });
        progress.update(step, { loss: means.loss!.toFixed(4), 'img/s': ips.toFixed(1) });
        t0 = Date.now();
        imagesSince = 0;
        stepsSince = 0;
        reduceSeconds = 0;
        sums = {};
      }
      if (validating) {
        const v = await runValidation(step);
        progress.log(`step ${step}: val PSNR ${v.psnr.toFixed(2)} dB, SSIM ${v.ssim.toFixed(3)}${v.lpips !== undefined ? `, LPIPS ${v.lpips.toFixed(3)}` : ''}${v.isBest ? ' (best)' : ''}`);
        if (v.isBest) {
          const file = saveCheckpoint(step, v.psnr);
          if (root) {
            markBest(runDir, file);
            task.onBest?.(runDir, file);
          }
        }
      }
      if (checkpointing) {
        if (!lastCheckpoint || !lastCheckpoint.endsWith(path.basename(stepCheckpointPath(runDir, step)))) saveCheckpoint(step);
      }
      opts.onStep?.(step);
    }
  } finally {
    for (const p of pending) p.values.release();
    progress.stop();
  }
  const bestFile = root && fs.existsSync(bestCheckpointPath(runDir)) ? bestCheckpointPath(runDir) : null;
  return { runDir, step: end, bestCheckpoint: bestFile, lastCheckpoint, history };
}

/**
 * The validation figures of the whole set: each rank scored its part (`count` images), the means are
 * weighted by those counts over the ranks. The sample grid stays rank 0's.
 */
function reduceValidation(world: World, v: Validation): Validation {
  if (world.size === 1) return v;
  const t = Tensor.fromArray([v.count, v.psnr * v.count, v.ssim * v.count, (v.lpips ?? 0) * v.count], [4]);
  world.allReduce([t], false);
  const [count, psnr, ssim, lpips] = t.toArray();
  t.release();
  return { ...v, count: count!, psnr: psnr! / count!, ssim: ssim! / count!, lpips: v.lpips === undefined ? undefined : lpips! / count! };
}
