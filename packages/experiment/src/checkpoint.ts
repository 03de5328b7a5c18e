// Run checkpoints: one safetensors file holding the trained stage's weights (`model.*`), the
// optimizer state (`optim.*`) and, in its metadata, the step, RNG state, config hash and metric.
// Written atomically (temporary file, every byte checked, fsync of file and folder, rename): a full
// disk fails the write and leaves the earlier checkpoints as they were. The last K (ordered by the
// step in each checkpoint's own metadata) and the best are kept.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tensor, copyFileAtomic, readSafetensors, serializeSafetensors, writeFileAtomic, type HostTensor } from '@sgi/core';

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
  writeFileAtomic(file, serializeSafetensors(entries, { sgi_checkpoint: JSON.stringify(meta) }));
}

/** Makes `file` the run's best checkpoint, with the same atomic write. */
export function markBest(runDir: string, file: string): string {
  const best = bestCheckpointPath(runDir);
  copyFileAtomic(file, best);
  return best;
}

/**
 * The metadata of a checkpoint, read from the safetensors header alone (no tensor data), or null
 * when the file is not a readable checkpoint of this project.
 */
export function readCheckpointMeta(file: string): CheckpointMeta | null {
  let fd: number | null = null;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(8);
    if (size < 8 || fs.readSync(fd, head, 0, 8, 0) !== 8) return null;
    const n = Number(head.readBigUInt64LE(0));
    if (n <= 0 || n > Math.min(size - 8, 100 << 20)) return null;
    const json = Buffer.alloc(n);
    if (fs.readSync(fd, json, 0, n, 8) !== n) return null;
    const text = (JSON.parse(json.toString('utf8')) as { __metadata__?: Record<string, string> }).__metadata__?.sgi_checkpoint;
    if (!text) return null;
    const meta = JSON.parse(text) as CheckpointMeta;
    return Number.isInteger(meta.step) && meta.step >= 0 ? meta : null;
  } catch {
    return null;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
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

/** Step checkpoints of a run with the step each one's metadata records, oldest step first. */
export function listStepCheckpointsWithSteps(runDir: string): { file: string; step: number }[] {
  const dir = checkpointDir(runDir);
  if (!fs.existsSync(dir)) return [];
  const out: { file: string; step: number }[] = [];
  for (const f of fs.readdirSync(dir)) {
    if (!/^step-\d+\.safetensors$/.test(f)) continue;
    const file = path.join(dir, f);
    const meta = readCheckpointMeta(file);
    // an unreadable checkpoint sorts first (pruned first, never chosen as the newest)
    out.push({ file, step: meta ? meta.step : -1 });
  }
  return out.sort((a, b) => a.step - b.step || a.file.localeCompare(b.file));
}

/** Step checkpoints of a run, oldest step first (by their own metadata, not by name). */
export function listStepCheckpoints(runDir: string): string[] {
  return listStepCheckpointsWithSteps(runDir).map((c) => c.file);
}

/** Deletes all but the `keep` step checkpoints with the highest steps (never `protect`). */
export function pruneCheckpoints(runDir: string, keep: number, protect?: string): void {
  const all = listStepCheckpoints(runDir);
  for (const f of all.slice(0, Math.max(0, all.length - keep))) if (f !== protect) fs.rmSync(f, { force: true });
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

/** The checkpoint a finished run is used through: its best, else its newest step checkpoint. */
export function runCheckpoint(runDir: string): string | null {
  const best = bestCheckpointPath(runDir);
  return fs.existsSync(best) ? best : latestCheckpoint(runDir);
}
