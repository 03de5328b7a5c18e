// Restoration and translation by degradation level (the paper's Sections 5.3 and 5.4): a mean
// over mixed levels hides where restoration helps (super-resolution x1 is a perfect identity, x16
// a blur no encoder output is worse than), so this report scores every held-out image at each
// fixed level of the config's task, the restored output beside the identity baseline (the degraded
// input itself against the clean image). Levels: super-resolution's factors; LEVEL_STEPS noise
// stds and square rectangle sides spread evenly over the config's ranges; one row for colorization,
// sketch and segmentation. Multi-level tasks also get the row the tables score: levels drawn per image.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type SsimWindow } from '@sgi/core';
import {
  ConfigError, TASK_KINDS, degrade, describeTask, experimentProjectOf, inpaintingSides, loadConfig, runCheckpoint, runDirFor, type Config, type FixedLevel, type Task,
} from '@sgi/experiment';
import { environmentLine, loadMethod, scoreMethod, type EvalOptions, type LpipsFn, type MethodResult } from './evaluate.js';
import { pickEvalSet, type EvalSet } from './run_table.js';

/** How many noise stds and rectangle sides a denoise or inpainting report has (the ends of the config's range included). */
export const LEVEL_STEPS = 4;

/** One row of the report: a fixed level, or (no `fixed`) the level drawn per image as training and the tables do. */
export interface TaskLevel {
  label: string;
  fixed?: FixedLevel;
}

/** `steps` values spread evenly over [lo, hi] (one value when lo equals hi). */
function spread(lo: number, hi: number, steps: number): number[] {
  if (hi <= lo || steps < 2) return [lo];
  return Array.from({ length: steps }, (_, i) => lo + ((hi - lo) * i) / (steps - 1));
}

/** The rows of a task's report at encoder input size `size`. */
export function taskLevels(task: Task, size: number, steps = LEVEL_STEPS): TaskLevel[] {
  let levels: TaskLevel[];
  switch (task.kind) {
    case 'super_resolution':
      levels = [...new Set(task.factors)].sort((a, b) => a - b).map((factor) => ({ label: `x${factor}`, fixed: { factor } }));
      break;
    case 'denoise':
      levels = [...new Set(spread(task.sigma[0], task.sigma[1], steps).map((s) => Number(s.toFixed(3))))]
        .map((sigma) => ({ label: `sigma ${sigma}`, fixed: { sigma } }));
      break;
    case 'inpainting': {
      const [lo, hi] = inpaintingSides(size, task.minSize, task.maxSize);
      levels = [...new Set(spread(lo, hi, steps).map(Math.round))]
        .map((side) => ({ label: `square ${side}x${side} px (${(side / size).toFixed(2)} of the side)`, fixed: { size: side / size } }));
      break;
    }
    default:
      return [{ label: task.kind }];
  }
  return levels.length > 1 ? [...levels, { label: 'drawn per image (as in training and the tables)' }] : levels;
}

export interface Scores { psnr: number; ssim: number; lpips?: number }

export interface LevelRow {
  level: string;
  fixed?: FixedLevel;
  /** Images scored (those that could not be read or degraded are in `failed`). */
  n: number;
  failed: MethodResult['failed'];
  /** The degraded input itself against the clean image (PSNR PSNR_CAP: an exact copy, e.g. x1). */
  identity: Scores;
  /** The encoder's output from the degraded input, against the clean image. */
  restored: Scores;
  /** Whether the restored PSNR is above the identity baseline's. */
  beats: boolean;
}

export interface LevelOptions extends Omit<EvalOptions, 'level' | 'timingRuns' | 'previews' | 'identity'> {
  /** The config file, as reports name it. */
  configFile: string;
  /** The rows (default: taskLevels of the config's task). */
  levels?: TaskLevel[];
}

/** The config's task; a config without one is an error naming the file. */
function requireTask(config: Config, file: string): Task {
  if (!config.task) throw new ConfigError(`${file}: no task section: the restoration report scores a restoration/translation config (task.kind one of ${TASK_KINDS.join(', ')})`);
  return config.task;
}

