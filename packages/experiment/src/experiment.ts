// Builds an experiment's networks from its config: the frozen generator (from a checkpoint or
// seeded random weights), its mean latent, the encoder stages (earlier stages loaded from their
// checkpoints and frozen) and the multi-stage inversion model.
import * as fs from 'node:fs';
import {
  Encoder, MultiStageInversion, Rng, StyleGAN2Generator, Tensor, loadTensors, native, noGrad, ops, resolveDevice, type Device, type DeviceChoice,
  type EncoderConfig, type HostTensor,
} from '@sgi/core';
import { loadConfig, runDirFor, type Config } from './config.js';
import { readCheckpoint, runCheckpoint } from './checkpoint.js';
import { FACE_SEEDS, FACE_STATISTICS_SEED, faceCodes } from './faces.js';
import { FACE_CODE_DIM } from '@sgi/faces';

export interface Experiment {
  config: Config;
  /** Where the networks live (config.device resolved), and why, for logs. */
  device: Device;
  deviceWhy: string;
  generator: StyleGAN2Generator;
  latentAvg: Tensor;
  stages: Encoder[];
  model: MultiStageInversion;
  /** Human-readable notes on what is random-initialised (printed in every log). */
  randomInit: string[];
}

export function nLatentFor(size: number): number {
  return 2 * Math.log2(size) - 2;
}

export function encoderConfig(c: Config, stage: number): EncoderConfig {
  return {
    inChannels: stage === 1 ? 3 : 6,
    widths: c.encoder.widths,
    units: c.encoder.units,
    latentDim: c.generator.styleDim,
    nLatent: nLatentFor(c.generator.size),
    head: c.encoder.head,
    split: c.encoder.split,
    pools: c.encoder.pools,
    headBn: c.encoder.headBn,
    fpn: c.encoder.fpn,
  };
}

/** Generator weights by rosinality names, from a checkpoint ({g_ema, latent_avg}) or bare state dict. */
export function readGeneratorWeights(file: string): { state: Map<string, HostTensor>; latentAvg: HostTensor | null } {
  const { tensors } = loadTensors(file);
  const state = new Map<string, HostTensor>();
  const hasPrefix = [...tensors.keys()].some((k) => k.startsWith('g_ema.'));
  for (const [k, t] of tensors) {
    if (hasPrefix && k.startsWith('g_ema.')) state.set(k.slice(6), t);
    else if (!hasPrefix && k !== 'latent_avg') state.set(k, t);
  }
  if (state.size === 0) throw new Error(`${file}: no generator weights found (expected a rosinality checkpoint with 'g_ema')`);
  return { state, latentAvg: tensors.get('latent_avg') ?? null };
}

export function buildGenerator(c: Config, randomInit: string[]): { generator: StyleGAN2Generator; latentAvg: Tensor } {
  const g = c.generator;
  const channels = g.channels ? Object.fromEntries(Object.entries(g.channels).map(([k, v]) => [Number(k), v])) : undefined;
  const generator = new StyleGAN2Generator(
    {
      size: g.size, styleDim: g.styleDim, nMlp: g.nMlp, channelMultiplier: g.channelMultiplier, channels, lrMlp: g.lrMlp, seed: c.seed * 31 + 1,
      zDim: g.input === 'facesjs' ? FACE_CODE_DIM : undefined,
    },
  );
  let latentAvg: Tensor | null = null;
  if (g.checkpoint) {
    const w = readGeneratorWeights(g.checkpoint);
    generator.loadStateDict(w.state, { context: g.checkpoint });
    if (w.latentAvg) latentAvg = Tensor.fromArray(w.latentAvg.data, [g.styleDim]);
  } else {
    randomInit.push(`generator (seeded random StyleGAN2 ${g.size}x${g.size}, seed ${c.seed})`);
  }
  generator.eval().freeze();
  generator.recomputeFrom = c.train.recomputeFrom ?? null; // activation checkpointing while it trains through
  if (!latentAvg) latentAvg = meanLatent(generator, c, g.meanLatentSamples);
  latentAvg.persistent = true;
  return { generator, latentAvg: ops.reshape(latentAvg, [g.styleDim]) };
}

/**
 * The mean latent of a generator: the mean of mapping(z) over `n` draws of its input (Gaussian z,
 * or the codes of random training faces for a face-world generator).
 */
