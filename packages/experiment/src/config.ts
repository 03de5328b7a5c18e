// Experiment configs (YAML or JSON) validated by a zod schema. An unknown key, a wrong type or a
// missing file is an error naming the key, the file and what was expected. `extends` merges a
// base config (paths in a config are relative to the file that names them).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FACE_CLASSES } from '@sgi/faces';
import { DEFAULT_WEIGHTS_DIR, findWorkspace } from './workspace.js';

const weightOrTerm = (extra: z.ZodRawShape = {}) =>
  z.union([
    z.number().min(0),
    z.strictObject({ weight: z.number().min(0), ...extra }),
  ]);

export const GeneratorSchema = z.strictObject({
  size: z.number().int().min(8).max(1024),
  styleDim: z.number().int().positive().default(512),
  nMlp: z.number().int().positive().default(8),
  channelMultiplier: z.number().int().positive().default(2),
  /** Explicit channel widths per resolution, e.g. {4: 64, 8: 64, 16: 32, 32: 16}. */
  channels: z.record(z.string(), z.number().int().positive()).optional(),
  lrMlp: z.number().positive().default(0.01),
  /**
   * What the mapping network reads: Gaussian z ('gaussian', StyleGAN2) or the parameter code of a
   * face of the built-in world ('facesjs': a generator trained as a renderer of those faces).
   */
  input: z.enum(['gaussian', 'facesjs']).default('gaussian'),
  /** rosinality checkpoint ({g_ema, latent_avg}) or a converted safetensors file. */
  checkpoint: z.string().nullable().default(null),
  /** Seeded random weights instead of a checkpoint (tests and the tiny built-in default). */
  randomInit: z.boolean().default(false),
  /** Samples used to estimate the mean latent when the checkpoint has none. */
  meanLatentSamples: z.number().int().positive().default(4096),
});

export const EncoderSchema = z.strictObject({
  widths: z.array(z.number().int().positive()).min(2).max(4).default([64, 128, 256]),
  units: z.array(z.number().int().positive()).min(2).max(4).default([3, 4, 14]),
  head: z.enum(['3E', '1E', '18C']).default('3E'),
  split: z.array(z.number().int().positive()).length(3).optional(),
  pools: z.array(z.number().int().positive()).length(3).default([7, 5, 3]),
  headBn: z.boolean().default(false),
  fpn: z.boolean().default(false),
  inputSize: z.number().int().positive().default(256),
});

export const LossSchema = z.strictObject({
  l2: z.number().min(0).default(1),
  lpips: weightOrTerm({ alexnet: z.string().optional(), linear: z.string().optional() }).default(0.8),
  id: weightOrTerm({
    variant: z.enum(['multi', 'single']).default('multi'),
    network: z.enum(['arcface', 'faceapi']).default('arcface'),
    checkpoint: z.string().optional(),
  }).default(0.5),
  parsing: weightOrTerm({ checkpoint: z.string().optional() }).default(1),
  /** Allow random weights for loss networks whose weights are not available (never silent). */
  randomInit: z.boolean().default(false),
});

export const DataSchema = z.strictObject({
  /**
   * 'folder': an image folder; 'synthetic': images the generator makes from random latents;
   * 'facesjs': faces of the built-in world rendered on the fly (unlimited, seeded; validation and
   * evaluation faces come from seed ranges training never draws from).
   */
  kind: z.enum(['folder', 'synthetic', 'facesjs']).default('folder'),
  /** Image folder (JPEG/PNG) for kind 'folder'. */
  path: z.string().optional(),
  /** Held-out validation images (a count, or a fraction below 1). */
  val: z.number().positive().default(0.05),
  flip: z.boolean().default(true),
  /** Synthetic datasets: images per epoch and the truncation used when sampling. */
  syntheticSize: z.number().int().positive().default(2048),
  truncation: z.number().min(0).max(1).default(0.7),
});