/**
 * PSNR of one image at most this (dB), as training's validation takes it (meanImageScores): an
 * exact copy (x1, sigma 0) counts as PSNR_CAP, so a mean over drawn levels stays finite.
 */
export const PSNR_CAP = 100;

const meanOf = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/**
 * Scores a task config's checkpoint on the files at each level: per level the mean identity baseline
 * and restored scores over the images (each degraded, seeded by its index, at that level).
 */
export async function restorationLevels(config: Config, checkpoint: string, files: string[], opts: LevelOptions): Promise<{ rows: LevelRow[]; randomInit: string[] }> {
  const task = requireTask(config, opts.configFile);
  const size = config.encoder.inputSize;
  const levels = opts.levels ?? taskLevels(task, size);
  // a level the task cannot take fails here, once, not as every image's failure
  for (const { fixed } of levels) if (fixed) degrade(task, new Float32Array(3 * size * size), size, [0], fixed);
  const exp = loadMethod(config, checkpoint, opts);
  try {
    const rows: LevelRow[] = [];
    for (const { label, fixed } of levels) {
      const r = await scoreMethod(exp, label, opts.configFile, checkpoint, files, { ...opts, level: fixed, timingRuns: 0, previews: 0 });
      const avg = (pick: (i: MethodResult['images'][number]) => number) => meanOf(r.images.map(pick));
      const identity = { psnr: avg((i) => Math.min(i.baseline!.psnr, PSNR_CAP)), ssim: avg((i) => i.baseline!.ssim), lpips: opts.lpips ? avg((i) => i.baseline!.lpips!) : undefined };
      const restored = { psnr: avg((i) => Math.min(i.psnr, PSNR_CAP)), ssim: avg((i) => i.ssim), lpips: opts.lpips ? avg((i) => i.lpips!) : undefined };
      rows.push({ level: label, fixed, n: r.images.length, failed: r.failed, identity, restored, beats: restored.psnr > identity.psnr });
    }
    return { rows, randomInit: exp.randomInit };
  } finally {
    exp.model.release();
    exp.generator.release();
  }
}

export interface RestorationReport {
  title: string;
  config: string;
  checkpoint: string;
  task: string;
  environment: string;
  conventions: string[];
  evalSet: { source: string; count: number; files: string[]; seed: number };
  rows: LevelRow[];
}

export interface RestorationReportOptions {
  /** The task config (its `task` section says the degradation and its levels). */
  configFile: string;
  /** Default: the best checkpoint of the config's run. */
  checkpoint?: string;
  workspace: string;
  runsRoot: string;
  /** Default: results/restoration-<config name> in the workspace. */
  outDir?: string;
  /** Folder of clean evaluation images; default: held-out images of the config's world (pickEvalSet). */
  images?: string;
  count?: number;
  seed: number;
  ssimWindow: SsimWindow;
  lpips?: LpipsFn;
  device?: EvalOptions['device'];
  log: (line: string) => void;
  /** Extra lines for the report (e.g. which metric networks run on random weights). */
  notes?: string[];
}

const fmt = (v: number | undefined, digits: number) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits));

export function restorationMarkdown(r: RestorationReport): string {
  const lines = [
    `### ${r.title}`,
    '',
    '| level | images | identity PSNR | restored PSNR | identity SSIM | restored SSIM | identity LPIPS | restored LPIPS | restored beats identity (PSNR) |',
    '|---|---|---|---|---|---|---|---|---|',
    ...r.rows.map((x) => `| ${x.level} | ${x.n} | ${fmt(x.identity.psnr, 2)} | ${fmt(x.restored.psnr, 2)} | ${fmt(x.identity.ssim, 3)} | ${fmt(x.restored.ssim, 3)} | ${fmt(x.identity.lpips, 3)} | ${fmt(x.restored.lpips, 3)} | ${x.beats ? 'yes' : 'no'} |`),
    '',
    `Config ${r.config}, checkpoint ${r.checkpoint}; task: ${r.task}.`,
    `Evaluation set: ${r.evalSet.count} images from ${r.evalSet.source}.`,
    ...r.conventions.map((c) => `- ${c}`),
    `- ${r.environment}`,
  ];
  const failed = r.rows.flatMap((x) => x.failed.map((f) => `${x.level}: ${f.file} (${f.reason})`));
  lines.push(failed.length ? `- ${failed.length} image(s) could not be scored and are excluded from the means: ${failed.join('; ')}` : '- every image was scored at every level');
  return lines.join('\n');
}

