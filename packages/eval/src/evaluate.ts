// Evaluation of one inversion method on a set of images: PSNR and SSIM on 8-bit values, LPIPS,
// identity similarity (cosine of face-recognition embeddings of input and reconstruction),
// runtime per image (median over runs after warm-up, batch 1) and parameter counts. A config with a
// restoration/translation task is evaluated on degraded (or translated) inputs, deterministic by
// image index, with every score taken against the clean image, and an identity baseline (the
// degraded input itself scored against the clean image) beside it.
import * as os from 'node:os';
import { Scope, Tensor, native, noGrad, psnr, ssim, tensorToImages, type DeviceChoice, type SsimWindow } from '@sgi/core';
import { buildExperiment, describeTask, evalDegradeSeed, loadImage, taskInput, taskOutput, type Config, type Experiment, type FixedLevel } from '@sgi/experiment';

/** A face-recognition network used for the identity similarity (IDS). */
export interface IdentityNetwork {
  readonly name: string;
  /** Embeddings [B, D] of images [B, 3, S, S] in [-1, 1]. */
  embed(x: Tensor): Tensor;
}

/** LPIPS distances [B] of image pairs in [-1, 1]. */
export type LpipsFn = (a: Tensor, b: Tensor) => Tensor;

export interface PerImage {
  file: string;
  psnr: number;
  ssim: number;
  lpips?: number;
  ids?: number;
  seconds: number;
  /** A task's identity baseline of this image: its degraded input scored against the clean image. */
  baseline?: { psnr: number; ssim: number; lpips?: number };
}

export interface MethodResult {
  label: string;
  config: string;
  checkpoint: string;
  stages: number;
  params: number;
  images: PerImage[];
  failed: { file: string; reason: string }[];
  mean: { psnr: number; ssim: number; lpips?: number; ids?: number; runtime: number };
  /** Reconstructions (8-bit HWC) of the first few images, for the report's grids. */
  previews: Uint8Array[];
  /** Networks of this method that run on random weights (said in every report). */
  randomInit: string[];
  /**
   * The config's restoration/translation task: what the inputs were, and the identity baseline
   * (the degraded input scored against the clean image, as if it were the output).
   */
  task?: { kind: string; describe: string; baseline: { psnr: number; ssim: number; lpips?: number } };
}

export interface EvalOptions {
  ssimWindow: SsimWindow;
  identity?: IdentityNetwork;
  lpips?: LpipsFn;
  runsRoot: string;
  /** Timing runs per image after one warm-up run (median reported). */
  timingRuns: number;
  previews: number;
  onImage?: (done: number, total: number) => void;
  /**
   * Face-world seeds of the images (files rendered from the built-in world), one per file: a
   * sketch or segmentation task then feeds the exact paired sketch or label map of each face.
   */
  faceSeeds?: readonly number[];
  /** Where the inversion runs (default: the config's device); the metric networks stay on the CPU. */
  device?: DeviceChoice;
  /** The task's degradation at this level for every image instead of a drawn one (see FixedLevel). */
  level?: FixedLevel;
}

export function environmentLine(): string {
  const info = native.info();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `device cpu (${info.cpu.isa}), ${info.cpu.threads} threads, ${cpu}; CUDA ${info.cuda.available ? info.cuda.deviceName : `unavailable (${info.cuda.reason})`}`;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! * a[i]!; bb += b[i]! * b[i]!; }
  return ab / Math.sqrt(Math.max(aa * bb, 1e-24));
}

const meanOf = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)]! : NaN; };

/** Builds the method (config + checkpoint), scores it on the files (scoreMethod) and releases it. */
export async function evaluateMethod(label: string, configFile: string, config: Config, checkpoint: string, files: string[], opts: EvalOptions): Promise<MethodResult> {
  const exp = loadMethod(config, checkpoint, opts);
  try {
    return await scoreMethod(exp, label, configFile, checkpoint, files, opts);
  } finally {
    exp.model.release();
    exp.generator.release();
  }
}

/** The method of a config and checkpoint, built for evaluation (release its model and generator after). */
export function loadMethod(config: Config, checkpoint: string, opts: Pick<EvalOptions, 'runsRoot' | 'device'>): Experiment {
  const exp = buildExperiment(config, { runsRoot: opts.runsRoot, checkpoint, device: opts.device });
  exp.model.eval();
  return exp;
}

