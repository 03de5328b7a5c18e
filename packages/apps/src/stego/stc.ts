// Syndrome-trellis codes (T. Filler, J. Judas, J. Fridrich, "Minimizing additive distortion in
// steganography using syndrome-trellis codes", IEEE TIFS 6(3), 2011), binary version.
//
// The parity-check matrix H (m x n) is built from a random submatrix H_hat (h rows, w = ceil(n/m)
// columns) placed along the diagonal, one row lower for each message bit: block b holds the columns
// [floor(b n / m), floor((b+1) n / m)) (floor(n/m) or ceil(n/m) of them, so that exactly n cover bits
// are used) and its k-th column is H_hat's k-th column on rows b .. b+h-1 (cut off below row m).
// Each H_hat column is an h-bit integer whose bit 0 (the block's own row) and bit h-1 are set, so
// every row can always be satisfied. Extraction is the syndrome y = H x; embedding finds the stego
// bits x' with H x' = message that minimise the sum of flip costs by the Viterbi algorithm over the
// trellis of 2^h partial-syndrome states. Decisions are stored one bit per state and column; when
// they would exceed `maxPathBytes` the trellis is cut at block boundaries into segments whose start
// costs are kept, and each segment is recomputed (once) during the backward pass.
import type { KeyedRandom } from './keys.js';

export const MIN_HEIGHT = 7;
export const MAX_HEIGHT = 12;
/** Default decision memory before the trellis is segmented (128 MiB: a 256x256 RGB carrier at height 12 fits). */
export const DEFAULT_MAX_PATH_BYTES = 128 * 1024 * 1024;

export function checkHeight(h: number): void {
  if (!Number.isInteger(h) || h < MIN_HEIGHT || h > MAX_HEIGHT) throw new Error(`STC constraint height must be an integer from ${MIN_HEIGHT} to ${MAX_HEIGHT}, got ${h}`);
}

/** H_hat: `width` random h-bit columns with their first and last bits set. */
export function makeHhat(rng: KeyedRandom, width: number, h: number): Uint32Array {
  checkHeight(h);
  const cols = new Uint32Array(width);
  const mask = (1 << h) - 1;
  for (let k = 0; k < width; k++) cols[k] = ((rng.nextU32() & mask) | 1 | (1 << (h - 1))) >>> 0;
  return cols;
}

/** The width of H_hat for n cover bits and m message bits. */
export function hhatWidth(n: number, m: number): number {
  return Math.ceil(n / m);
}

/** First column of block b. */
function blockStart(b: number, n: number, m: number): number {
  return Math.floor((b * n) / m);
}

function checkShapes(n: number, m: number, hhat: Uint32Array): void {
  if (m < 1) throw new Error('STC: the message is empty');
  if (m > n) throw new Error(`STC: ${m} message bits do not fit in ${n} cover bits`);
  if (hhat.length < hhatWidth(n, m)) throw new Error(`STC: H_hat has ${hhat.length} columns, ${hhatWidth(n, m)} needed`);
}

export interface StcResult {
  /** Stego bits (0/1), one per cover bit. */
  stego: Uint8Array;
  /** Sum of the costs of the flipped bits. */
  distortion: number;
  /** Number of flipped bits. */
  changes: number;
  /** Segments the trellis was cut into (1: no recomputation). */
  segments: number;
}

/**
 * Embeds `message` (0/1 bytes, m of them) into `cover` (0/1 bytes, n of them): the stego bits whose
 * syndrome is the message at the least total cost, where flipping bit j costs costs[j] (Infinity:
 * never). Throws when no finite-cost solution exists.
 */
