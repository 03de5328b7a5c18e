// Runs one of the paper's tables: picks the evaluation set, finds each row's checkpoint (the
// best of its training run), evaluates every method and writes the reports. Rows whose config has
// a restoration/translation task are scored on degraded inputs against the clean images (the same
// degradation for every row, seeded by image index), with the identity baseline reported beside.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng, Scope, Tensor, tensorToImages, type SsimWindow } from '@sgi/core';
import {
  FACE_SEEDS, buildExperiment, createProgress, experimentProjectOf, heldOutFaces, listImages, loadConfig, loadImage, runCheckpoint, runDirFor, sampleGeneratorImages, writeImageGrid,
  FACE_EVAL_OFFSET, type Config,
} from '@sgi/experiment';
import { TABLES } from './tables.js';
import { environmentLine, evaluateMethod, type EvalOptions, type IdentityNetwork, type LpipsFn, type MethodResult } from './evaluate.js';
import { writeReports, type TableReport } from './report.js';

export interface TableOptions {
  table: keyof typeof TABLES;
  suite: 'tiny' | 'paper';
  workspace: string;
  runsRoot: string;
  outDir: string;
  /** Folder of evaluation images; default (tiny suite): held-out images of the tiny generator. */
  images?: string;
  /** Random selection of this many images (the paper: 2,000) with `seed`. */
  count?: number;
  seed: number;
  ssimWindow: SsimWindow;
  identity?: IdentityNetwork;
  lpips?: LpipsFn;
  timingRuns: number;
  log: (line: string) => void;
  /** Extra lines for the report (e.g. which metric networks run on random weights). */
  notes?: string[];
}

/**
 * Held-out faces of the built-in world (seeds training never draws), rendered at the encoder's
 * input size and written as PNG files: real images of the domain, so a table measures true inversion.
 */
async function faceEvalSet(config: Config, dir: string, count: number, offset: number): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const size = config.encoder.inputSize;
  const data = await heldOutFaces(count, size, offset);
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `face-${String(i).padStart(4, '0')}.png`);
    await writeImageGrid(file, [{ data, offset: i * 3 * size * size }], size, 1);
    files.push(file);
  }
  return files;
}

/** Held-out images of the generator of a (tiny, synthetic-data) config, written as PNG files. */
async function syntheticEvalSet(config: Config, dir: string, count: number, seed: number, runsRoot: string): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const exp = buildExperiment({ ...config, stages: 1, previousStages: [] }, { runsRoot });
  const size = config.encoder.inputSize;
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `sample-${String(i).padStart(4, '0')}.png`);
    const scope = new Scope();
    const data = scope.run(() => sampleGeneratorImages(exp, 1, seed * 65537 + i).toArray());
    scope.dispose();
    await writeImageGrid(file, [{ data, offset: 0 }], size, 1);
    files.push(file);
  }
  exp.model.release();
  exp.generator.release();
  return files;
}

/** The images a method is evaluated on, where they came from, and their face-world seeds when they are rendered faces. */
export interface EvalSet {
  files: string[];
  source: string;
  /** Face-world seeds of the files (sketch/segmentation tasks pair each face with its exact sketch or label map). */
  faceSeeds?: number[];
}

/**
 * The evaluation set: the folder `images` (a random selection of `count` with `seed`), else held-out
 * images of the world `configFile` trains on, written under outDir/evalset: rendered faces
 * (data.kind facesjs), else samples of its generator.
 */
export async function pickEvalSet(o: { configFile: string; images?: string; count?: number; seed: number; outDir: string; runsRoot: string }): Promise<EvalSet> {
  if (o.images) {
    const all = listImages(o.images);
    const chosen = o.count && o.count < all.length;
    return {
      files: chosen ? new Rng(o.seed).shuffle([...all]).slice(0, o.count).sort() : all,
      source: chosen ? `${o.images} (${o.count} of ${all.length} chosen with seed ${o.seed})` : o.images,
    };
  }
  const cfg = loadConfig(o.configFile);
  const count = o.count ?? 32;
  if (cfg.data.kind === 'facesjs') {
    // the validation faces of training come first in the held-out range: evaluate on the ones after them
    const offset = FACE_EVAL_OFFSET + o.seed * count;
    const files = await faceEvalSet(cfg, path.join(o.outDir, 'evalset'), count, offset);
    return {
      files, faceSeeds: files.map((_, i) => FACE_SEEDS.heldOut + offset + i),
      source: `${count} held-out faces of the built-in world (rendered by facesjs; seeds held-out+${offset}.., never drawn in training or validation)`,
    };
  }
  return {
    files: await syntheticEvalSet(cfg, path.join(o.outDir, 'evalset'), count, o.seed + 1000, o.runsRoot),
    source: `${count} held-out images of the tiny generator (seed ${o.seed + 1000}, never used in training)`,
  };
}

