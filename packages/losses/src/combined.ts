// The training objective from a config: total = w_l2 L2 + w_lpips LPIPS + w_id ID + w_parsing MP
// (paper defaults 1, 0.8, 0.5, 1). A term is off when its weight is 0. Loss networks are frozen
// (eval mode, no parameter gradients) and pass gradients to the reconstruction only.
import * as fs from 'node:fs';
import { Tensor, noGrad, ops, type Device } from '@sgi/core';
import { l2Loss } from './l2.js';
import { LPIPS } from './lpips.js';
import { IDLoss, type IdNetwork, type IdVariant } from './id_loss.js';
import { ParseLoss } from './parse_loss.js';
import { MissingWeightsError, type MissingWeight } from './weights.js';

type Term<T> = number | ({ weight: number } & T);

/** Structurally the trainer's `loss` config section (plus optional extras). */
export interface LossConfig {
  l2?: number;
  lpips?: Term<{ alexnet?: string; linear?: string }>;
  id?: Term<{ variant?: IdVariant; network?: IdNetwork; checkpoint?: string }>;
  parsing?: Term<{ checkpoint?: string; featureScale?: number }>;
  /** Random weights for loss networks whose files are missing (never silent: see randomInitialised). */
  randomInit?: boolean;
  /** Where default weight file names are looked up (default SGI_WEIGHTS_DIR or ./pretrained_models). */
  weightsDir?: string;
  seed?: number;
}

export const DEFAULT_LOSS_WEIGHTS = { l2: 1, lpips: 0.8, id: 0.5, parsing: 1 } as const;
export type TermName = keyof typeof DEFAULT_LOSS_WEIGHTS;

export interface LossResult {
  /** The weighted sum (backpropagate this). */
  total: Tensor;
  /**
   * 'total' and the unweighted value of every active term, in the order of `names`, as one
   * detached vector on the loss's device: a trainer keeps these and reads them at log steps, so a
   * step on a GPU makes no device-to-host copy.
   */
  values: Tensor;
  names: string[];
  /** The same values on the host (reads `values` back on first use). */
  readonly terms: Record<string, number>;
}

/** A LossResult from the total and its named unweighted terms (tensors in the graph or not). */
export function lossResult(total: Tensor, terms: [string, Tensor][]): LossResult {
  const names = ['total', ...terms.map(([n]) => n)];
  const values = noGrad(() => ops.cat([total, ...terms.map(([, v]) => v)].map((t) => t.detach().view([1])), 0));
  let host: Record<string, number> | null = null;
  return {
    total, values, names,
    get terms() {
      if (!host) {
        const v = values.toArray();
        host = Object.fromEntries(names.map((n, i) => [n, v[i]!]));
      }
      return host;
    },
  };
}

function weightOf(t: Term<object> | undefined, dflt: number): number {
  const w = t === undefined ? dflt : typeof t === 'number' ? t : t.weight;
  if (!(w >= 0) || !Number.isFinite(w)) throw new Error(`loss config: a term weight must be a finite number >= 0, got ${String(w)}`);
  return w;
}
function optsOf<T extends object>(t: Term<T> | undefined): Partial<T> {
  return t !== undefined && typeof t === 'object' ? t : {};
}

export class CombinedLoss {
  readonly weights: Record<TermName, number>;
  readonly lpips: LPIPS | null = null;
  readonly id: IDLoss | null = null;
  readonly parsing: ParseLoss | null = null;
  /** Loss networks running on random weights (only with randomInit: true); print with every log line. */
  readonly randomInitialised: string[] = [];

  constructor(config: LossConfig = {}) {
    this.weights = {
      l2: weightOf(config.l2, DEFAULT_LOSS_WEIGHTS.l2),
      lpips: weightOf(config.lpips, DEFAULT_LOSS_WEIGHTS.lpips),
      id: weightOf(config.id, DEFAULT_LOSS_WEIGHTS.id),
      parsing: weightOf(config.parsing, DEFAULT_LOSS_WEIGHTS.parsing),
    };
    const common = { weightsDir: config.weightsDir, randomInit: config.randomInit === true, seed: config.seed ?? 0 };
    if (!common.randomInit) {
      // every missing file at once, before any network is built
      const needed: MissingWeight[] = [
        ...(this.weights.lpips > 0 ? LPIPS.weightFiles({ ...common, ...optsOf(config.lpips) }) : []),
        ...(this.weights.id > 0 ? IDLoss.weightFiles({ ...common, ...optsOf(config.id) }) : []),
        ...(this.weights.parsing > 0 ? ParseLoss.weightFiles({ ...common, ...optsOf(config.parsing) }) : []),
      ];
      const missing = needed.filter((m) => !fs.existsSync(m.file));
      if (missing.length) throw new MissingWeightsError(missing);
    }
    try {
      if (this.weights.lpips > 0) this.lpips = new LPIPS({ ...common, ...optsOf(config.lpips) });
      if (this.weights.id > 0) this.id = new IDLoss({ ...common, ...optsOf(config.id) });
      if (this.weights.parsing > 0) this.parsing = new ParseLoss({ ...common, ...optsOf(config.parsing) });
    } catch (e) {
      this.release();
      throw e;
    }
    for (const part of [this.lpips, this.id, this.parsing]) if (part) this.randomInitialised.push(...part.randomInitialised);
  }

  /** Active terms with their weights, e.g. "l2 1, lpips 0.8, id(multi,arcface) 0.5, parsing 1". */
  describe(): string {
    const parts: string[] = [];
    if (this.weights.l2 > 0) parts.push(`l2 ${this.weights.l2}`);
    if (this.lpips) parts.push(`lpips ${this.weights.lpips}`);
    if (this.id) parts.push(`id(${this.id.variant},${this.id.network}) ${this.weights.id}`);
    if (this.parsing) parts.push(`parsing ${this.weights.parsing}`);
    const s = parts.join(', ') || 'no terms';
    return this.randomInitialised.length ? `${s} [RANDOM WEIGHTS: ${this.randomInitialised.join(', ')}]` : s;
  }

  /** Loss of the reconstruction yHat (gradients flow to it) against the target x, both [B, 3, 256, 256] in [-1, 1]. */
  forward(yHat: Tensor, x: Tensor): LossResult {
    const terms: [string, Tensor][] = [];
    let total: Tensor | null = null;
    const addTerm = (name: TermName, value: () => Tensor) => {
      const w = this.weights[name];
      if (!(w > 0)) return;
      const v = value();
      terms.push([name, v]);
      const weighted = w === 1 ? v : ops.scale(v, w);
      total = total ? ops.add(total, weighted) : weighted;
    };
    addTerm('l2', () => l2Loss(yHat, x));
    if (this.lpips) addTerm('lpips', () => this.lpips!.forward(yHat, x));
    if (this.id) addTerm('id', () => this.id!.forward(yHat, x));
    if (this.parsing) addTerm('parsing', () => this.parsing!.forward(yHat, x));
    return lossResult(total ?? Tensor.zeros([], yHat.device), terms);
  }

  /** Moves every loss network to `device` (in place); the inputs of forward() must be there too. */
  to(device: Device): this {
    this.lpips?.to(device);
    this.id?.to(device);
    this.parsing?.to(device);
    return this;
  }

  release(): void {
    this.lpips?.release();
    this.id?.release();
    this.parsing?.release();
  }
}

export function createLoss(config: LossConfig = {}): CombinedLoss {
  return new CombinedLoss(config);
}