export const TrainSchema = z.strictObject({
  optimizer: z.enum(['ranger', 'adam']).default('ranger'),
  lr: z.number().positive().default(1e-4),
  /** Adam/Ranger betas (default: the optimizer's own, (0.9, 0.999) / (0.95, 0.999)). */
  betas: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).optional(),
  batchSize: z.number().int().positive().default(4),
  steps: z.number().int().positive().default(1000),
  /**
   * Cosine ramp-down of the learning rate over this last fraction of train.steps (as StyleGAN's
   * projector does): lr stays at train.lr until step (1 - lrRampDown) * steps, then falls to 0 at
   * the last step. Like steps, it plans how training ends: changing either continues the same run.
   */
  lrRampDown: z.number().gt(0).max(1).optional(),
  logEvery: z.number().int().positive().default(10),
  valEvery: z.number().int().positive().default(200),
  valImages: z.number().int().positive().default(16),
  checkpointEvery: z.number().int().positive().default(500),
  keepLast: z.number().int().positive().default(2),
  sampleEvery: z.number().int().positive().default(500),
  threads: z.number().int().positive().optional(),
  /** Generator noise while training: 'random' (pSp/E2Style) or the generator's stored buffers. */
  noise: z.enum(['random', 'stored']).default('random'),
  /**
   * Data-parallel jobs (mpirun/srun): BatchNorm statistics over the batches of every rank (PyTorch's
   * SyncBatchNorm) instead of each rank's own batch. With one process both are the same. Like the
   * number of ranks it is not part of the config hash; checkpoints record both (see configHash).
   */
  syncBatchNorm: z.boolean().default(false),
  /**
   * Activation checkpointing of the generator (memory, not results; not in the config hash): its
   * blocks at this resolution and above keep only their input and output in the forward pass and
   * are computed again during backward (StyleGAN2Generator.recomputeFrom). Absent: all kept.
   */
  recomputeFrom: z.number().int().min(8).optional(),
});

/** A fraction of the image side, in (0, 1]. */
const sideFraction = z.number().gt(0).max(1);

/**
 * Restoration and translation (the paper's Sections 5.3 and 5.4): what the encoder sees instead of
 * the clean image, which stays the target of the loss and of validation. The degradations are
 * seeded per step and per image in training and by image index at evaluation (degrade.ts). Every
 * task feeds the encoder a 3-channel image (label maps as their class colours).
 */
export const TaskSchema = z.discriminatedUnion('kind', [
  /**
   * Grayscale input (ITU-R 601 luma in all three channels). keepLuminance: the output is the input's
   * luminance with the reconstruction's colour (each pixel's three channels shifted by the luma
   * difference), in training, validation, the tables and `sgi restore`: the run learns colour only.
   */
  z.strictObject({ kind: z.literal('colorization'), keepLuminance: z.boolean().default(false) }),
  /** One random rectangle set to 0; its width and height are each a fraction of the side in [minSize, maxSize]. */
  z.strictObject({
    kind: z.literal('inpainting'),
    minSize: sideFraction.default(0.25),
    maxSize: sideFraction.default(0.5),
  }).refine((t) => t.minSize <= t.maxSize, { path: ['maxSize'], message: 'must be at least minSize' }),
  /**
   * Down-sampling by a random one of `factors` (each must divide encoder.inputSize), then back up to
   * the input size, as pSp does: `down` box (k x k means, the default) or bilinear (point samples,
   * no anti-aliasing); `up` bilinear (the default, half-pixel centres) or nearest.
   */
  z.strictObject({
    kind: z.literal('super_resolution'),
    factors: z.array(z.number().int().min(1)).min(1).default([1, 2, 4, 8, 16]),
    down: z.enum(['box', 'bilinear']).default('box'),
    up: z.enum(['bilinear', 'nearest']).default('bilinear'),
  }),
  /** Additive Gaussian noise, its std drawn per image uniformly from sigma [min, max] (units of the [-1, 1] range). */
  z.strictObject({
    kind: z.literal('denoise'),
    sigma: z.tuple([z.number().min(0).max(2), z.number().min(0).max(2)]).default([0.05, 0.25]),
  }).refine((t) => t.sigma[0] <= t.sigma[1], { path: ['sigma'], message: 'must be [min, max] with min <= max' }),
  /**
   * A sketch of the target: the face world's exact paired sketch (data.kind facesjs), else the
   * sketch of the same file name in `pairedPath`, else an XDoG edge sketch of the image.
   */
  z.strictObject({ kind: z.literal('sketch'), pairedPath: z.string().optional() }),
  /**
   * Colour-coded label maps: the face world's exact maps (FACE_CLASSES, data.kind facesjs), else the
   * map of the same file name in `pairedPath` (required then). `classes`: how many labels the maps use.
   */
  z.strictObject({
    kind: z.literal('segmentation'),
    classes: z.number().int().min(2).max(256).default(FACE_CLASSES.length),
    pairedPath: z.string().optional(),
  }),
]);

