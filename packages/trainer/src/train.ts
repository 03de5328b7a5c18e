// The training loop of one stage: data -> multi-stage inversion (earlier stages frozen) ->
// weighted losses -> Ranger/Adam step; logging to metrics.jsonl, validation PSNR/SSIM/LPIPS,
// sample grids, atomic checkpoints, exact resume, and a hard stop on a non-finite loss. A run folder
// holds one run: a fresh run never mixes with or deletes an earlier one unless told to.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng, Scope, Tensor, native, noGrad, ops, psnr, ssim, tensorToImages, writeFileAtomic, DiskFullError } from '@sgi/core';
import { CombinedLoss } from '@sgi/losses';
import {
  bestCheckpointPath, buildExperiment, configHash, createProgress, latestCheckpoint, listImages, markBest, pruneCheckpoints,
  readCheckpoint, readCheckpointMeta, resolvedConfig, runDirFor, sampleGeneratorImages, stepCheckpointPath, writeCheckpoint,
  writeImageGrid, type Config, type Experiment,
} from '@sgi/experiment';
import { FolderLoader, loadReadable, splitFiles } from './data.js';
import { Adam, Ranger, type Optimizer } from './optim/index.js';

export interface TrainOptions {
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
  /** Stop after this step (for tests and kill/resume checks); the run's schedule is unchanged. */
  stopAfter?: number;
  runsRoot: string;
  quiet?: boolean;
  tty?: boolean;
}

export interface TrainResult {
  runDir: string;
  step: number;
  bestCheckpoint: string | null;
  lastCheckpoint: string | null;
  history: { step: number; psnr: number; ssim: number; lpips?: number }[];
}


/** Training data: image folder batches or images the generator makes from random latents. */
interface DataSource {
  batch(step: number): Promise<Float32Array>;
  validation(): Promise<Tensor>;
  /** Unreadable images skipped so far (folder data). */
  skipped?(): number;
  describe: string;
}

function folderSource(c: Config, log: (line: string) => void): DataSource {
  const files = listImages(c.data.path!);
  const split = splitFiles(files, c.data.val, c.seed);
  if (split.train.length === 0) throw new Error(`${c.data.path}: all ${files.length} images went to validation; lower data.val`);
  const loader = new FolderLoader(split.train, c.encoder.inputSize, c.train.batchSize, c.seed, c.data.flip, { onSkip: (f, why) => log(`skipped unreadable training image ${f}: ${why}`) });
  const valFiles = split.val.slice(0, c.train.valImages);
  return {
    batch: async (step) => (await loader.load(step)).data,
    validation: async () => {
      const v = await loadReadable(valFiles, c.encoder.inputSize, (f, why) => log(`skipped unreadable validation image ${f}: ${why}`));
      if (!v) throw new Error(`${c.data.path}: none of the ${valFiles.length} validation image(s) could be read`);
      return v;
    },
    skipped: () => loader.skipped.size,
    describe: `${split.train.length} training / ${split.val.length} validation images from ${c.data.path}`,
  };
}

function syntheticSource(c: Config, exp: Experiment): DataSource {
  const sample = (seed: number, count: number): Tensor => sampleGeneratorImages(exp, count, seed);
  return {
    batch: async (step) => {
      const scope = new Scope();
      try {
        return scope.run(() => sample(c.seed * 1000003 + step + 1, c.train.batchSize).toArray());
      } finally {
        scope.dispose();
      }
    },
    validation: async () => {
      const scope = new Scope();
      const t = scope.run(() => scope.keep(sample(0x7a11d + c.seed, c.train.valImages)));
      scope.dispose();
      return t;
    },
    describe: `synthetic images from the generator (truncation ${c.data.truncation})`,
  };
}

function makeOptimizer(c: Config, params: Tensor[]): Optimizer {
  return c.train.optimizer === 'adam' ? new Adam(params, { lr: c.train.lr }) : new Ranger(params, { lr: c.train.lr });
}

/** Validation: reconstructions of the held-out images, PSNR/SSIM on 8-bit values, LPIPS. */
export function validate(exp: Experiment, loss: CombinedLoss, val: Tensor): { psnr: number; ssim: number; lpips?: number; recon: Tensor[] } {
  return noGrad(() => {
    const wasTraining = exp.model.training;
    exp.model.eval();
    const { images } = exp.model.forward(val, { withImages: true });
    if (wasTraining) exp.stages[exp.stages.length - 1]!.train();
    const y = images[images.length - 1]!;
    const a = tensorToImages(val), b = tensorToImages(y);
    let p = 0, s = 0;
    for (let i = 0; i < a.length; i++) {
      p += Math.min(psnr(a[i]!, b[i]!), 100);
      s += ssim(a[i]!, b[i]!);
    }
    const lp = loss.lpips ? ops.mean(loss.lpips.distance(y, val)).item() : undefined;
    return { psnr: p / a.length, ssim: s / a.length, lpips: lp, recon: images };
  });
}

