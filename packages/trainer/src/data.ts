// Training data from an image folder: a seeded train/validation split, endless shuffled batches
// with random horizontal flips. Decoding runs on libuv's worker threads inside sharp, and the next
// batch is requested before the current one is used, so decoding overlaps the (synchronous,
// native) compute of the training step.
import { Rng, Tensor } from '@sgi/core';
import { flipHorizontal, loadImage } from '@sgi/experiment';

export { flipHorizontal };

export interface Batch {
  images: Tensor;
  files: string[];
}

/** A seeded split of an image folder into training and validation files. */
export function splitFiles(files: string[], val: number, seed: number): { train: string[]; val: string[] } {
  const shuffled = new Rng(seed ^ 0x5eed).shuffle([...files]);
  const nVal = Math.min(files.length - 1, Math.max(1, val < 1 ? Math.round(files.length * val) : Math.round(val)));
  return { val: shuffled.slice(0, nVal).sort(), train: shuffled.slice(nVal) };
}

/**
 * Endless shuffled batches; the epoch order depends only on (seed, epoch), so resuming is exact.
 * In a data-parallel job (`rank` of `ranks`) the epoch is cut into global batches of batchSize x
 * ranks, and this loader yields slots rank x batchSize .. + batchSize - 1 of each: the ranks read
 * disjoint shards of every epoch, together the batches one process would read at the global batch.
 * An unreadable image is skipped (named once through `onSkip`, counted in `skipped`): its place in
 * the batch goes to the next readable file of the epoch order, which depends only on which files
 * are unreadable, so a resumed run sees the same batches. No readable image at all is an error.
 */
export class FolderLoader {
  private cache = new Map<string, Float32Array>();
  /** Files that could not be decoded, with the reason. */
  readonly skipped = new Map<string, string>();
  /** Decoded images are kept in memory only when the whole set fits in `cacheBytes` (default 2 GiB). */
  readonly cacheDecoded: boolean;
  private readonly onSkip: (file: string, why: string) => void;
  private readonly rank: number;
  private readonly globalBatch: number;
  constructor(
    readonly files: string[], readonly size: number, readonly batchSize: number, readonly seed: number, readonly flip: boolean,
    opts: { cacheBytes?: number; onSkip?: (file: string, why: string) => void; rank?: number; ranks?: number } = {},
  ) {
    if (files.length === 0) throw new Error('FolderLoader: no training images');
    this.rank = opts.rank ?? 0;
    this.globalBatch = batchSize * (opts.ranks ?? 1);
    this.cacheDecoded = files.length * 3 * size * size * 4 <= (opts.cacheBytes ?? 2 ** 31);
    this.onSkip = opts.onSkip ?? (() => {});
  }

  private perEpoch(): number {
    return Math.max(1, Math.floor(this.files.length / this.globalBatch));
  }

  private epochOrder(epoch: number): number[] {
    return new Rng(this.seed * 1000003 + epoch).shuffle(this.files.map((_, i) => i));
  }

  /** The files of batch number `step` (0-based), before unreadable ones are replaced. */
  filesAt(step: number): { files: string[]; flips: boolean[] } {
    const k = step % this.perEpoch();
    const order = this.epochOrder(Math.floor(step / this.perEpoch()));
    const flipRng = new Rng(this.seed * 7919 + step);
    const idx = Array.from({ length: this.globalBatch }, (_, i) => order[(k * this.globalBatch + i) % order.length]!);
    const flips = idx.map(() => this.flip && flipRng.next() < 0.5);
    const mine = (xs: readonly unknown[]) => xs.slice(this.rank * this.batchSize, (this.rank + 1) * this.batchSize);
    return { files: mine(idx.map((i) => this.files[i]!)) as string[], flips: mine(flips) as boolean[] };
  }

  private async decode(file: string): Promise<Float32Array | null> {
    const hit = this.cache.get(file);
    if (hit) return hit;
    if (this.skipped.has(file)) return null;
    try {
      const img = await loadImage(file, this.size);
      if (this.cacheDecoded) this.cache.set(file, img);
      return img;
    } catch (e) {
      if (!this.skipped.has(file)) {
        const why = (e as Error).message.replace(`cannot read image ${file}: `, '');
        this.skipped.set(file, why);
        this.onSkip(file, why);
      }
      return null;
    }
  }

  /** Decodes `file`, or the first readable file after it in the epoch's order. */
  private async decodeOrNext(step: number, slot: number): Promise<{ img: Float32Array; file: string }> {
    const order = this.epochOrder(Math.floor(step / this.perEpoch()));
    const start = (step % this.perEpoch()) * this.globalBatch + this.rank * this.batchSize + slot;
    for (let j = 0; j < order.length; j++) {
      const file = this.files[order[(start + j) % order.length]!]!;
      const img = await this.decode(file);
      if (img) return { img, file };
    }
    throw new Error(`none of the ${this.files.length} training image(s) could be read (first: ${[...this.skipped].slice(0, 3).map(([f, w]) => `${f}: ${w}`).join('; ')})`);
  }

  /** Decodes batch `step` into a host buffer [B, 3, size, size]. */
  async load(step: number): Promise<{ data: Float32Array; files: string[] }> {
    const { flips } = this.filesAt(step);
    const plane = 3 * this.size * this.size;
    const data = new Float32Array(this.batchSize * plane);
    const imgs = await Promise.all(flips.map((_, i) => this.decodeOrNext(step, i)));
    imgs.forEach(({ img }, i) => {
      data.set(img, i * plane);
      if (flips[i]) flipHorizontal(data, i * plane, this.size, this.size);
    });
    return { data, files: imgs.map((x) => x.file) };
  }
}

/** The readable images of `files` as one batch (unreadable ones reported through `onSkip`), or null if none. */
export async function loadReadable(files: string[], size: number, onSkip: (file: string, why: string) => void): Promise<Tensor | null> {
  const imgs = await Promise.all(files.map(async (f) => {
    try {
      return await loadImage(f, size);
    } catch (e) {
      onSkip(f, (e as Error).message);
      return null;
    }
  }));
  const ok = imgs.filter((x): x is Float32Array => x !== null);
  if (ok.length === 0) return null;
  const plane = 3 * size * size;
  const data = new Float32Array(ok.length * plane);
  ok.forEach((img, i) => data.set(img, i * plane));
  return Tensor.fromArray(data, [ok.length, 3, size, size]);
}