export function stcEmbed(cover: Uint8Array, costs: Float64Array, message: Uint8Array, hhat: Uint32Array, h: number, opts: { maxPathBytes?: number } = {}): StcResult {
  checkHeight(h);
  const n = cover.length, m = message.length;
  if (costs.length !== n) throw new Error(`STC: ${costs.length} costs for ${n} cover bits`);
  checkShapes(n, m, hhat);
  const S = 1 << h;
  const half = S >>> 1;
  const W = S >>> 5; // decision words per column
  const maxWords = Math.max(1, Math.floor((opts.maxPathBytes ?? DEFAULT_MAX_PATH_BYTES) / 4));

  // segments of whole blocks, each with at most maxWords decision words (a block is never split)
  const segBlocks: number[] = [0];
  {
    const colsPerSeg = Math.max(1, Math.floor(maxWords / W));
    let segStart = 0;
    for (let b = 0; b < m; b++) {
      const end = blockStart(b + 1, n, m);
      if (end - segStart > colsPerSeg && b > segBlocks[segBlocks.length - 1]!) {
        segBlocks.push(b);
        segStart = blockStart(b, n, m);
      }
    }
    segBlocks.push(m);
  }
  const K = segBlocks.length - 1;
  let maxSegCols = 0;
  for (let k = 0; k < K; k++) maxSegCols = Math.max(maxSegCols, blockStart(segBlocks[k + 1]!, n, m) - blockStart(segBlocks[k]!, n, m));

  let cost = new Float64Array(S);
  let next = new Float64Array(S);
  const path = new Uint32Array(maxSegCols * W);

  /** Runs the trellis over blocks [b0, b1) from `cost` (in place, swapped buffers returned), storing decisions if asked. */
  const forward = (b0: number, b1: number, store: boolean): void => {
    const col0 = blockStart(b0, n, m);
    for (let b = b0; b < b1; b++) {
      const j0 = blockStart(b, n, m), j1 = blockStart(b + 1, n, m);
      for (let j = j0; j < j1; j++) {
        const hc = hhat[j - j0]!;
        const c = costs[j]!;
        const c0 = cover[j] ? c : 0; // cost of stego bit 0
        const c1 = cover[j] ? 0 : c; // cost of stego bit 1
        trellisColumn(cost, next, store ? path : null, (j - col0) * W, hc, c0, c1, S);
        const tmp = cost;
        cost = next;
        next = tmp;
      }
      // row b is complete: keep the states that agree with the message bit, move to the next row
      const mb = message[b]!;
      for (let s = 0; s < half; s++) next[s] = cost[(s << 1) | mb]!;
      next.fill(Infinity, half);
      const tmp = cost;
      cost = next;
      next = tmp;
    }
  };

  cost.fill(Infinity);
  cost[0] = 0;
  const checkpoints: Float64Array[] = [cost.slice()];
  for (let k = 0; k < K - 1; k++) {
    forward(segBlocks[k]!, segBlocks[k + 1]!, false);
    checkpoints.push(cost.slice());
  }

  const stego = new Uint8Array(n);
  let state = -1;
  let best = Infinity;
  for (let k = K - 1; k >= 0; k--) {
    cost.set(checkpoints[k]!);
    const b0 = segBlocks[k]!, b1 = segBlocks[k + 1]!;
    forward(b0, b1, true);
    if (state < 0) {
      state = 0;
      for (let s = 1; s < half; s++) if (cost[s]! < cost[state]!) state = s;
      best = cost[state]!;
      if (!Number.isFinite(best)) throw new Error('STC: the message cannot be embedded at finite cost (too many elements that must not change)');
    }
    const col0 = blockStart(b0, n, m);
    for (let b = b1 - 1; b >= b0; b--) {
      state = ((state << 1) | message[b]!) >>> 0;
      const j0 = blockStart(b, n, m), j1 = blockStart(b + 1, n, m);
      for (let j = j1 - 1; j >= j0; j--) {
        const bit = (path[(j - col0) * W + (state >>> 5)]! >>> (state & 31)) & 1;
        stego[j] = bit;
        if (bit) state ^= hhat[j - j0]!;
      }
    }
  }
  if (state !== 0) throw new Error(`STC internal error: the backward pass ended in state ${state}, not 0`);
  let distortion = 0, changes = 0;
  for (let j = 0; j < n; j++) {
    if (stego[j] !== cover[j]) {
      distortion += costs[j]!;
      changes++;
    }
  }
  return { stego, distortion, changes, segments: K };
}

/** One trellis column: next[t] = min(cost[t] + c0, cost[t ^ hc] + c1), the choice (1: stego bit 1) packed 32 states a word. */
function trellisColumn(cost: Float64Array, next: Float64Array, path: Uint32Array | null, wi: number, hc: number, c0: number, c1: number, S: number): void {
  if (path) {
    for (let s = 0; s < S; s += 32, wi++) {
      let word = 0;
      for (let k = 0; k < 32; k++) {
        const t = s + k;
        const a = cost[t]! + c0;
        const d = cost[t ^ hc]! + c1;
        if (d < a) {
          next[t] = d;
          word |= 1 << k;
        } else {
          next[t] = a;
        }
      }
      path[wi] = word;
    }
  } else {
    for (let t = 0; t < S; t++) {
      const a = cost[t]! + c0;
      const d = cost[t ^ hc]! + c1;
      next[t] = d < a ? d : a;
    }
  }
}

/** The m message bits of stego bits (0/1 bytes): the syndrome H x. */
export function stcExtract(stego: Uint8Array, m: number, hhat: Uint32Array): Uint8Array {
  const n = stego.length;
  checkShapes(n, m, hhat);
  const out = new Uint8Array(m);
  let acc = 0;
  for (let b = 0; b < m; b++) {
    const j0 = blockStart(b, n, m), j1 = blockStart(b + 1, n, m);
    for (let j = j0; j < j1; j++) if (stego[j]) acc ^= hhat[j - j0]!;
    out[b] = acc & 1;
    acc >>>= 1;
  }
  return out;
}
