// Run checkpoints: one safetensors file holding the trained stage's weights (`model.*`), the
// optimizer state (`optim.*`) and, in its metadata, the step, RNG state, config hash and metric.
// Written atomically (temporary file, fsync, rename); the last K and the best are kept.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tensor, readSafetensors, writeSafetensors, type HostTensor } from '@sgi/core';

export interface CheckpointMeta {
  step: number;
  stage: number;
  configHash: string;
  config: string;
  rng: number[];
  /** Validation metric the "best" checkpoint is chosen by (higher is better: PSNR). */
  metric?: number;
  /** Extra JSON state (e.g. the best metric so far). */
  extra?: Record<string, unknown>;
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  model: Map<string, HostTensor>;
  optim: Map<string, HostTensor>;
}

export function writeCheckpoint(file: string, model: Map<string, Tensor>, optim: Map<string, Tensor>, meta: CheckpointMeta): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const entries: [string, { shape: readonly number[]; data: Float32Array }][] = [];
  for (const [k, t] of model) entries.push([`model.${k}`, { shape: t.shape, data: t.toArray() }]);
  for (const [k, t] of optim) entries.push([`optim.${k}`, { shape: t.shape, data: t.toArray() }]);
  writeSafetensors(file, entries, { sgi_checkpoint: JSON.stringify(meta) });
}

export function readCheckpoint(file: string): LoadedCheckpoint {
  const f = readSafetensors(file);
  const metaText = f.metadata.sgi_checkpoint;
  if (!metaText) throw new Error(`${file}: not a training checkpoint of this project (no sgi_checkpoint metadata)`);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(metaText) as CheckpointMeta;
  } catch {
    throw new Error(`${file}: corrupt checkpoint metadata`);
  }
  const model = new Map<string, HostTensor>();
  const optim = new Map<string, HostTensor>();
  for (const [k, t] of f.tensors) {
    if (k.startsWith('model.')) model.set(k.slice(6), t);
    else if (k.startsWith('optim.')) optim.set(k.slice(6), t);
  }
  return { meta, model, optim };
}

export function checkpointDir(runDir: string): string {
  return path.join(runDir, 'checkpoints');
}

export function stepCheckpointPath(runDir: string, step: number): string {
  return path.join(checkpointDir(runDir), `step-${String(step).padStart(8, '0')}.safetensors`);
}

export function bestCheckpointPath(runDir: string): string {
  return path.join(checkpointDir(runDir), 'best.safetensors');
}

/** Step checkpoints of a run, oldest first. */
export function listStepCheckpoints(runDir: string): string[] {
  const dir = checkpointDir(runDir);
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => /^step-\d+\.safetensors$/.test(f)).sort().map((f) => path.join(dir, f));
}

/** Deletes all but the newest `keep` step checkpoints. */
export function pruneCheckpoints(runDir: string, keep: number): void {
  const all = listStepCheckpoints(runDir);
  for (const f of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(f, { force: true });
}

/** The newest usable step checkpoint of a run (corrupt ones are skipped with a warning). */
export function latestCheckpoint(runDir: string, warn: (msg: string) => void = () => {}): string | null {
  const all = listStepCheckpoints(runDir);
  for (let i = all.length - 1; i >= 0; i--) {
    try {
      readCheckpoint(all[i]!);
      return all[i]!;
    } catch (e) {
      warn(`skipping unreadable checkpoint ${all[i]}: ${(e as Error).message}`);
    }
  }
  return null;
}