export type TaskConfig = z.infer<typeof TaskSchema>;

export const ConfigSchema = z.strictObject({
  name: z.string().min(1),
  /**
   * What the run trains: 'inversion' (the last encoder stage, the generator frozen) or
   * 'renderer' (the generator itself, as a renderer of face-world parameter codes: L2 + LPIPS to
   * the rendered faces; needs generator.input 'facesjs' and data.kind 'facesjs').
   */
  kind: z.enum(['inversion', 'renderer']).default('inversion'),
  description: z.string().optional(),
  extends: z.string().optional(),
  seed: z.number().int().default(0),
  generator: GeneratorSchema,
  encoder: EncoderSchema.default(EncoderSchema.parse({})),
  /** Total stages of the model; this run trains the last one. */
  stages: z.number().int().min(1).default(1),
  /** Refinement adds the previous W+ (true) or the mean latent (false, "2Stage*"). */
  residual: z.boolean().default(true),
  /** Checkpoints (or config files, whose best checkpoint is used) of stages 1..stages-1. */
  previousStages: z.array(z.string()).default([]),
  loss: LossSchema.default(LossSchema.parse({})),
  data: DataSchema.default(DataSchema.parse({})),
  train: TrainSchema.default(TrainSchema.parse({})),
  /** Restoration/translation task (absent: plain inversion, the encoder sees the clean image). */
  task: TaskSchema.optional(),
  /** Where runs go (default: runs/<name>). */
  runDir: z.string().optional(),
  /**
   * Where the networks, batches and optimizer state live: 'auto' (CUDA when a usable device is
   * present, else the CPU; SGI_DEVICE overrides), 'cpu' or 'cuda'. Not part of the config hash:
   * a run started on one device resumes on another.
   */
  device: z.enum(['auto', 'cpu', 'cuda']).default('auto'),
  /** On CUDA: only deterministic cuDNN algorithms, no cuBLAS atomics (same bits on rerun); false may run faster. Not hashed. */
  deterministic: z.boolean().default(true),
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {}

function readRaw(file: string): Record<string, unknown> {
  if (!fs.existsSync(file)) throw new ConfigError(`config file not found: ${file}`);
  const text = fs.readFileSync(file, 'utf8');
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${file}: cannot parse (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file}: a config must be a mapping of keys`);
  return raw as Record<string, unknown>;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
      ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

/** Keys whose values are file paths, resolved relative to the config file that sets them. */
const PATH_KEYS = [['generator', 'checkpoint'], ['data', 'path'], ['loss', 'lpips', 'alexnet'], ['loss', 'lpips', 'linear'], ['loss', 'id', 'checkpoint'], ['loss', 'parsing', 'checkpoint'], ['task', 'pairedPath']];

function resolvePaths(raw: Record<string, unknown>, dir: string): Record<string, unknown> {
  const out = structuredClone(raw);
  for (const keyPath of PATH_KEYS) {
    let node: any = out;
    for (const k of keyPath.slice(0, -1)) node = node && typeof node === 'object' ? node[k] : undefined;
    const last = keyPath[keyPath.length - 1]!;
    if (node && typeof node === 'object' && typeof node[last] === 'string') node[last] = path.resolve(dir, node[last]);
  }
  if (Array.isArray(out.previousStages)) out.previousStages = out.previousStages.map((p) => (typeof p === 'string' ? path.resolve(dir, p) : p));
  if (typeof out.runDir === 'string') out.runDir = path.resolve(dir, out.runDir);
  return out;
}

function loadMerged(file: string, seen: Set<string>): Record<string, unknown> {
  const abs = path.resolve(file);
  if (seen.has(abs)) throw new ConfigError(`${file}: 'extends' forms a cycle`);
  seen.add(abs);
  const raw = resolvePaths(readRaw(abs), path.dirname(abs));
  if (typeof raw.extends !== 'string') return raw;
  const base = loadMerged(path.resolve(path.dirname(abs), raw.extends), seen);
  delete base.name;
  return deepMerge(base, raw);
}

/**
 * Loads, merges and validates a config; paths come back absolute. Files the config names must
 * exist unless `checkFiles` is false (e.g. to describe a config whose weights are elsewhere).
 */
export function loadConfig(file: string, opts: { checkFiles?: boolean } = {}): Config {
  const merged = loadMerged(file, new Set());
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - ${i.path.length ? i.path.join('.') : '(top level)'}: ${describeIssue(i)}`);
    throw new ConfigError(`${file}: invalid config\n${lines.join('\n')}`);
  }
  const config = parsed.data;
  if (config.kind === 'renderer' && (config.generator.input !== 'facesjs' || config.data.kind !== 'facesjs')) {
    throw new ConfigError(`${file}: kind 'renderer' trains a generator on face-world codes: set generator.input: facesjs and data.kind: facesjs`);
  }
  if (config.task) checkTask(config, file);
  if (opts.checkFiles !== false) checkFiles(config, file);
  return config;
}

