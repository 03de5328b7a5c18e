// Style mixing (the paper's Section 5): the content face's W+ code keeps its first layers and takes
// the style face's from layer k on. The paper replaces the last 11 of the 1024 generator's 18
// latents (k = 7); for a generator with another number of latents k is scaled to it,
// k' = round(k * nLatent / 18), unless an exact layer index is given.
import { codeValues, type CodeShape, type Latent } from './latents.js';

/** The paper's generator (1024x1024) has 18 latents, and its style mixing starts at layer 7. */
export const PAPER_LATENTS = 18;
export const PAPER_MIX_FROM = 7;

export interface MixIndex {
  index: number;
  /** Why this index: an exact one, the paper's own, or the scaled one. */
  reason: string;
}

/**
 * The first layer taken from the style code: `exact` when given (0..nLatent), else `from`
 * (default 7, counted on the paper's 18 latents) scaled to nLatent.
 */
export function mixLayerIndex(nLatent: number, opts: { from?: number; exact?: number } = {}): MixIndex {
  if (opts.exact !== undefined) {
    if (!Number.isInteger(opts.exact) || opts.exact < 0 || opts.exact > nLatent) throw new Error(`--layer-index ${opts.exact} is outside 0..${nLatent} (this generator has ${nLatent} latents)`);
    return { index: opts.exact, reason: `--layer-index ${opts.exact} given as an exact index of this generator's ${nLatent} latents` };
  }
  const k = opts.from ?? PAPER_MIX_FROM;
  if (!Number.isInteger(k) || k < 0 || k > PAPER_LATENTS) throw new Error(`--from ${k} is outside 0..${PAPER_LATENTS} (it counts on the paper's ${PAPER_LATENTS} latents; use --layer-index for an exact index)`);
  if (nLatent === PAPER_LATENTS) return { index: k, reason: `this generator has ${PAPER_LATENTS} latents like the paper's 1024x1024 one, so --from ${k} is used as is` };
  const index = Math.round((k * nLatent) / PAPER_LATENTS);
  return { index, reason: `--from ${k} counts on the paper's ${PAPER_LATENTS} latents; this generator has ${nLatent}, so round(${k} * ${nLatent} / ${PAPER_LATENTS}) = ${index} (give --layer-index for an exact index)` };
}

/**
 * The content code with layers [from, nLatent) replaced by the style code's. from = 0 gives the
 * style code, from = nLatent the content code (exact copies). Refuses codes of the wrong shape.
 */
export function mixCodes(content: Latent, style: Latent, from: number, s: CodeShape): Float32Array {
  const c = codeValues('content latent', content, s);
  const st = codeValues('style latent', style, s);
  if (!Number.isInteger(from) || from < 0 || from > s.nLatent) throw new Error(`layer index ${from} is outside 0..${s.nLatent}`);
  const out = c.slice();
  out.set(st.subarray(from * s.styleDim), from * s.styleDim);
  return out;
}
