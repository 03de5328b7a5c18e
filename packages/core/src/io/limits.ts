// Resource limits of the weight-file loaders. Weight files are untrusted input: a few kilobytes
// can declare terabytes (a zip bomb, a tensor view of 2^40 elements over a 1-element storage), a
// shared structure can expand exponentially when walked as a tree, and some decodings are
// super-linear in their input (big integers, copies of copies). Every loader therefore works
// within the limits below and refuses a file that needs more, with an error naming the file and
// the limit, before it spends the time or memory.
//
// | limit | value | where it applies |
// |---|---|---|
// | decoded bytes | 16 x the file size + 64 MiB | everything a loader allocates for one file: inflated zip entries (checked against the declared size before inflating), decoded storages and gathered (non-contiguous) tensor views (torch.ts); float32 tensors sharing a storage are views into it and cost nothing |
// | pickle work | 16 x the stream's bytes + 2^20 units | values the unpickler copies or builds from other values (dict(...) of a dict, bytes of a string, NumPy arrays decoded, ...) (pickle.ts) |
// | binary integers | 4096 bytes | pickle LONG1/LONG4 (decoded in linear time up to it) (pickle.ts) |
// | text integers | 4300 digits | pickle INT/LONG literals (Python's own default limit, sys.int_info.default_max_str_digits) (pickle.ts) |
// | object walk | 16 x the distinct entries + 2^18 | entries (and name characters) flattenStateDict may visit when it names tensors: a container shared N times is named N times, within this budget (torch.ts) |
// | nesting depth | 1000 levels | flattenStateDict's walk of the unpickled object; cycles are refused at any depth (torch.ts) |
// | metadata JSON | 2^18 units | toJsonable's copy of the non-tensor leaves; beyond it values become '...' (checkpoint.ts) |
// | safetensors header | 100 MB | the JSON header (the reference implementation's limit) (safetensors.ts) |
// | .npy header | 64 KiB, nesting 32 | the header literal (npy.ts) |

export interface LoaderLimits {
  /** Bytes a loader may allocate per byte of the input file. */
  expansionFactor: number;
  /** Bytes a loader may allocate on top, whatever the file size (small files with U8 storages, npz). */
  expansionSlack: number;
  /** Pickle work units per byte of the stream, and on top. */
  pickleWorkFactor: number;
  pickleWorkSlack: number;
  /** Largest LONG1/LONG4 integer, in bytes. */
  maxLongBytes: number;
  /** Largest INT/LONG text literal, in digits. */
  maxIntDigits: number;
  /** Object-walk budget per distinct entry, and on top. */
  walkFactor: number;
  walkSlack: number;
  /** Deepest nesting flattenStateDict walks. */
  maxDepth: number;
  /** Work units of toJsonable (one per value, plus string lengths). */
  jsonBudget: number;
  /** Largest safetensors JSON header, in bytes. */
  maxSafetensorsHeader: number;
  /** Largest .npy header, in bytes, and its deepest literal nesting. */
  maxNpyHeader: number;
  maxNpyHeaderDepth: number;
}

export const LOADER_LIMITS: Readonly<LoaderLimits> = Object.freeze({
  expansionFactor: 16,
  expansionSlack: 64 * 2 ** 20,
  pickleWorkFactor: 16,
  pickleWorkSlack: 2 ** 20,
  maxLongBytes: 4096,
  maxIntDigits: 4300,
  walkFactor: 16,
  walkSlack: 2 ** 18,
  maxDepth: 1000,
  jsonBudget: 2 ** 18,
  maxSafetensorsHeader: 100_000_000,
  maxNpyHeader: 2 ** 16,
  maxNpyHeaderDepth: 32,
});

/** Thrown when a file needs more than a limit allows; the message names the file and the limit. */
export class LoaderLimitError extends Error {
  constructor(file: string, msg: string) {
    super(`${file}: refusing to load: ${msg}`);
    this.name = 'LoaderLimitError';
  }
}

/**
 * The decoded-bytes budget of one file: every allocation a loader makes for it is charged here
 * first, so a file that would expand past the limit fails before the memory is taken.
 */
export class DecodeBudget {
  used = 0;
  readonly limit: number;
  private readonly rule: string;

  constructor(readonly file: string, fileBytes: number, limits: Partial<LoaderLimits> = {}) {
    const l = { ...LOADER_LIMITS, ...limits };
    this.limit = l.expansionFactor * fileBytes + l.expansionSlack;
    this.rule = `${l.expansionFactor} x the file's ${fileBytes} bytes + ${l.expansionSlack} bytes; see io/limits.ts`;
  }

  /** Charges `bytes` for `what` (e.g. "entry 'a/data/0'"); throws when the total would pass the limit. */
  charge(bytes: number, what: string): void {
    if (!Number.isFinite(bytes) || bytes < 0 || this.used + bytes > this.limit) {
      throw new LoaderLimitError(this.file, `${what} needs ${bytes} bytes, which would bring the data decoded from this file ` +
        `to ${this.used + bytes} bytes, more than its limit of ${this.limit} bytes (${this.rule})`);
    }
    this.used += bytes;
  }
}

/** The product of sizes, or NaN when one is not a non-negative safe integer or the product is not safe. */
export function safeProduct(sizes: readonly unknown[]): number {
  for (const d of sizes) if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return NaN;
  if (sizes.includes(0)) return 0;
  // Every factor is >= 1, so a double product only grows: once past 2^53 it stays past it.
  let n = 1;
  for (const d of sizes as number[]) n *= d;
  return Number.isSafeInteger(n) ? n : NaN;
}
