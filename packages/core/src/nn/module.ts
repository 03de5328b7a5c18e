// Module: named parameters, buffers and children with PyTorch's dotted names, state dicts
// (strict loading with a clear report), train/eval modes, freezing and parameter counts.
import { native } from '../native.js';
import { Tensor, type Device } from '../tensor.js';
import { sameShape, shapeStr } from '../shape.js';
import { weightsMayHaveChanged } from './inference.js';

/** Anything with a shape and float data: a Tensor or a host tensor from a checkpoint reader. */
export interface TensorLike {
  shape: readonly number[];
  data?: Float32Array;
}

export class StateDictError extends Error {
  constructor(
    readonly missing: string[],
    readonly unexpected: string[],
    readonly misShaped: string[],
    context: string,
  ) {
    const parts: string[] = [];
    const list = (xs: string[]) => (xs.length > 12 ? `${xs.slice(0, 12).join(', ')} ... (${xs.length} in all)` : xs.join(', '));
    if (missing.length) parts.push(`missing keys: ${list(missing)}`);
    if (unexpected.length) parts.push(`unexpected keys: ${list(unexpected)}`);
    if (misShaped.length) parts.push(`shape mismatches: ${list(misShaped)}`);
    super(`${context}: state dict does not match the model: ${parts.join('; ')}`);
  }
}

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Registers a trainable parameter (persistent, requires grad). */
  protected param(name: string, t: Tensor): Tensor {
    t.persistent = true;
    t.requiresGrad = true;
    t.name = name;
    this.params.set(name, t);
    return t;
  }

  /** Registers a non-trainable tensor that is part of the state dict (running stats, noise, kernels). */
  protected buffer(name: string, t: Tensor): Tensor {
    t.persistent = true;
    t.name = name;
    this.buffers.set(name, t);
    return t;
  }

  /** Registers a child module under a name (its parameters get the prefix `name.`). */
  protected child<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.params) out.push([prefix + n, t]);
    for (const [n, c] of this.children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, t] of this.buffers) out.push([prefix + n, t]);
    for (const [n, c] of this.children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Parameters and buffers by dotted name, in registration order. */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copies values into the existing tensors (so optimizers keep their references).
   * strict: every model key must be given and no other key may appear; shapes must match.
   * Scalar-vs-[1] shape differences are accepted (PyTorch stores some buffers as 0-d).
   */
  loadStateDict(state: Map<string, TensorLike | Tensor>, opts: { strict?: boolean; context?: string } = {}): { missing: string[]; unexpected: string[] } {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !state.has(k));
    const unexpected = [...state.keys()].filter((k) => !own.has(k));
    const misShaped: string[] = [];
    for (const [k, t] of own) {
      const src = state.get(k);
      if (src && !compatibleShape(src.shape, t.shape)) misShaped.push(`${k} (checkpoint ${shapeStr(src.shape)}, model ${shapeStr(t.shape)})`);
    }
    if (misShaped.length || (strict && (missing.length || unexpected.length))) {
      throw new StateDictError(strict ? missing : [], strict ? unexpected : [], misShaped, opts.context ?? this.constructor.name);
    }
    for (const [k, t] of own) {
      const src = state.get(k);
      if (!src) continue;
      if (src instanceof Tensor) native.copyInto(t.storage, src.storage);
      else native.copyInto(t.storage, native.fromArray(src.data!, t.device === 'cuda' ? 1 : 0));
    }
    weightsMayHaveChanged();
    return { missing, unexpected };
  }

  train(flag = true): this {
    weightsMayHaveChanged();  // training may update them (and eval-mode BatchNorm reads the running stats)
    this.training = flag;
    for (const c of this.children.values()) c.train(flag);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Stops gradients to this module's parameters (they still pass gradients to inputs). */
  freeze(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = !flag;
    weightsMayHaveChanged();
    return this;
  }

  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.numel, 0);
  }

  /**
   * Moves every parameter and buffer (and those of the children) to `device` in place: the same
   * tensor objects over new storage, so optimizers and callers that hold them keep working.
   * Modules that hold other tensors (constants, shared kernels) extend this. Returns this.
   */
  to(device: Device): this {
    for (const [, t] of this.stateDict()) t.moveTo(device);
    weightsMayHaveChanged();
    return this;
  }

  /** The device of the parameters and buffers (the CPU for a module without any). */
  get device(): Device {
    const first = this.stateDict().values().next();
    return first.done ? 'cpu' : first.value.device;
  }

  /** Releases every parameter and buffer (the module is unusable afterwards). */
  release(): void {
    for (const [, t] of this.stateDict()) t.release();
  }
}

function compatibleShape(a: readonly number[], b: readonly number[]): boolean {
  if (sameShape(a, b)) return true;
  const n = (s: readonly number[]) => s.reduce((x, y) => x * y, 1);
  return n(a) === 1 && n(b) === 1 && a.length <= 1 && b.length <= 1;
}

/** Children named '0', '1', ... run in order (PyTorch's nn.Sequential naming). */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(layers: (Module | null)[]) {
    super();
    this.layers = [];
    layers.forEach((m, i) => {
      if (m) this.layers.push(this.child(String(i), m));
    });
  }
  forward(x: Tensor): Tensor {
    for (const m of this.layers) x = (m as unknown as { forward(x: Tensor): Tensor }).forward(x);
    return x;
  }
}

/** Children named '0', '1', ... without an order of execution (PyTorch's nn.ModuleList). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items.map((m, i) => this.child(String(i), m));
  }
}