/** What the task section needs from the rest of the config (each error names the key). */
function checkTask(c: Config, file: string): void {
  const t = c.task!;
  const bad = (key: string, why: string): never => { throw new ConfigError(`${file}: invalid config\n  - task.${key}: ${why}`); };
  if (c.kind !== 'inversion') bad('kind', `a task trains an inversion encoder, but kind is '${c.kind}'`);
  if (t.kind === 'super_resolution') {
    const S = c.encoder.inputSize;
    const wrong = t.factors.filter((k) => S % k !== 0);
    if (wrong.length) bad('factors', `${wrong.join(', ')} do(es) not divide encoder.inputSize ${S}`);
  }
  if (t.kind === 'sketch' || t.kind === 'segmentation') {
    if (c.data.kind === 'facesjs' && t.pairedPath) bad('pairedPath', 'face-world data (data.kind facesjs) pairs each face with its own rendered map/sketch; remove pairedPath');
    if (c.data.kind === 'synthetic' && t.pairedPath) bad('pairedPath', 'synthetic images have no file names to pair; use data.kind folder');
  }
  if (t.kind === 'segmentation') {
    if (c.data.kind === 'facesjs' && t.classes !== FACE_CLASSES.length) bad('classes', `the face world's label maps have ${FACE_CLASSES.length} classes (FACE_CLASSES), got ${t.classes}`);
    if (c.data.kind !== 'facesjs' && !t.pairedPath) bad('pairedPath', `segmentation needs label maps: a folder of colour-coded maps named like the images (data.kind ${c.data.kind})`);
  }
}

function describeIssue(i: z.core.$ZodIssue): string {
  if (i.code === 'unrecognized_keys') return `unknown key(s) ${i.keys.map((k) => `'${k}'`).join(', ')}`;
  return i.message;
}

/** Weight files a config names (every PATH_KEYS entry but the data folder), with the key users see in errors. */
function namedWeightFiles(c: Config): [string, string][] {
  const out: [string, string][] = [];
  for (const keyPath of PATH_KEYS) {
    if (keyPath[0] === 'data' || keyPath[0] === 'task') continue;
    let node: unknown = c;
    for (const k of keyPath) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[k] : undefined;
    if (typeof node === 'string') out.push([keyPath.join('.'), node]);
  }
  return out;
}

function checkFiles(c: Config, file: string): void {
  const missing: string[] = [];
  for (const [key, f] of namedWeightFiles(c)) if (!fs.existsSync(f)) missing.push(`${key}: ${f}`);
  if (!c.generator.checkpoint && !c.generator.randomInit) {
    throw new ConfigError(`${file}: generator.checkpoint is required (a rosinality StyleGAN2 .pt such as ${DEFAULT_WEIGHTS_DIR}/stylegan2-ffhq-config-f.pt), or set generator.randomInit: true`);
  }
  if (c.data.kind === 'folder') {
    if (!c.data.path) throw new ConfigError(`${file}: data.path is required when data.kind is 'folder' (or use data.kind: synthetic)`);
    if (!fs.existsSync(c.data.path)) missing.push(`data.path: ${c.data.path}`);
  }
  if (c.task && 'pairedPath' in c.task && c.task.pairedPath && !fs.existsSync(c.task.pairedPath)) missing.push(`task.pairedPath: ${c.task.pairedPath}`);
  if (c.stages > 1 && c.previousStages.length !== c.stages - 1) {
    throw new ConfigError(`${file}: stages is ${c.stages}, so previousStages must list ${c.stages - 1} checkpoint(s), got ${c.previousStages.length}`);
  }
  if (missing.length) {
    throw new ConfigError(`${file}: file(s) not found:\n${missing.map((m) => `  - ${m}`).join('\n')}\n` +
      `(pretrained weights go in ${DEFAULT_WEIGHTS_DIR}/ at the workspace root: see ${DEFAULT_WEIGHTS_DIR}/README.md)`);
  }
}