export function meanLatent(generator: StyleGAN2Generator, c: Config, n: number): Tensor {
  if (c.generator.input !== 'facesjs') return noGrad(() => generator.meanLatent(n, new Rng(c.seed * 31 + 2)));
  return noGrad(() => {
    const codes = faceCodes(FACE_STATISTICS_SEED, n);
    const w = generator.mapping(codes);
    codes.release();
    const m = ops.mean(w, 0);
    w.release();
    return m;
  });
}

/** Draws of the generator's input (on the experiment's device): Gaussian z, or the codes of random training faces. */
export function generatorInputs(exp: Experiment, count: number, seed: number): Tensor {
  return exp.config.generator.input === 'facesjs'
    ? faceCodes(FACE_SEEDS.train + ((seed * 7919) % 2 ** 29), count).moveTo(exp.device)
    : new Rng(seed).randn([count, exp.generator.zDim], exp.device);
}

/** Resolves a previous-stage reference: a checkpoint file, a run directory or a config file. */
export function resolveStageCheckpoint(ref: string, runsRoot: string): string {
  if (!fs.existsSync(ref)) throw new Error(`previous stage not found: ${ref}`);
  if (fs.statSync(ref).isDirectory()) {
    const file = runCheckpoint(ref);
    if (!file) throw new Error(`run ${ref} has no checkpoint yet: train it first`);
    return file;
  }
  if (/\.(ya?ml|json)$/.test(ref)) {
    const dir = runDirFor(loadConfig(ref), runsRoot);
    if (!fs.existsSync(dir)) throw new Error(`previous stage ${ref} has not been trained yet (no run in ${dir}): train it first`);
    return resolveStageCheckpoint(dir, runsRoot);
  }
  return ref;
}

/**
 * Builds the networks of a config. Earlier stages load from config.previousStages, unless
 * `checkpoint` is given: then every stage loads from that one file (a run's checkpoint holds all).
 */
export function buildExperiment(c: Config, opts: { runsRoot: string; checkpoint?: string; device?: DeviceChoice } = { runsRoot: 'runs' }): Experiment {
  const { device, why: deviceWhy } = resolveDevice(opts.device ?? c.device);
  if (device === 'cuda') native.setCudaOptions({ deterministic: c.deterministic }); // cuDNN algorithm choice, cuBLAS atomics
  const randomInit: string[] = [];
  const { generator, latentAvg } = buildGenerator(c, randomInit);
  const stages: Encoder[] = [];
  for (let s = 1; s <= c.stages; s++) {
    const enc = new Encoder(encoderConfig(c, s), { rng: new Rng(c.seed * 101 + s), inputSize: c.encoder.inputSize });
    const ref = opts.checkpoint ? null : s < c.stages ? c.previousStages[s - 1]! : null;
    if (ref) {
      const file = resolveStageCheckpoint(ref, opts.runsRoot);
      const ck = readCheckpoint(file);
      const own = stageWeights(ck.model, s);
      enc.loadStateDict(own, { context: `${file} (stage ${s})` });
    }
    if (s < c.stages) enc.eval().freeze();
    stages.push(enc);
  }
  const model = new MultiStageInversion(stages, generator, latentAvg, { residual: c.residual, inputSize: c.encoder.inputSize });
  if (opts.checkpoint) model.loadStateDict(readCheckpoint(opts.checkpoint).model, { context: opts.checkpoint });
  model.to(device);
  return { config: c, device, deviceWhy, generator, latentAvg, stages, model, randomInit };
}

/** The weights of stage s from a checkpoint's model.* map (keys `stage<s>.<name>`). */
export function stageWeights(model: Map<string, HostTensor>, s: number): Map<string, HostTensor> {
  const prefix = `stage${s}.`;
  const out = new Map<string, HostTensor>();
  for (const [k, t] of model) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), t);
  if (out.size === 0) throw new Error(`checkpoint has no weights for stage ${s} (keys start with ${[...model.keys()].slice(0, 3).join(', ')})`);
  return out;
}

/**
 * Images the experiment's generator makes from `count` random latents (z from Rng(seed), the
 * mapping network, truncation data.truncation towards the mean latent, the same W for every
 * layer), face-pooled to the encoder input: the synthetic training, validation and eval images.
 */
export function sampleGeneratorImages(exp: Experiment, count: number, seed: number): Tensor {
  const { generator, latentAvg, config: c } = exp;
  const D = c.generator.styleDim;
  return noGrad(() => {
    const w = generator.truncation(generator.mapping(generatorInputs(exp, count, seed)), c.data.truncation, latentAvg);
    const wPlus = ops.expand(ops.reshape(w, [count, 1, D]), [count, generator.nLatent, D]);
    return exp.model.facePool(generator.synthesis(wPlus));
  });
}