/** Writes table.md and results.json into outDir. */
export function writeRestorationReport(outDir: string, r: RestorationReport): { markdown: string; json: string; table: string } {
  fs.mkdirSync(outDir, { recursive: true });
  const markdown = restorationMarkdown(r);
  const json = path.join(outDir, 'results.json'), table = path.join(outDir, 'table.md');
  fs.writeFileSync(json, `${JSON.stringify(r, null, 2)}\n`);
  fs.writeFileSync(table, `${markdown}\n`);
  return { markdown, json, table };
}

/** The report of a task config: its checkpoint, the evaluation set, every level scored, the files written. */
export async function runRestorationReport(o: RestorationReportOptions): Promise<{ report: RestorationReport; outDir: string; markdown: string; json: string; table: string }> {
  const config = loadConfig(o.configFile);
  const outDir = o.outDir ?? path.join(o.workspace, 'results', `restoration-${config.name}`);
  // paths in the workspace as relative ones, others as they are
  const show = (file: string) => { const rel = path.relative(o.workspace, path.resolve(file)); return rel.startsWith('..') || path.isAbsolute(rel) ? path.resolve(file) : rel; };
  const shown = show(o.configFile);
  const task = requireTask(config, o.configFile);
  let checkpoint = o.checkpoint;
  if (checkpoint && !fs.existsSync(checkpoint)) throw new Error(`checkpoint not found: ${checkpoint}`);
  if (!checkpoint) {
    const runDir = runDirFor(config, o.runsRoot);
    const project = experimentProjectOf(o.configFile, o.workspace);
    checkpoint = runCheckpoint(runDir) ?? undefined;
    if (!checkpoint) throw new Error(`${o.configFile}: no checkpoint in ${runDir} (train it: ${project ? `npx nx run ${project}:train` : `sgi train --config ${o.configFile}`}, or pass --checkpoint)`);
  }
  const set: EvalSet = await pickEvalSet({ configFile: o.configFile, images: o.images, count: o.count, seed: o.seed, outDir, runsRoot: o.runsRoot });
  const levels = taskLevels(task, config.encoder.inputSize);
  o.log(`${config.name}: ${describeTask(task)}; ${levels.length} level(s) x ${set.files.length} image(s) from ${set.source}; checkpoint ${checkpoint}`);
  const { rows, randomInit } = await restorationLevels(config, checkpoint, set.files, {
    configFile: shown, levels, ssimWindow: o.ssimWindow, lpips: o.lpips, runsRoot: o.runsRoot, device: o.device, faceSeeds: set.faceSeeds,
  });
  const report: RestorationReport = {
    title: `Restoration by level: ${config.name}`,
    config: shown, checkpoint: show(checkpoint), task: describeTask(task), environment: environmentLine(),
    conventions: [
      'identity: the degraded input itself scored against the clean image; restored: the encoder\'s output from the degraded input, scored against the clean image',
      'every image is degraded at each level with the same seed (its index in the evaluation set, as the tables do); "drawn per image" is the tables\' mixture of levels',
      `PSNR on 8-bit values (MAX 255), images at the encoder input size, at most ${PSNR_CAP} dB per image as in training's validation (${PSNR_CAP}: an exact copy, the identity of a level that changes nothing)`,
      o.ssimWindow === 'gaussian' ? 'SSIM: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03 (Wang et al.), per channel, averaged' : "SSIM: scikit-image's 7x7 uniform window (sample covariance)",
      o.lpips ? 'LPIPS: AlexNet v0.1' : 'LPIPS: not measured',
      ...(o.notes ?? []),
      ...randomInit.map((x) => `random-initialised (no weights offline): ${x}`),
    ],
    evalSet: { source: set.source, count: set.files.length, files: set.files.map(show), seed: o.seed },
    rows,
  };
  return { report, outDir, ...writeRestorationReport(outDir, report) };
}