/** The learning rate of step `step` (1-based): train.lr, cosine-ramped down to 0 over the last lrRampDown of the steps. */
export function learningRateAt(t: Pick<Config['train'], 'lr' | 'steps' | 'lrRampDown'>, step: number): number {
  if (!t.lrRampDown) return t.lr;
  const start = (1 - t.lrRampDown) * t.steps;
  if (step <= start) return t.lr;
  const f = Math.min(1, (step - start) / (t.steps - start));
  return t.lr * 0.5 * (1 + Math.cos(Math.PI * f));
}

/**
 * Hash of what determines the training (stored in checkpoints; a resumed run must match it).
 * Where the run is written (runDir), the description, the device and `deterministic`, the step count and the lr
 * ramp-down (training longer resumes) and where the workspace lies do not count: file paths are
 * hashed relative to their workspace (the nearest folder with nx.json), so a moved or re-cloned
 * workspace still resumes. How a run is spread over processes does not count either (the number of ranks,
 * train.syncBatchNorm): a checkpoint records them and a resume with another layout says so. batchSize
 * does count, and it is per rank: the global batch is batchSize x ranks.
 */
export function configHash(c: Config): string {
  const { runDir: _runDir, description: _description, extends: _extends, device: _device, deterministic: _deterministic, ...rest } = structuredClone(c);
  const portable = mapPaths(rest as Config, portablePath);
  const { steps: _steps, lrRampDown: _lrRampDown, syncBatchNorm: _syncBatchNorm, recomputeFrom: _recomputeFrom, ...train } = portable.train;
  // the weights themselves count: a run never resumes onto a retrained generator or loss network
  const weights = namedWeightFiles(c).map(([key, file]) => [key, fileFingerprint(file)]);
  return createHash('sha256').update(JSON.stringify({ ...portable, train, weights })).digest('hex').slice(0, 16);
}

const fingerprints = new Map<string, { size: number; mtimeMs: number; digest: string }>();

/** SHA-256 of a file's content (cached per process by path, size and modification time); 'missing' if absent. */
function fileFingerprint(file: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return 'missing';
  }
  const hit = fingerprints.get(file);
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.digest;
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 22);
    for (let pos = 0; ; ) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  const digest = h.digest('hex').slice(0, 16);
  fingerprints.set(file, { size: st.size, mtimeMs: st.mtimeMs, digest });
  return digest;
}

/** A path as it is hashed: relative to its workspace, or its last two parts outside any workspace. */
function portablePath(p: string): string {
  const ws = findWorkspace(path.dirname(p));
  return (ws ? path.relative(ws, p) : path.join(path.basename(path.dirname(p)), path.basename(p))).split(path.sep).join('/');
}

/** A copy of the config with every file path (PATH_KEYS, previousStages) mapped by `f`. */
function mapPaths(c: Config, f: (p: string) => string): Config {
  const out = structuredClone(c) as unknown as Record<string, any>;
  for (const keyPath of PATH_KEYS) {
    let node: any = out;
    for (const k of keyPath.slice(0, -1)) node = node && typeof node === 'object' ? node[k] : undefined;
    const last = keyPath[keyPath.length - 1]!;
    if (node && typeof node === 'object' && typeof node[last] === 'string') node[last] = f(node[last]);
  }
  out.previousStages = (out.previousStages as string[]).map(f);
  return out as Config;
}

/**
 * The config as a run stores it (config.json): resolved (no `extends`, every default filled in,
 * paths absolute), so `sgi train --resume <run dir>` reads it back without its base files.
 */
export function resolvedConfig(c: Config, runDir: string): Config {
  const { extends: _extends, ...rest } = c;
  return { ...rest, runDir } as Config;
}

export function termWeight(t: number | { weight: number }): number {
  return typeof t === 'number' ? t : t.weight;
}

/** A run's directory: config.runDir, else <runsRoot>/<name>. */
export function runDirFor(c: Config, runsRoot: string): string {
  return c.runDir ?? path.join(runsRoot, c.name);
}
