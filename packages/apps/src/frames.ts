// Video frames in and out: an animated GIF or WebP (sharp, every page), a folder of images, or an
// MP4 (split into and joined from PNG frames by an `ffmpeg` executable on PATH, only when there is
// one). Frames come in as CHW floats in [-1, 1] at the encoder's input size, decoded as loadImage
// decodes a still (transparency on white, sRGB, lanczos3 to size x size; frame files through
// loadImage itself), and go out the same way the input came.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { IMAGE_BACKGROUND, chwToHwc, hwcToChw, listImages, loadImage } from '@sgi/experiment';
import { encodeAnimation } from './animation.js';

/** How a video is stored: an animated image, a folder of frames, or an MP4 (through ffmpeg). */
export type VideoKind = 'gif' | 'webp' | 'frames' | 'mp4';
export const VIDEO_KINDS: readonly VideoKind[] = ['gif', 'webp', 'frames', 'mp4'];

export const FFMPEG_MISSING = 'MP4 needs ffmpeg on PATH (Debian: apt-get install ffmpeg); animated GIF/WebP and frame folders work without it';

/** The frames of a video and how to write frames back the way they came. */
export interface VideoFrames {
  kind: VideoKind;
  /** One CHW [3, S, S] image in [-1, 1] per frame. */
  frames: Float32Array[];
  /** A name per frame (the file's path inside a frame folder; frame_000000.png otherwise). */
  names: string[];
  /** Display time of each frame in milliseconds. */
  delays: number[];
  /** Animation loop count (0: forever). */
  loop: number;
  /** Frame rate of an MP4 (from ffmpeg), else derived from the delays. */
  fps: number;
}

/** The path of an executable called `name` on PATH (process.env.PATH at call time), or null. */
export function findExecutable(name: string, searchPath = process.env.PATH ?? ''): string | null {
  const exts = process.platform === 'win32' ? ['', ...(process.env.PATHEXT ?? '.EXE').split(';')] : [''];
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const file = path.join(dir, name + ext);
      try {
        if (fs.statSync(file).isFile()) {
          fs.accessSync(file, fs.constants.X_OK);
          return file;
        }
      } catch { /* not here */ }
    }
  }
  return null;
}

/** The ffmpeg executable, or the error that says how to get one. */
export function requireFfmpeg(): string {
  const f = findExecutable('ffmpeg');
  if (!f) throw new Error(FFMPEG_MISSING);
  return f;
}

/** What kind of video `input` is (checked to exist); MP4 also needs ffmpeg (checked here, before any work). */
export function videoKindOf(input: string): VideoKind {
  if (!fs.existsSync(input)) throw new Error(`input not found: ${input}`);
  if (fs.statSync(input).isDirectory()) return 'frames';
  const ext = path.extname(input).toLowerCase();
  const kind = ext === '.gif' ? 'gif' : ext === '.webp' ? 'webp' : ext === '.mp4' ? 'mp4' : null;
  if (!kind) throw new Error(`${input}: not a video; give an animated .gif or .webp, a folder of frames, or an .mp4`);
  if (kind === 'mp4') requireFfmpeg();
  return kind;
}

const DEFAULT_DELAY_MS = 100;

/** Decodes 8-bit RGB pixels (w x h) to CHW [-1, 1] at size x size, the same way loadImage decodes a file. */
async function rawToFrame(raw: Buffer, w: number, h: number, size: number): Promise<Float32Array> {
  const out = await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .resize(size, size, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return hwcToChw(out, size, size);
}

/** Every frame of an animated GIF or WebP (a still one is one frame). */
export async function readAnimated(file: string, size: number): Promise<Omit<VideoFrames, 'kind' | 'fps'>> {
  let meta: Metadata;
  let data: Buffer, info: OutputInfo;
  try {
    meta = await sharp(file, { pages: -1 }).metadata();
    ({ data, info } = await sharp(file, { pages: -1 }).flatten({ background: IMAGE_BACKGROUND }).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true }));
  } catch (e) {
    throw new Error(`cannot read animation ${file}: ${(e as Error).message}`);
  }
  const pages = meta.pages ?? 1;
  const pageHeight = meta.pageHeight ?? info.height / pages;
  if (info.channels !== 3 || pageHeight * pages !== info.height) throw new Error(`cannot read animation ${file}: ${pages} page(s) of height ${pageHeight} in a ${info.width}x${info.height}x${info.channels} image`);
  const frames: Float32Array[] = [];
  const page = info.width * pageHeight * 3;
  for (let i = 0; i < pages; i++) frames.push(await rawToFrame(data.subarray(i * page, (i + 1) * page), info.width, pageHeight, size));
  const delays = Array.from({ length: pages }, (_, i) => meta.delay?.[i] ?? DEFAULT_DELAY_MS);
  return { frames, names: frames.map((_, i) => frameName(i)), delays, loop: meta.loop ?? 0 };
}

const frameName = (i: number) => `frame_${String(i).padStart(6, '0')}.png`;