/**
 * Scores a built method on the files: each image (degraded as the config's task says, seeded by
 * its index, at opts.level when given) is inverted and scored against the clean image, beside the
 * task's identity baseline. The one scoring loop of the tables and the per-level restoration report.
 */
export async function scoreMethod(exp: Experiment, label: string, configFile: string, checkpoint: string, files: string[], opts: EvalOptions): Promise<MethodResult> {
  const config = exp.config;
  const size = config.encoder.inputSize;
  const images: PerImage[] = [];
  const failed: { file: string; reason: string }[] = [];
  const previews: Uint8Array[] = [];
  const task = config.task;
  if (opts.level && !task) throw new Error(`${configFile}: a degradation level was asked for, but the config has no task section`);
  if (task && opts.faceSeeds && opts.faceSeeds.length !== files.length) throw new Error(`evaluateMethod: ${opts.faceSeeds.length} face seed(s) for ${files.length} file(s)`);
  for (const [k, file] of files.entries()) {
    let data: Float32Array;
    let input: Float32Array;
    try {
      data = await loadImage(file, size);
      // the same degradation for every method: seeded by the image's index in the evaluation set
      input = task ? await taskInput(task, data, size, [evalDegradeSeed(k)], opts.faceSeeds ? { faceSeeds: [opts.faceSeeds[k]!] } : { files: [file] }, opts.level) : data;
    } catch (e) {
      failed.push({ file, reason: (e as Error).message });
      continue;
    }
    const scope = new Scope();
    try {
      scope.run(() => noGrad(() => {
        const x = Tensor.fromArray(data, [1, 3, size, size]);
        const xin = task ? Tensor.fromArray(input, [1, 3, size, size]) : x;
        const xdev = xin.to(exp.device);
        let y: Tensor | null = null;
        const times: number[] = [];
        for (let r = 0; r <= opts.timingRuns; r++) {
          const t0 = performance.now();
          const out = exp.model.forward(xdev, { withImages: true });
          native.synchronize();
          if (r > 0 || opts.timingRuns === 0) times.push((performance.now() - t0) / 1000);
          y = taskOutput(task, xdev, out.images[out.images.length - 1]!).to('cpu');
        }
        const [a] = tensorToImages(x), [b] = tensorToImages(y!);
        const rec: PerImage = { file, psnr: psnr(a!, b!), ssim: ssim(a!, b!, { window: opts.ssimWindow }), seconds: median(times) };
        if (opts.lpips) rec.lpips = opts.lpips(x, y!).item();
        if (opts.identity) {
          const ea = opts.identity.embed(x).toArray(), eb = opts.identity.embed(y!).toArray();
          rec.ids = cosine(ea, eb);
        }
        if (task) {
          const [d] = tensorToImages(xin);
          rec.baseline = { psnr: psnr(a!, d!), ssim: ssim(a!, d!, { window: opts.ssimWindow }) };
          if (opts.lpips) rec.baseline.lpips = opts.lpips(x, xin).item();
        }
        images.push(rec);
        if (previews.length < opts.previews) previews.push(b!.data);
      }));
    } catch (e) {
      failed.push({ file, reason: (e as Error).message });
    } finally {
      scope.dispose();
    }
    opts.onImage?.(k + 1, files.length);
  }
  const finite = (xs: number[]) => xs.filter((v) => Number.isFinite(v));
  const result: MethodResult = {
    label, config: configFile, checkpoint, stages: config.stages,
    params: exp.stages.reduce((n, s) => n + s.numParameters(), 0),
    images, failed, previews, randomInit: exp.randomInit,
    mean: {
      psnr: meanOf(finite(images.map((i) => i.psnr))),
      ssim: meanOf(images.map((i) => i.ssim)),
      lpips: opts.lpips ? meanOf(images.map((i) => i.lpips!)) : undefined,
      ids: opts.identity ? meanOf(images.map((i) => i.ids!)) : undefined,
      runtime: median(images.map((i) => i.seconds)),
    },
  };
  if (task) {
    const baseline = images.map((i) => i.baseline!);
    result.task = {
      kind: task.kind, describe: describeTask(task),
      baseline: { psnr: meanOf(finite(baseline.map((b) => b.psnr))), ssim: meanOf(baseline.map((b) => b.ssim)), lpips: opts.lpips ? meanOf(baseline.map((b) => b.lpips!)) : undefined },
    };
  }
  return result;
}

