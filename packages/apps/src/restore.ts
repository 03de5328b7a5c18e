// Restoration and translation (the paper's Sections 5.3 and 5.4) with an encoder trained on a task
// (config `task`): images (degraded photos, sketches, label maps) go straight into the encoder and
// come out as clean faces. With `degrade`, clean images are first degraded the way the task's
// evaluation does (deterministic: seeded by the image's index in the list), to see the task at
// work on any image. Writes, per image, <name>_input.png (what the encoder was fed),
// <name>_restored.png (the last stage's output), <name>.npy (its W+ code [nLatent, styleDim]),
// and restore.json (task, files, timing).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeNpy } from '@sgi/core';
import { describeTask, evalDegradeSeed, loadTaskImage, taskInput, writeImageGrid } from '@sgi/experiment';
import type { Inverter } from './inverter.js';

export interface RestoreOptions {
  /** Degrade each image as the config's task does before feeding it (otherwise it is fed as it is). */
  degrade?: boolean;
}

export interface RestoredImage {
  file: string;
  /** What the encoder was fed [3, S, S]. */
  input: Float32Array;
  /** The restored image (last stage) [3, S, S]. */
  output: Float32Array;
  /** Its W+ code [1, nLatent, styleDim]. */
  code: Float32Array;
  seconds: number;
  written: { input: string; restored: string; code: string };
}

export interface RestoreResult {
  images: RestoredImage[];
  skipped: { file: string; reason: string }[];
  /** The task line (or 'none': plain inversion). */
  task: string;
  degraded: boolean;
  summary: string;
}

/** Reads, optionally degrades, inverts and writes each of `files` into `outDir`. */
export async function runRestore(inv: Inverter, files: readonly string[], outDir: string, opts: RestoreOptions = {}): Promise<RestoreResult> {
  const task = inv.config.task;
  if (opts.degrade && !task) throw new Error(`${inv.config.name} has no task section: there is no degradation to apply (drop --degrade to invert the images as they are)`);
  if (opts.degrade && task?.kind === 'segmentation' && !task.pairedPath) {
    throw new Error('segmentation: a label map cannot be computed from a photo; pass colour-coded label maps as the input (without --degrade)');
  }
  fs.mkdirSync(outDir, { recursive: true });
  const S = inv.size;
  const images: RestoredImage[] = [];
  const skipped: RestoreResult['skipped'] = [];
  const used = new Set<string>();
  for (const [k, file] of files.entries()) {
    let input: Float32Array;
    try {
      // label maps are read with nearest neighbours (no colours between classes), as in training
      const img = await loadTaskImage(opts.degrade ? undefined : task, file, S);
      input = opts.degrade ? await taskInput(task!, img, S, [evalDegradeSeed(k)], { files: [file] }) : img;
    } catch (e) {
      skipped.push({ file, reason: (e as Error).message });
      continue;
    }
    const t0 = performance.now();
    const r = inv.invert(input);
    const seconds = (performance.now() - t0) / 1000;
    const output = r.output;
    let base = path.basename(file).replace(/\.[^.]+$/, '');
    for (let i = 2; used.has(base); i++) base = `${path.basename(file).replace(/\.[^.]+$/, '')}-${i}`;
    used.add(base);
    const written = {
      input: path.join(outDir, `${base}_input.png`),
      restored: path.join(outDir, `${base}_restored.png`),
      code: path.join(outDir, `${base}.npy`),
    };
    await writeImageGrid(written.input, [{ data: input, offset: 0 }], S, 1);
    await writeImageGrid(written.restored, [{ data: output, offset: 0 }], S, 1);
    writeNpy(written.code, { shape: [inv.nLatent, inv.styleDim], data: r.codes });
    images.push({ file, input, output, code: r.codes, seconds, written });
  }
  const taskLine = task ? describeTask(task) : 'none (plain inversion)';
  const secs = images.map((i) => i.seconds).sort((a, b) => a - b);
  const median = secs.length ? secs[Math.floor(secs.length / 2)]! : NaN;
  fs.writeFileSync(path.join(outDir, 'restore.json'), JSON.stringify({
    config: inv.config.name, checkpoint: inv.checkpoint, task: taskLine, degraded: !!opts.degrade,
    degradeSeeds: opts.degrade ? 'evalDegradeSeed(index in the input list)' : undefined,
    images: images.map((i) => ({ file: i.file, ...Object.fromEntries(Object.entries(i.written).map(([k, v]) => [k, path.relative(outDir, v)])), seconds: i.seconds })),
    skipped, medianSeconds: median,
  }, null, 2));
  const summary = `restored ${images.length} image(s) into ${outDir} (task: ${taskLine}; input ${opts.degrade ? 'degraded here' : 'fed as given'}), ${inv.config.stages} stage(s) from ${inv.checkpoint}; median ${median.toFixed(3)} s/image`;
  return { images, skipped, task: taskLine, degraded: !!opts.degrade, summary };
}
