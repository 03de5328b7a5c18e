// Keyed randomness for the hiding scheme: a passphrase is turned into independent 128-bit seeds
// (SHA-256 of a domain tag, the purpose and the passphrase) for xoshiro128** generators (Blackman
// and Vigna, "Scrambled linear pseudorandom number generators", 2018). The same passphrase gives the
// same carrier permutation, STC submatrices, message mask and +-1 choices on both sides.
import { createHash } from 'node:crypto';

const DOMAIN = 'sgi-stego-v1';

/** xoshiro128**: a small, fast 32-bit generator; deterministic across platforms. */
export class KeyedRandom {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: Uint8Array) {
    if (seed.length < 16) throw new Error('KeyedRandom needs a 16-byte seed');
    const v = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
    this.s0 = v.getUint32(0, true) | 0;
    this.s1 = v.getUint32(4, true) | 0;
    this.s2 = v.getUint32(8, true) | 0;
    this.s3 = v.getUint32(12, true) | 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** The next 32-bit unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9);
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r >>> 0;
  }

  /** A uniform integer in [0, k) (k <= 2^32; multiply-shift, bias below k / 2^32). */
  below(k: number): number {
    return Math.floor((this.nextU32() * k) / 4294967296);
  }

  /** Fills `out` with random bits (0/1 bytes). */
  bits(out: Uint8Array): Uint8Array {
    for (let i = 0; i < out.length; i += 32) {
      const r = this.nextU32();
      const end = Math.min(32, out.length - i);
      for (let b = 0; b < end; b++) out[i + b] = (r >>> b) & 1;
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The seed of one purpose ('permutation', 'hhat-frame', ...) under a passphrase (the empty string when no key is given). */
export function keySeed(passphrase: string, purpose: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`${DOMAIN}\0${purpose}\0`).update(passphrase, 'utf8').digest());
}

export function keyedRandom(passphrase: string, purpose: string): KeyedRandom {
  return new KeyedRandom(keySeed(passphrase, purpose));
}

/** A keyed random permutation of 0..n-1 (Fisher-Yates). */
export function keyedPermutation(n: number, passphrase: string): Uint32Array {
  const rng = keyedRandom(passphrase, 'permutation');
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
