// Reverse-mode autograd. Each differentiable op calls attachGrad(out, name, inputs, backward)
// with a backward rule that maps the output gradient to one gradient per input (or null).
// backward() walks the graph once in reverse topological order, accumulating gradients.
import { Tensor } from './tensor.js';
import { sameShape, shapeStr } from './shape.js';
import { native } from './native.js';
import { Scope } from './scope.js';

export interface GradNode {
  name: string;
  inputs: readonly (Tensor | null)[];
  backward: (gradOut: Tensor) => readonly (Tensor | null | undefined)[];
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording autograd history (evaluation, optimizer steps, frozen networks). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** True when an op on these inputs must record history. */
export function needsGrad(...inputs: readonly (Tensor | null | undefined)[]): boolean {
  if (!gradEnabled) return false;
  for (const t of inputs) if (t && (t.requiresGrad || t.gradNode)) return true;
  return false;
}

/** Records how `out` was computed, when any input needs a gradient. Returns out. */
export function attachGrad(
  out: Tensor,
  name: string,
  inputs: readonly (Tensor | null | undefined)[],
  backward: GradNode['backward'],
): Tensor {
  if (needsGrad(...inputs)) out.gradNode = { name, inputs: inputs.map((t) => t ?? null), backward };
  return out;
}

function flowsGrad(t: Tensor | null): t is Tensor {
  return !!t && (t.requiresGrad || t.gradNode !== null);
}

export interface BackwardOptions {
  /**
   * Release every intermediate tensor of the graph (not leaves, not persistent ones) as soon as the
   * backward pass is past it, instead of when its scope ends: a training step's activations go as
   * its gradients come (peak memory). The caller must not read those tensors afterwards.
   */
  freeGraph?: boolean;
}

/**
 * Computes gradients of `root` (a scalar unless gradOut is given) w.r.t. every leaf that
 * requires grad, accumulating into leaf.grad. Intermediate gradients are released as soon as used.
 */
export function backward(root: Tensor, gradOut?: Tensor, opts: BackwardOptions = {}): void {
  if (!flowsGrad(root)) throw new Error('backward: the tensor does not require grad and has no autograd history');
  if (!gradOut && root.numel !== 1) {
    throw new Error(`backward: gradient can be implied only for a one-element tensor, got shape ${shapeStr(root.shape)}`);
  }
  // Reverse topological order by iterative DFS.
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, done] = stack.pop()!;
    if (done) { order.push(t); continue; }
    if (visited.has(t)) continue;
    visited.add(t);
    stack.push([t, true]);
    for (const inp of t.gradNode?.inputs ?? []) if (flowsGrad(inp) && !visited.has(inp)) stack.push([inp, false]);
  }
  const grads = new Map<Tensor, Tensor>();
  grads.set(root, gradOut ? gradOut.detach() : Tensor.ones(root.shape, root.device));
  noGrad(() => {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t.gradNode;
      if (!node) {
        if (t.requiresGrad) accumulateLeaf(t, g);
        else g.release();
        continue;
      }
      const inputGrads = node.backward(g);
      g.release();
      // every consumer of t came before it in this order: nothing reads t any more
      if (opts.freeGraph && !t.persistent) t.release();
      node.inputs.forEach((inp, k) => {
        const gi = inputGrads[k];
        if (!gi) return;
        if (!flowsGrad(inp)) { gi.release(); return; }
        if (!sameShape(gi.shape, inp.shape)) {
          throw new Error(`backward: ${node.name} produced a gradient of shape ${shapeStr(gi.shape)} for an input of shape ${shapeStr(inp.shape)}`);
        }
        const prev = grads.get(inp);
        if (prev) { addInto(prev, gi); gi.release(); }
        else grads.set(inp, gi);
      });
    }
  });
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (leaf.grad && !leaf.grad.released) {
    addInto(leaf.grad, g);
    g.release();
  } else {
    leaf.grad = g;
    g.persistent = true;
  }
}

/** target += src (same shape, in place). */
export function addInto(target: Tensor, src: Tensor): void {
  if (!sameShape(target.shape, src.shape)) throw new Error(`addInto: shapes ${shapeStr(target.shape)} and ${shapeStr(src.shape)} differ`);
  const strides = contiguous(target.shape);
  native.binaryForward(0, target.storage, src.storage, target.storage, target.shape, strides, strides);
}

function contiguous(shape: readonly number[]): number[] {
  const s: number[] = new Array(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) { s[d] = acc; acc *= shape[d]!; }
  return s;
}

/** Runs fn recording autograd history even inside noGrad (a recomputation during backward). */
function withGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Activation checkpointing: `fn(...inputs)` runs without keeping its intermediate tensors (they are
 * freed as soon as it returns); the backward pass runs it again on the same inputs, with history,
 * and backpropagates through that copy. Memory: the inputs and the output instead of everything in
 * between, for one more forward of `fn`. `fn` must be deterministic given its inputs (pass random
 * noise in as an input) and may read parameters (`params`: their gradients accumulate into their
 * .grad during the recomputation, as an ordinary backward would). The inputs are kept alive (views)
 * until the enclosing scope ends even if the caller releases them. Without grad it is just fn().
 */
export function checkpoint(fn: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], params: readonly Tensor[] = []): Tensor {
  if (!needsGrad(...inputs, ...params)) return fn(...inputs);
  const saved = inputs.map((t) => t.detach());
  const inner = new Scope();
  let out: Tensor;
  try {
    out = inner.run(() => inner.keep(noGrad(() => fn(...saved))));
  } finally {
    inner.dispose();
  }
  return attachGrad(out, 'checkpoint', [...inputs, ...params], (g) => {
    const again = new Scope();
    try {
      return again.run(() => {
        const xs = saved.map((s, i) => {
          const x = s.detach();
          x.requiresGrad = flowsGrad(inputs[i]!);
          return x;
        });
        const y = withGrad(() => fn(...xs));
        if (!flowsGrad(y)) return [];
        backward(y, g, { freeGraph: true });
        // the inputs' gradients outlive this scope (the enclosing backward() releases them once used)
        return xs.map((x) => {
          const gx = x.grad;
          x.grad = null;
          if (gx) { gx.persistent = false; again.keep(gx); }
          return gx;
        });
      });
    } finally {
      again.dispose();
    }
  });
}
