// Seeded faces of the built-in world. facesjs draws its random choices from Math.random, so a face
// is generated with Math.random temporarily replaced by a seeded generator: the same seed gives
// the same face on every machine. A few attributes are drawn here, with probabilities that make
// them common enough to learn and to edit (facesjs's own: glasses 10%, including a face mask).
import { generate, svgsIndex, type FaceConfig } from 'facesjs';

export type Gender = 'male' | 'female';

/** One face of the world: the facesjs description, the gender it was drawn for and its seed. */
export interface WorldFace {
  seed: number;
  gender: Gender;
  face: FaceConfig;
}

/** Glasses ids drawn in this world (facesjs's "facemask" hides the mouth: left out). */
export const GLASSES = ['glasses1-primary', 'glasses1-secondary', 'glasses2-black', 'glasses2-primary', 'glasses2-secondary'] as const;

/** Facial hair styles (all of facesjs's but 'none'). */
export const FACIAL_HAIR: readonly string[] = svgsIndex.facialHair.filter((id: string) => id !== 'none');

/** Accessories (hats, headbands, eye black): all of facesjs's but 'none'. */
export const ACCESSORIES: readonly string[] = svgsIndex.accessories.filter((id: string) => id !== 'none');

/** Probabilities of the attributes drawn here (the rest is facesjs's own distribution). */
export const WORLD_PROBABILITIES = { female: 0.5, glasses: 0.3, maleFacialHair: 0.5, accessories: 0.15 } as const;

/** A small seeded generator of uniform numbers in [0, 1) (32-bit state, SplitMix-style mixing). */
export function seededUniform(seed: number): () => number {
  let state = (seed >>> 0) ^ 0x9e3779b9;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  };
}

/** Runs `f` with Math.random drawing from `uniform` (restored afterwards, also on error). */
function withRandom<T>(uniform: () => number, f: () => T): T {
  const saved = Math.random;
  Math.random = uniform;
  try {
    return f();
  } finally {
    Math.random = saved;
  }
}

/** The face of a seed. Seeds are the world's identities: training, held-out and demo sets use disjoint ranges. */
export function sampleFace(seed: number): WorldFace {
  const u = seededUniform(seed);
  const gender: Gender = u() < WORLD_PROBABILITIES.female ? 'female' : 'male';
  const face = withRandom(u, () => generate(undefined, { gender }));
  face.glasses = { id: u() < WORLD_PROBABILITIES.glasses ? GLASSES[Math.floor(u() * GLASSES.length)]! : 'none' };
  const beard = gender === 'male' && u() < WORLD_PROBABILITIES.maleFacialHair;
  face.facialHair = { id: beard ? FACIAL_HAIR[Math.floor(u() * FACIAL_HAIR.length)]! : 'none' };
  face.accessories = { id: u() < WORLD_PROBABILITIES.accessories ? ACCESSORIES[Math.floor(u() * ACCESSORIES.length)]! : 'none' };
  return { seed, gender, face };
}

/** Faces of the seeds first, first + 1, ... (count of them). */
export function sampleFaces(first: number, count: number): WorldFace[] {
  return Array.from({ length: count }, (_, i) => sampleFace(first + i));
}

/**
 * Seed ranges of the world's splits: training draws from [0, 2^30), held-out evaluation faces and
 * demos from their own ranges, so no evaluated face was ever seen in training.
 */
export const SEEDS = { train: 0, heldOut: 2 ** 30, demo: 2 ** 30 + 2 ** 20 } as const;
