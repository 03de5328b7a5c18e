// Tensor: a shape over a reference-counted native storage, with autograd links.
// Memory: release() frees at once; tensors created inside a Scope are released when it ends;
// the native finalizer frees whatever the GC collects (a safety net, not the plan).
import { native, type Storage } from './native.js';
import { numelOf, shapeStr, type Shape } from './shape.js';
import { currentScope } from './scope.js';
import { backward as backwardImpl, type BackwardOptions, type GradNode } from './autograd.js';

export type Device = 'cpu' | 'cuda';
const deviceCode = (d: Device): 0 | 1 => (d === 'cuda' ? 1 : 0);

/** A native storage shared by tensors that view the same data (reshape); freed when the last one releases. */
class SharedStorage {
  refs = 1;
  constructor(readonly storage: Storage) {}
}

let readbacks = 0;
/** Device-to-host reads so far (toArray/item of a tensor not on the CPU): the hot path of a step should make none. */
export function deviceReadbacks(): number { return readbacks; }

export class Tensor {
  readonly shape: readonly number[];
  readonly device: Device;
  requiresGrad = false;
  /** Accumulated gradient of a leaf that requires grad. */
  grad: Tensor | null = null;
  /** The autograd node that produced this tensor (null for leaves). */
  gradNode: GradNode | null = null;
  /** A name for error messages and parameter listings. */
  name?: string;
  /** Persistent tensors (parameters, buffers, leaf gradients) are never released by a Scope. */
  persistent = false;
  private shared: SharedStorage | null;

  private constructor(shared: SharedStorage, shape: Shape) {
    this.shared = shared;
    this.shape = Object.freeze([...shape]);
    this.device = shared.storage.device;
    currentScope()?.track(this);
  }

  /** Wraps a native storage (takes ownership). */
  static fromStorage(storage: Storage, shape: Shape): Tensor {
    if (storage.numel !== numelOf(shape)) {
      throw new Error(`Tensor: storage holds ${storage.numel} elements but shape ${shapeStr(shape)} needs ${numelOf(shape)}`);
    }
    return new Tensor(new SharedStorage(storage), shape);
  }

  /** An uninitialised tensor. */
  static empty(shape: Shape, device: Device = 'cpu'): Tensor {
    validateShape(shape);
    return Tensor.fromStorage(new native.Storage(numelOf(shape), deviceCode(device)), shape);
  }

  static full(shape: Shape, value: number, device: Device = 'cpu'): Tensor {
    const t = Tensor.empty(shape, device);
    native.fill(t.storage, value);
    return t;
  }
  static zeros(shape: Shape, device: Device = 'cpu'): Tensor { return Tensor.full(shape, 0, device); }
  static ones(shape: Shape, device: Device = 'cpu'): Tensor { return Tensor.full(shape, 1, device); }
  static scalar(value: number, device: Device = 'cpu'): Tensor { return Tensor.full([], value, device); }

  /** A tensor holding a copy of `data` (row-major). */
  static fromArray(data: ArrayLike<number>, shape: Shape, device: Device = 'cpu'): Tensor {
    validateShape(shape);
    if (data.length !== numelOf(shape)) {
      throw new Error(`Tensor.fromArray: ${data.length} values given for shape ${shapeStr(shape)} (${numelOf(shape)} needed)`);
    }
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    return Tensor.fromStorage(native.fromArray(f32, deviceCode(device)), shape);
  }

  get storage(): Storage {
    if (!this.shared) throw new Error(`tensor${this.name ? ` '${this.name}'` : ''} ${shapeStr(this.shape)} was used after release()`);
    return this.shared.storage;
  }
  get numel(): number { return numelOf(this.shape); }
  get ndim(): number { return this.shape.length; }
  get released(): boolean { return this.shared === null; }

  /** A copy of the data on the host (from a device: a synchronising copy, counted by deviceReadbacks()). */
  toArray(): Float32Array {
    if (this.device !== 'cpu') readbacks++;
    return native.toArray(this.storage);
  }
  /** The single value of a one-element tensor. */
  item(): number {
    if (this.numel !== 1) throw new Error(`item(): tensor has ${this.numel} elements, expected 1`);
    return this.toArray()[0]!;
  }

  /** Frees the storage now (when no other view holds it). Safe to call twice. */
  release(): void {
    const s = this.shared;
    if (!s) return;
    this.shared = null;
    this.gradNode = null;
    if (--s.refs === 0) s.storage.release();
  }

  /**
   * Frees the data now but keeps the tensor's place in the autograd graph (its gradNode and
   * shape): for an op whose backward reconstructs an intermediate instead of keeping it. Reading
   * the data afterwards throws; release() stays safe.
   */
  dropData(): void {
    const s = this.shared;
    if (!s) return;
    this.shared = null;
    if (--s.refs === 0) s.storage.release();
  }

  /** A tensor of another shape over the same storage (no copy). */
  view(shape: Shape): Tensor {
    const s = this.storage && this.shared!;
    s.refs++;
    return new Tensor(s, shape);
  }

  /** The same data with no autograd history. */
  detach(): Tensor {
    return this.view(this.shape);
  }

  /** Marks a leaf as requiring gradients (returns this). */
  requireGrad(flag = true): this {
    this.requiresGrad = flag;
    return this;
  }

  /** This tensor on `device`: itself when it is there already, else a copy (no autograd history). */
  to(device: Device): Tensor {
    if (device === this.device) return this;
    const t = Tensor.empty(this.shape, device);
    native.copyInto(t.storage, this.storage);
    return t;
  }

  /**
   * Moves the data to `device` in place: the same tensor object (so modules, optimizers and
   * closures that hold it keep working) over a new storage; its gradient moves with it. Views made
   * earlier keep the old storage. Returns this.
   */
  moveTo(device: Device): this {
    if (device === this.device) return this;
    const old = this.storage && this.shared!;
    const storage = new native.Storage(this.numel, deviceCode(device));
    try {
      native.copyInto(storage, old.storage);
    } catch (e) {
      storage.release();
      throw e;
    }
    if (--old.refs === 0) old.storage.release();
    this.shared = new SharedStorage(storage);
    (this as { device: Device }).device = device;
    this.grad?.moveTo(device);
    return this;
  }

  /** A copy with its own storage and no history. */
  clone(): Tensor {
    const t = Tensor.empty(this.shape, this.device);
    native.copyInto(t.storage, this.storage);
    return t;
  }

  /** Gradients of this (scalar) tensor w.r.t. every leaf that requires grad; see autograd.ts. */
  backward(gradOut?: Tensor, opts?: BackwardOptions): void {
    backwardImpl(this, gradOut, opts);
  }

  toString(): string {
    return `Tensor(${shapeStr(this.shape)}, ${this.device}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

function validateShape(shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape ${shapeStr(shape)}: sizes must be non-negative integers`);
  }
}