export async function runTable(o: TableOptions): Promise<{ report: TableReport; markdown: string; html: string; json: string }> {
  const def = TABLES[o.table];
  const rows = def.rows.filter((r) => (o.suite === 'tiny' ? r.configs.tiny : r.configs.paper));
  const configs = rows.map((r) => path.join(o.workspace, o.suite === 'tiny' ? r.configs.tiny! : r.configs.paper));
  if (!o.images && o.suite !== 'tiny') throw new Error('the paper suite needs --images <folder of CelebA-HQ test images> (the paper uses 2,000 of them resized to 256)');
  const { files, source, faceSeeds } = await pickEvalSet({ configFile: configs[0]!, images: o.images, count: o.count, seed: o.seed, outDir: o.outDir, runsRoot: o.runsRoot });
  o.log(`${def.title}: ${rows.length} method(s), ${files.length} image(s) from ${source}`);
  const methods: TableReport['methods'] = [];
  const missing: TableReport['missing'] = [];
  const previewCount = Math.min(6, files.length);
  const previews: MethodResult['previews'][] = [];
  for (const [k, row] of rows.entries()) {
    const file = configs[k]!;
    let config: Config;
    try {
      config = loadConfig(file);
    } catch (e) {
      missing.push({ label: row.label, reason: (e as Error).message.split('\n')[0]! });
      continue;
    }
    const runDir = runDirFor(config, o.runsRoot);
    const ck = runCheckpoint(runDir);
    if (!ck) {
      const project = experimentProjectOf(file, o.workspace);
      missing.push({ label: row.label, reason: `no checkpoint in ${runDir} (train it: ${project ? `npx nx run ${project}:train` : `sgi train --config ${file}`})` });
      continue;
    }
    o.log(`  ${row.label}: ${path.relative(o.workspace, ck)}`);
    const progress = createProgress(`  ${row.label}`, files.length, 0, { every: Math.max(1, Math.floor(files.length / 4)) });
    const evalOpts: EvalOptions = {
      ssimWindow: o.ssimWindow, identity: o.identity, lpips: o.lpips, runsRoot: o.runsRoot, timingRuns: o.timingRuns, previews: previewCount,
      onImage: (done) => progress.update(done, {}), faceSeeds,
    };
    const res = await evaluateMethod(row.label, path.relative(o.workspace, file), config, ck, files, evalOpts);
    progress.stop();
    const { previews: p, ...rest } = res;
    previews.push(p);
    methods.push({ ...rest, paper: row.paper });
  }
  const inputs: Uint8Array[] = [];
  const size = methods.length ? loadConfig(path.join(o.workspace, methods[0]!.config)).encoder.inputSize : 64;
  for (const f of files.slice(0, previewCount)) {
    const x = await loadImage(f, size);
    const t = Tensor.fromArray(x, [1, 3, size, size]);
    inputs.push(tensorToImages(t)[0]!.data);
    t.release();
  }
  const report: TableReport = {
    table: o.table, title: def.title, suite: o.suite, environment: environmentLine(),
    conventions: [
      'PSNR on 8-bit values (MAX 255), images at the encoder input size',
      o.ssimWindow === 'gaussian' ? 'SSIM: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03 (Wang et al.), per channel, averaged' : "SSIM: scikit-image's 7x7 uniform window (sample covariance)",
      o.identity ? `IDS: cosine similarity of ${o.identity.name} embeddings of input and reconstruction (the paper uses CurricularFace)` : 'IDS: not measured (no identity network)',
      'LPIPS: AlexNet v0.1',
      `runtime: median of ${o.timingRuns} timed run(s) per image after one warm-up, batch 1`,
      def.note,
      ...(o.notes ?? []),
      ...methods.filter((m) => m.task).map((m) => {
        const b = m.task!.baseline;
        return `${m.label}: task ${m.task!.describe}, inputs degraded deterministically by image index and scores taken against the clean images; ` +
          `identity baseline (degraded input vs clean image): PSNR ${b.psnr.toFixed(2)} dB, SSIM ${b.ssim.toFixed(3)}${b.lpips !== undefined ? `, LPIPS ${b.lpips.toFixed(3)}` : ''}`;
      }),
      ...[...new Set(methods.flatMap((m) => m.randomInit))].map((r) => `random-initialised (no weights offline): ${r}`),
    ],
    evalSet: { source, count: files.length, files: files.map((f) => path.relative(o.workspace, f)), seed: o.seed },
    methods, missing,
  };
  const out = await writeReports(o.outDir, report, { inputs, methods: previews, size });
  return { report, ...out };
}
