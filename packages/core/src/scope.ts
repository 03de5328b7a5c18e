// Scopes release the tensors created while they run. A scope is an explicit object; run() is
// synchronous and refuses async functions, because a tensor created after an await would land
// in whatever scope happens to be current then.
import type { Tensor } from './tensor.js';

const stack: Scope[] = [];

export function currentScope(): Scope | undefined {
  return stack[stack.length - 1];
}

export class Scope {
  private tensors: Tensor[] = [];
  private kept = new Set<Tensor>();
  private disposed = false;

  track(t: Tensor): void {
    if (this.disposed) throw new Error('Scope: tensor created in a scope that was already disposed');
    this.tensors.push(t);
  }

  /** Excludes tensors from this scope's release (they move to the enclosing scope, if any). */
  keep<T extends Tensor | Tensor[] | Record<string, Tensor>>(value: T): T {
    for (const t of tensorsIn(value)) this.kept.add(t);
    return value;
  }

  /** Runs fn with this scope current. */
  run<T>(fn: () => T): T {
    stack.push(this);
    try {
      const result = fn();
      if (result && typeof (result as { then?: unknown }).then === 'function') {
        throw new Error('Scope.run: the function returned a Promise; scopes are synchronous (create one scope per synchronous step)');
      }
      return result;
    } finally {
      const top = stack.pop();
      if (top !== this) throw new Error('Scope.run: scopes were not closed in order');
    }
  }

  /** Releases every tracked tensor that was not kept; kept ones are handed to the enclosing scope. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const parent = currentScope();
    for (const t of this.tensors) {
      if (t.persistent) continue;
      if (this.kept.has(t)) parent?.track(t);
      else t.release();
    }
    this.tensors = [];
    this.kept.clear();
  }
}

/**
 * Runs fn in a new scope and releases everything it created except the returned tensor(s)
 * (a tensor, an array of tensors or an object whose values are tensors).
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Scope();
  let result: T;
  try {
    result = scope.run(fn);
    scope.keep(result as never);
  } finally {
    scope.dispose();
  }
  return result;
}

function* tensorsIn(value: unknown): Generator<Tensor> {
  if (!value || typeof value !== 'object') return;
  if (isTensor(value)) { yield value; return; }
  const items = Array.isArray(value) ? value : Object.values(value);
  for (const v of items) if (isTensor(v)) yield v;
}

function isTensor(v: unknown): v is Tensor {
  return !!v && typeof v === 'object' && 'shape' in v && 'release' in v && 'gradNode' in v;
}
