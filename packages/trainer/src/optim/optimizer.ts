// The optimizer base: per-parameter state (Adam moments, Lookahead slow weights, step counters)
// kept in persistent tensors on the parameter's device, and one fused native step per parameter
// (packages/native-cuda/src/{cpu,cuda}/optimizer.*: gradient centralization, moments, weight decay,
// adaptive or momentum step, Lookahead sync). Every scalar that depends only on the step count
// is computed here in double; parameters are updated in place on their own storage.
import { Tensor, native, type Storage } from '@sgi/core';

/** Codes of common/kernels/optimizer.h OptimMode, in order. */
export const OPTIM_MODES = ['adaptive', 'momentum'] as const;
export type OptimMode = (typeof OPTIM_MODES)[number];

/** The native function of the optimizer family (src/napi/optimizer.cc). */
export interface OptimizerNative {
  optimizerStep(
    p: Storage, g: Storage, m: Storage, v: Storage, slow: Storage | null,
    rows: number, centralize: boolean, mode: number,
    beta1: number, beta2: number, oneMinusBeta1: number, oneMinusBeta2: number, eps: number,
    step: number, denomDiv: number, l2: number, decay: number, sync: boolean, alpha: number,
  ): void;
}
const nat = native as unknown as OptimizerNative;

/** What one step of one parameter does, besides the moment updates (all in double). */
export interface StepScalars {
  /** 'adaptive': p -= step * m / (sqrt(v) / denomDiv + eps); 'momentum': p -= step * m. */
  mode: OptimMode;
  step: number;
  denomDiv: number;
  /** Coupled weight decay: g += l2 * p before the moments (Adam). */
  l2: number;
  /** Decoupled weight decay: p -= decay * p before the step (Ranger, AdamW). */
  decay: number;
}

/** The state of one parameter. */
export interface ParamState {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
  /** Lookahead slow weights (Ranger), null otherwise. */
  slow: Tensor | null;
}

export interface BaseOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
}

/** State-dict keys per parameter index i: `${i}.step`, `${i}.exp_avg`, `${i}.exp_avg_sq`, `${i}.slow_buffer`. */
const STATE_KEYS = ['step', 'exp_avg', 'exp_avg_sq', 'slow_buffer'] as const;

export abstract class Optimizer {
  readonly params: readonly Tensor[];
  /** The learning rate; may be changed between steps (schedules). */
  lr: number;
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  protected readonly state: (ParamState | null)[];
  /** One-element CPU tensors that carry the step counters in stateDict(), refreshed on each call. */
  private stepTensors: (Tensor | null)[];
  private disposed = false;

