// Video inversion and editing (the paper's Section 5): every frame is inverted on its own (batch 1,
// so a frame's code is exactly the code of that frame inverted alone), optionally moved along an
// editing direction (code + strength * direction) and synthesised, and the frames are written back
// the way the video came (frames.ts). Reports the time per frame and how steady the codes and the
// output frames are over time: the mean absolute difference of consecutive frames.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readNpy, writeNpy } from '@sgi/core';
import { checkCodeShape, type Inverter } from './inverter.js';
import { readVideo, videoKindOf, videoOutputName, writeVideo, requireFfmpeg, type VideoKind } from './frames.js';

/** Mean absolute difference of consecutive items (all the same length), over every value of every pair; null for fewer than two items. */
export function meanConsecutiveDifference(items: readonly Float32Array[]): number | null {
  if (items.length < 2) return null;
  let sum = 0, n = 0;
  for (let i = 1; i < items.length; i++) {
    const a = items[i - 1]!, b = items[i]!;
    if (a.length !== b.length) throw new Error(`meanConsecutiveDifference: item ${i} has ${b.length} values, item ${i - 1} has ${a.length}`);
    for (let k = 0; k < a.length; k++) sum += Math.abs(b[k]! - a[k]!);
    n += a.length;
  }
  return sum / n;
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = Math.floor(s.length / 2);
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** Reads an editing direction (.npy, [nLatent, styleDim] or [1, nLatent, styleDim]) for this inverter's generator; a wrong shape is refused naming both. */
export function loadDirection(file: string, inv: Pick<Inverter, 'nLatent' | 'styleDim'>): Float32Array {
  const t = readNpy(file);
  checkCodeShape(`direction ${file}`, t.shape, inv.nLatent, inv.styleDim);
  return t.data;
}

/** How steady a video is: mean absolute difference of consecutive frames' codes and images ([-1, 1] units); null for one frame. */
export interface TemporalConsistency {
  /** Of the W+ codes that made the output (edited codes when editing). */
  codes: number | null;
  /** Of the output frames. */
  outputs: number | null;
  /** Of the input frames (the baseline the outputs are to be read against). */
  inputs: number | null;
}

export interface VideoInversion {
  /** The inverted codes [F, nLatent, styleDim]. */
  codes: Float32Array;
  /** The edited codes [F, nLatent, styleDim] (null without a direction). */
  edited: Float32Array | null;
  /** Output frames, CHW [3, S, S] each: reconstructions, or the edited frames with a direction. */
  outputs: Float32Array[];
  /** Seconds per frame (inversion, plus synthesis when editing). */
  seconds: number[];
  medianSeconds: number;
  temporal: TemporalConsistency;
}

export interface VideoEdit {
  /** A W+ direction [nLatent * styleDim] (see loadDirection). */
  direction?: Float32Array;
  /** How far to move every frame's code along it (default 1). */
  strength?: number;
}

/** Inverts (and edits) every frame on its own. */
export function invertFrames(inv: Inverter, frames: readonly Float32Array[], opts: VideoEdit & { onFrame?: (i: number, seconds: number) => void } = {}): VideoInversion {
  if (frames.length === 0) throw new Error('invertFrames: no frames');
  const per = inv.nLatent * inv.styleDim;
  if (opts.direction && opts.direction.length !== per) throw new Error(`direction has ${opts.direction.length} values, but this generator's W+ is [${inv.nLatent}, ${inv.styleDim}] (${per})`);
  const strength = opts.strength ?? 1;
  const codes = new Float32Array(frames.length * per);
  const edited = opts.direction ? new Float32Array(frames.length * per) : null;
  const outputs: Float32Array[] = [];
  const seconds: number[] = [];
  for (const [i, frame] of frames.entries()) {
    const t0 = performance.now();
    const r = inv.invert(frame);
    codes.set(r.codes, i * per);
    if (edited && opts.direction) {
      const e = new Float32Array(per);
      for (let k = 0; k < per; k++) e[k] = r.codes[k]! + strength * opts.direction[k]!;
      edited.set(e, i * per);
      outputs.push(inv.synthesize(e));
    } else {
      outputs.push(r.stages[r.stages.length - 1]!);
    }
    seconds.push((performance.now() - t0) / 1000);
    opts.onFrame?.(i, seconds[i]!);
  }
  const used = edited ?? codes;
  const perFrame = (flat: Float32Array) => frames.map((_, i) => flat.subarray(i * per, (i + 1) * per));
  return {
    codes, edited, outputs, seconds, medianSeconds: median(seconds),
    temporal: { codes: meanConsecutiveDifference(perFrame(used)), outputs: meanConsecutiveDifference(outputs), inputs: meanConsecutiveDifference(frames) },
  };
}

export interface VideoRunOptions extends VideoEdit {
  /** How to write the output (default: the way the input came). */
  format?: VideoKind;
  /** The direction's file, for the record in timing.json. */
  directionFile?: string;
  log?: (line: string) => void;
}

export interface VideoRun {
  kind: VideoKind;
  format: VideoKind;
  frames: number;
  result: VideoInversion;
  files: { video: string; codes: string; edited: string | null; timing: string; temporal: string };
}

/**
 * Reads the video `input` (animated .gif/.webp, a folder of frames, or .mp4 with ffmpeg), inverts
 * (and edits) it frame by frame, and writes into `outDir`: the output video (video.gif, video.webp,
 * video.mp4 or a frames/ folder of PNGs named as the input's), codes.npy [F, nLatent, styleDim]
 * (edited_codes.npy too with a direction), timing.json (seconds per frame, median) and
 * temporal.json (mean absolute difference of consecutive codes and frames).
 */
export async function runVideo(inv: Inverter, input: string, outDir: string, opts: VideoRunOptions = {}): Promise<VideoRun> {
  const kind = videoKindOf(input);
  const format = opts.format ?? kind;
  if (format === 'mp4') requireFfmpeg();
  const video = await readVideo(input, inv.size);
  opts.log?.(`read ${video.frames.length} frame(s) from ${input} (${kind})`);
  const result = invertFrames(inv, video.frames, opts);
  const files = {
    video: path.join(outDir, videoOutputName(format)),
    codes: path.join(outDir, 'codes.npy'),
    edited: result.edited ? path.join(outDir, 'edited_codes.npy') : null,
    timing: path.join(outDir, 'timing.json'),
    temporal: path.join(outDir, 'temporal.json'),
  };
  fs.mkdirSync(outDir, { recursive: true });
  await writeVideo(files.video, format, result.outputs, inv.size, { names: video.names, delays: video.delays, loop: video.loop, fps: video.fps });
  const shape = [video.frames.length, inv.nLatent, inv.styleDim];
  writeNpy(files.codes, { shape, data: result.codes });
  if (files.edited && result.edited) writeNpy(files.edited, { shape, data: result.edited });
  fs.writeFileSync(files.timing, JSON.stringify({
    checkpoint: inv.checkpoint, input, frames: video.frames.length, secondsPerFrame: result.seconds, median: result.medianSeconds,
  }, null, 2));
  fs.writeFileSync(files.temporal, JSON.stringify({
    meanAbsDiffConsecutiveCodes: result.temporal.codes, meanAbsDiffConsecutiveOutputFrames: result.temporal.outputs, meanAbsDiffConsecutiveInputFrames: result.temporal.inputs,
    codes: result.edited ? 'edited' : 'inverted', imageUnits: '[-1, 1]',
    ...(opts.direction ? { direction: opts.directionFile ?? null, strength: opts.strength ?? 1 } : {}),
  }, null, 2));
  return { kind, format, frames: video.frames.length, result, files };
}