function ffmpeg(args: string[]): string {
  const bin = requireFfmpeg();
  const r = spawnSync(bin, ['-hide_banner', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`ffmpeg failed to start: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return r.stderr;
}

/** The frame rate ffmpeg reports for a video file (25 when it names none). */
function mp4Fps(file: string): number {
  const bin = requireFfmpeg();
  const r = spawnSync(bin, ['-hide_banner', '-i', file], { encoding: 'utf8' });
  const m = /Video:.*?,\s*([\d.]+)\s*fps/.exec(r.stderr ?? '') ?? /([\d.]+)\s*tbr/.exec(r.stderr ?? '');
  const fps = m ? Number(m[1]) : NaN;
  return Number.isFinite(fps) && fps > 0 ? fps : 25;
}

/** Reads a video of any kind (see videoKindOf) as frames at size x size. */
export async function readVideo(input: string, size: number): Promise<VideoFrames> {
  const kind = videoKindOf(input);
  if (kind === 'gif' || kind === 'webp') {
    const a = await readAnimated(input, size);
    return { kind, ...a, fps: fpsOf(a.delays) };
  }
  if (kind === 'frames') {
    const files = listImages(input);
    const frames: Float32Array[] = [];
    for (const f of files) frames.push(await loadImage(f, size));
    return { kind, frames, names: files.map((f) => path.relative(input, f)), delays: files.map(() => DEFAULT_DELAY_MS), loop: 0, fps: 1000 / DEFAULT_DELAY_MS };
  }
  const fps = mp4Fps(input);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-video-in-'));
  try {
    ffmpeg(['-v', 'error', '-i', input, path.join(tmp, 'frame_%06d.png')]);
    const files = fs.readdirSync(tmp).filter((f) => f.endsWith('.png')).sort();
    if (files.length === 0) throw new Error(`ffmpeg found no video frames in ${input}`);
    const frames: Float32Array[] = [];
    for (const f of files) frames.push(await loadImage(path.join(tmp, f), size));
    const delay = Math.round(1000 / fps);
    return { kind, frames, names: files.map((_, i) => frameName(i)), delays: files.map(() => delay), loop: 0, fps };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function fpsOf(delays: number[]): number {
  const mean = delays.reduce((a, b) => a + b, 0) / Math.max(1, delays.length);
  return mean > 0 ? 1000 / mean : 1000 / DEFAULT_DELAY_MS;
}

/** The file extension (or folder) a video of this kind is written to. */
export function videoOutputName(kind: VideoKind, base = 'video'): string {
  return kind === 'frames' ? 'frames' : `${base}.${kind}`;
}

/** Writes 8-bit HWC RGB frames (size x size each) as an animated GIF or WebP, one delay per frame (ms), every frame kept. */
export async function writeAnimated(file: string, frames: Uint8Array[], size: number, delays: number | number[], loop = 0): Promise<void> {
  if (frames.length === 0) throw new Error(`${file}: no frames to write`);
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.gif' && ext !== '.webp') throw new Error(`${file}: animations are written as .gif or .webp`);
  const page = size * size * 3;
  frames.forEach((f, i) => {
    if (f.length !== page) throw new Error(`${file}: frame ${i} has ${f.length} bytes, not ${size}x${size}x3`);
  });
  const delay = typeof delays === 'number' ? frames.map(() => delays) : delays.map((d) => Math.max(0, Math.min(65535, Math.round(d))));
  if (delay.length !== frames.length) throw new Error(`${file}: ${delay.length} delays for ${frames.length} frames`);
  await encodeAnimation(file, frames, size, size, { delay, loop }, { lossless: true }, { keepDuplicateFrames: true, effort: 7 });
}

/**
 * Writes CHW [-1, 1] frames (size x size) as a video of `kind` at `target`: an animated .gif/.webp
 * file, a folder of PNGs (named as `names`, default frame_000000.png...), or an .mp4 through ffmpeg.
 */
export async function writeVideo(target: string, kind: VideoKind, frames: Float32Array[], size: number, opts: { names?: string[]; delays?: number[]; loop?: number; fps?: number } = {}): Promise<void> {
  const hwc = frames.map((f) => chwToHwc(f, size, size));
  const delays = opts.delays ?? frames.map(() => DEFAULT_DELAY_MS);
  if (kind === 'gif' || kind === 'webp') return writeAnimated(target, hwc, size, delays, opts.loop ?? 0);
  if (kind === 'frames') {
    const names = opts.names ?? frames.map((_, i) => frameName(i));
    for (const [i, px] of hwc.entries()) {
      const file = path.join(target, names[i]!.replace(/\.[^./\\]+$/, '') + '.png');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      await sharp(Buffer.from(px), { raw: { width: size, height: size, channels: 3 } }).png().toFile(file);
    }
    return;
  }
  requireFfmpeg();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-video-out-'));
  try {
    for (const [i, px] of hwc.entries()) await sharp(Buffer.from(px), { raw: { width: size, height: size, channels: 3 } }).png().toFile(path.join(tmp, frameName(i)));
    fs.mkdirSync(path.dirname(path.resolve(target)), { recursive: true });
    const fps = opts.fps ?? fpsOf(delays);
    ffmpeg(['-v', 'error', '-y', '-framerate', String(fps), '-i', path.join(tmp, 'frame_%06d.png'), '-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', '-pix_fmt', 'yuv420p', target]);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