  constructor(readonly name: string, params: readonly Tensor[], opts: BaseOptions) {
    if (!Array.isArray(params)) throw new Error(`${name}: params must be an array of tensors`);
    const seen = new Set<Tensor>();
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new Error(`${name}: params[${i}] is not a Tensor`);
      if (seen.has(p)) throw new Error(`${name}: params[${i}]${p.name ? ` ('${p.name}')` : ''} appears twice in the parameter list`);
      seen.add(p);
    });
    const [b1, b2] = opts.betas;
    check(name, 'lr', opts.lr, Number.isFinite(opts.lr) && opts.lr >= 0, 'a finite number >= 0');
    check(name, 'betas[0]', b1, b1 >= 0 && b1 < 1, 'in [0, 1)');
    check(name, 'betas[1]', b2, b2 >= 0 && b2 < 1, 'in [0, 1)');
    check(name, 'eps', opts.eps, opts.eps > 0 && Number.isFinite(opts.eps), 'a finite number > 0');
    check(name, 'weightDecay', opts.weightDecay, opts.weightDecay >= 0 && Number.isFinite(opts.weightDecay), 'a finite number >= 0');
    this.params = [...params];
    this.lr = opts.lr;
    this.betas = [b1, b2];
    this.eps = opts.eps;
    this.weightDecay = opts.weightDecay;
    this.state = params.map(() => null);
    this.stepTensors = params.map(() => null);
  }

  /** The step-dependent scalars of step t (1-based) of a parameter. */
  protected abstract scalars(t: number): StepScalars;
  /** Whether the gradient of p is centralized (mean over all dims but the first subtracted). */
  protected abstract centralizes(p: Tensor): boolean;
  /** Lookahead settings, or null when the optimizer has no slow weights. */
  protected abstract lookahead(): { k: number; alpha: number } | null;

  /** One update of every parameter that has a gradient (the others are skipped, their step counters unchanged). */
  step(): void {
    this.checkAlive('step');
    const [b1, b2] = this.betas;
    const la = this.lookahead();
    this.params.forEach((p, i) => {
      const g = p.grad;
      if (!g || g.released) return;
      if (g.numel !== p.numel || g.shape.length !== p.shape.length || g.shape.some((d, k) => d !== p.shape[k])) {
        throw new Error(`${this.name}.step: gradient of ${this.label(i)} has shape [${g.shape.join(', ')}], parameter has [${p.shape.join(', ')}]`);
      }
      if (g.device !== p.device) throw new Error(`${this.name}.step: gradient of ${this.label(i)} is on ${g.device}, parameter on ${p.device}`);
      const st = (this.state[i] ??= this.initState(p, la !== null));
      st.step += 1;
      const sc = this.scalars(st.step);
      const centralize = this.centralizes(p) && p.numel > 0;
      const sync = la !== null && st.step % la.k === 0;
      nat.optimizerStep(
        p.storage, g.storage, st.expAvg.storage, st.expAvgSq.storage, st.slow ? st.slow.storage : null,
        centralize ? p.shape[0]! : 1, centralize, OPTIM_MODES.indexOf(sc.mode),
        b1, b2, 1 - b1, 1 - b2, this.eps,
        sc.step, sc.denomDiv, sc.l2, sc.decay, sync, la ? la.alpha : 0,
      );
    });
  }

  /** Releases every parameter's gradient (they are rebuilt by the next backward). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.release();
      p.grad = null;
    }
  }

  /** The number of steps taken by parameter i (0 before its first update). */
  stepCount(i = 0): number {
    return this.state[i]?.step ?? 0;
  }

  /**
   * The optimizer state, keyed `${i}.<name>` by parameter index: `step` (a one-element CPU tensor),
   * `exp_avg`, `exp_avg_sq` and (Ranger) `slow_buffer`. The tensors are the live persistent state
   * (copy them if they must outlive further steps); parameters never stepped have no entries.
   */
  stateDict(): Map<string, Tensor> {
    this.checkAlive('stateDict');
    const out = new Map<string, Tensor>();
    this.state.forEach((st, i) => {
      if (!st) return;
      let t = this.stepTensors[i];
      if (!t || t.released) {
        t = Tensor.zeros([1]);
        t.persistent = true;
        this.stepTensors[i] = t;
      }
      native.fill(t.storage, st.step);
      out.set(`${i}.step`, t);
      out.set(`${i}.exp_avg`, st.expAvg);
      out.set(`${i}.exp_avg_sq`, st.expAvgSq);
      if (st.slow) out.set(`${i}.slow_buffer`, st.slow);
    });
    return out;
  }

  /** Restores a state saved by stateDict() (copied into this optimizer's own tensors, on the parameters' devices). */
  loadStateDict(dict: ReadonlyMap<string, Tensor>): void {
    this.checkAlive('loadStateDict');
    const wantSlow = this.lookahead() !== null;
    for (const key of dict.keys()) {
      const m = /^(\d+)\.(.+)$/.exec(key);
      if (!m || !(STATE_KEYS as readonly string[]).includes(m[2]!)) {
        throw new Error(`${this.name}.loadStateDict: unexpected key '${key}' (expected <param index>.${STATE_KEYS.join('|')})`);
      }
      if (Number(m[1]) >= this.params.length) {
        throw new Error(`${this.name}.loadStateDict: key '${key}' names parameter ${m[1]} but the optimizer has ${this.params.length} parameters`);
      }
      if (m[2] === 'slow_buffer' && !wantSlow) throw new Error(`${this.name}.loadStateDict: key '${key}': this optimizer has no Lookahead slow weights`);
    }
    // Validate everything before changing anything.
    const loaded: ({ step: number; m: Tensor; v: Tensor; slow: Tensor | null } | null)[] = this.params.map((p, i) => {
      const stepT = dict.get(`${i}.step`);
      if (!stepT) {
        for (const k of STATE_KEYS) if (dict.has(`${i}.${k}`)) throw new Error(`${this.name}.loadStateDict: '${i}.${k}' given without '${i}.step'`);
        return null;
      }
      if (stepT.numel !== 1) throw new Error(`${this.name}.loadStateDict: '${i}.step' must hold one value, got ${stepT.numel}`);
      const step = stepT.item();
      if (!Number.isInteger(step) || step < 0) throw new Error(`${this.name}.loadStateDict: '${i}.step' = ${step} is not a step count`);
      const need = (k: string): Tensor => {
        const t = dict.get(`${i}.${k}`);
        if (!t) throw new Error(`${this.name}.loadStateDict: '${i}.${k}' is missing (${this.label(i)})`);
        if (t.numel !== p.numel) {
          throw new Error(`${this.name}.loadStateDict: '${i}.${k}' has ${t.numel} elements but ${this.label(i)} has ${p.numel} (shape [${p.shape.join(', ')}])`);
        }
        return t;
      };
      return { step, m: need('exp_avg'), v: need('exp_avg_sq'), slow: wantSlow ? need('slow_buffer') : null };
    });
    loaded.forEach((l, i) => {
      if (!l) { this.releaseState(i); return; }
      const st = (this.state[i] ??= this.initState(this.params[i]!, wantSlow));
      st.step = l.step;
      native.copyInto(st.expAvg.storage, l.m.storage);
      native.copyInto(st.expAvgSq.storage, l.v.storage);
      if (st.slow && l.slow) native.copyInto(st.slow.storage, l.slow.storage);
    });
  }

  /** Releases all optimizer state (the optimizer cannot be used afterwards). */
  dispose(): void {
    this.state.forEach((_, i) => this.releaseState(i));
    for (const t of this.stepTensors) t?.release();
    this.stepTensors = [];
    this.disposed = true;
  }

  private initState(p: Tensor, withSlow: boolean): ParamState {
    const persistent = (t: Tensor): Tensor => { t.persistent = true; return t; };
    return {
      step: 0,
      expAvg: persistent(Tensor.zeros(p.shape, p.device)),
      expAvgSq: persistent(Tensor.zeros(p.shape, p.device)),
      // pSp's Ranger copies the parameter into the slow buffer on its first step (before updating).
      slow: withSlow ? persistent(p.clone()) : null,
    };
  }

  private releaseState(i: number): void {
    const st = this.state[i];
    if (!st) return;
    st.expAvg.release();
    st.expAvgSq.release();
    st.slow?.release();
    this.state[i] = null;
  }

  private label(i: number): string {
    const p = this.params[i]!;
    return `parameter ${i}${p.name ? ` '${p.name}'` : ''}`;
  }

  private checkAlive(what: string): void {
    if (this.disposed) throw new Error(`${this.name}.${what}: the optimizer was disposed`);
  }
}

function check(opt: string, name: string, value: number, ok: boolean, what: string): void {
  if (!ok || Number.isNaN(value)) throw new Error(`${opt}: option '${name}' must be ${what}, got ${value}`);
}