/** A run folder already holds a run and the caller asked neither to resume nor to overwrite it. */
export class RunExistsError extends Error {}

/** What a run folder holds: nothing, or a run (its config name and newest checkpoint step, if any). */
export function describeRunDir(runDir: string): { exists: false } | { exists: true; name?: string; step?: number } {
  if (!fs.existsSync(runDir)) return { exists: false };
  const entries = fs.readdirSync(runDir);
  if (!entries.some((e) => e === 'config.json' || e === 'metrics.jsonl' || e === 'checkpoints')) return { exists: false };
  let name: string | undefined;
  try { name = (JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')) as { name?: string }).name; } catch { /* no config yet */ }
  const latest = latestCheckpoint(runDir);
  return { exists: true, name, step: latest ? readCheckpointMeta(latest)?.step : undefined };
}

/** Decides how a run starts in its folder: fresh, resumed from a checkpoint, or refused. */
function prepareRunDir(c: Config, runDir: string, opts: TrainOptions, say: (l: string) => void): string | null {
  const held = describeRunDir(runDir);
  const wipe = (why: string) => {
    say(`${why}: deleting the earlier run in ${runDir} (--overwrite)`);
    fs.rmSync(runDir, { recursive: true, force: true });
  };
  if (held.exists && opts.resume) {
    const latest = latestCheckpoint(runDir, say);
    const meta = latest ? readCheckpointMeta(latest) : null;
    if (latest && meta && meta.configHash === configHash(c)) return latest;
    if (latest && meta && !opts.overwrite) {
      throw new RunExistsError(`${runDir} holds a run written with a different config (hash ${meta.configHash}, now ${configHash(c)}); ` +
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

export async function train(c: Config, opts: TrainOptions): Promise<TrainResult> {
  const runDir = runDirFor(c, opts.runsRoot);
  const say = (line: string) => { if (!opts.quiet) console.log(line); };
  if (c.train.threads) native.setNumThreads(c.train.threads);

  // Resume before building anything that consumes randomness.
  const resumeFrom = prepareRunDir(c, runDir, opts, say);

  const exp = buildExperiment(c, { runsRoot: opts.runsRoot });
  const loss = new CombinedLoss({ ...c.loss, seed: c.seed });
  const randomNotes = [...exp.randomInit, ...loss.randomInitialised];
  const stage = c.stages;
  const trained = exp.stages[stage - 1]!;
  trained.train();
  const params = trained.parameters();
  const opt = makeOptimizer(c, params);
  const hash = configHash(c);

  let startStep = 0;
  let best = -Infinity;
  if (resumeFrom) {
    const ck = readCheckpoint(resumeFrom);
    exp.model.loadStateDict(ck.model, { context: resumeFrom });
    opt.loadStateDict(new Map([...ck.optim].map(([k, t]) => [k, Tensor.fromArray(t.data, t.shape)])));
    startStep = ck.meta.step;
    best = Number(ck.meta.extra?.best ?? -Infinity);
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

  // the resolved config (absolute paths): `sgi train --resume <run dir>` reads it back
  writeFileAtomic(path.join(runDir, 'config.json'), JSON.stringify(resolvedConfig(c, runDir), null, 2));
  const data = c.data.kind === 'folder' ? folderSource(c, say) : syntheticSource(c, exp);
  const val = await data.validation();
  val.persistent = true;
  say(`run ${c.name}: stage ${stage} of ${c.stages}, ${trained.numParameters().toLocaleString('en-US')} trainable parameters, ${data.describe}`);
  for (const note of randomNotes) say(`  random-initialised: ${note}`);

  const metricsFile = path.join(runDir, 'metrics.jsonl');
  const started = Date.now();
  // every record carries the wall-clock seconds since this process started training
  const writeMetrics = (rec: Record<string, unknown>) => {
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

  const saveCheckpoint = (step: number, metric?: number) => {
    const file = stepCheckpointPath(runDir, step);
    writeCheckpoint(file, exp.model.stateDict(), opt.stateDict(), {
      step, stage, configHash: hash, config: JSON.stringify(c), rng: [], metric, extra: { best },
    });
    pruneCheckpoints(runDir, c.train.keepLast, file);
    lastCheckpoint = file;
    return file;
  };

  const runValidation = async (step: number) => {
    const v = validate(exp, loss, val);
    history.push({ step, psnr: v.psnr, ssim: v.ssim, lpips: v.lpips });
    writeMetrics({ step, kind: 'val', psnr: v.psnr, ssim: v.ssim, lpips: v.lpips, randomInit: randomNotes.length ? randomNotes : undefined });
    const isBest = v.psnr > best;
    if (isBest) best = v.psnr;
    const rows = Math.min(4, val.shape[0]!);
    const plane = val.numel / val.shape[0]!;
    const grid: { data: Float32Array; offset: number }[] = [];
    const recon = v.recon.map((t) => t.toArray());
    const input = val.toArray();
    for (let i = 0; i < rows; i++) {
      grid.push({ data: input, offset: i * plane });
      for (const r of recon) grid.push({ data: r, offset: i * plane });
    }
    await writeImageGrid(path.join(runDir, 'samples', `step-${String(step).padStart(8, '0')}.png`), grid, c.encoder.inputSize, 1 + recon.length);
    for (const t of v.recon) t.release();
    return { ...v, isBest };
  };

  if (startStep === 0) {
    const v0 = await runValidation(0);
    say(`step 0 (untrained stage ${stage}): val PSNR ${v0.psnr.toFixed(2)} dB, SSIM ${v0.ssim.toFixed(3)}${v0.lpips !== undefined ? `, LPIPS ${v0.lpips.toFixed(3)}` : ''}`);
  }

  const total = c.train.steps;
  const end = Math.min(total, opts.stopAfter ?? total);
  const progress = createProgress(`train ${c.name}`, total, startStep, { tty: opts.tty, every: c.train.logEvery, quiet: opts.quiet });
  const B = c.train.batchSize, S = c.encoder.inputSize;
  let next = startStep < end ? data.batch(startStep) : null;
  let t0 = Date.now();
  let imagesSince = 0;
  // per-term sums since the last log line: the logged values are means over those steps
  let sums: Record<string, number> = {};
  let stepsSince = 0;
  try {
    for (let step = startStep + 1; step <= end; step++) {
      const batch = await next!;
      next = step < end ? data.batch(step) : null; // decode the next batch while this one computes
      const scope = new Scope();
      let terms: Record<string, number> = {};
      let totalLoss = 0;
      scope.run(() => {
        const x = Tensor.fromArray(batch, [B, 3, S, S]);
        const { images } = exp.model.forward(x, { trainFrom: stage, withImages: true, noise: c.train.noise, rng: new Rng(c.seed * 7919 + step) });
        const out = loss.forward(images[images.length - 1]!, x);
        terms = out.terms;
        totalLoss = out.total.item();
        if (!Number.isFinite(totalLoss)) return;
        out.total.backward();
        opt.step();
        opt.zeroGrad();
      });
      scope.dispose();
      if (!Number.isFinite(totalLoss)) {
        const bad = Object.entries(terms).filter(([, v]) => !Number.isFinite(v)).map(([k]) => k);
        throw new Error(`non-finite loss at step ${step} (term${bad.length > 1 ? 's' : ''} ${bad.join(', ') || 'total'}); last good checkpoint: ${lastCheckpoint ?? 'none'}`);
      }
      imagesSince += B;
      stepsSince++;
      for (const [k, v] of Object.entries({ ...terms, loss: totalLoss })) sums[k] = (sums[k] ?? 0) + v;
      if (step % c.train.logEvery === 0 || step === end) {
        const secs = (Date.now() - t0) / 1000;
        const ips = imagesSince / Math.max(secs, 1e-9);
        const means = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / stepsSince]));
        const skipped = data.skipped?.();
        writeMetrics({ step, kind: 'train', ...means, lr: c.train.lr, imagesPerSec: ips, ...(skipped ? { skippedImages: skipped } : {}) });
        progress.update(step, { loss: means.loss!.toFixed(4), 'img/s': ips.toFixed(1) });
        t0 = Date.now();
        imagesSince = 0;
        stepsSince = 0;
        sums = {};
      }
      if (step % c.train.valEvery === 0 || step === total) {
        const v = await runValidation(step);
        progress.log(`step ${step}: val PSNR ${v.psnr.toFixed(2)} dB, SSIM ${v.ssim.toFixed(3)}${v.isBest ? ' (best)' : ''}`);
        if (v.isBest) {
          markBest(runDir, saveCheckpoint(step, v.psnr));
        }
      }
      if (step % c.train.checkpointEvery === 0 || step === end) {
        if (!lastCheckpoint || !lastCheckpoint.endsWith(path.basename(stepCheckpointPath(runDir, step)))) saveCheckpoint(step);
      }
    }
  } finally {
    progress.stop();
  }
  const bestFile = fs.existsSync(bestCheckpointPath(runDir)) ? bestCheckpointPath(runDir) : null;
  return { runDir, step: end, bestCheckpoint: bestFile, lastCheckpoint, history };
}
