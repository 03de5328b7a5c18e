// Element-wise arithmetic with broadcasting, unary maps, sums and means, and their gradients.
// Native kernels: src/cpu/elementwise.cc (binaryForward, unaryForward, unaryBackward, sumReduce, fill).
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { attachGrad } from '../autograd.js';
import {
  broadcastShapes, broadcastStrides, contiguousStrides, normDim, sameShape, shapeStr, type Shape,
} from '../shape.js';

/** Codes of common/kernels/elementwise.h BinaryOp, in order. */
export const BINARY_OPS = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'] as const;
/** Codes of common/kernels/elementwise.h UnaryOp, in order. */
export const UNARY_OPS = [
  'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'relu', 'sigmoid', 'tanh',
  'leakyRelu', 'scale', 'addScalar', 'powScalar', 'square', 'reciprocal',
] as const;
type UnaryName = (typeof UNARY_OPS)[number];
type BinaryName = (typeof BINARY_OPS)[number];

function checkDevices(op: string, ...ts: Tensor[]): void {
  const d = ts[0]!.device;
  for (const t of ts) if (t.device !== d) throw new Error(`${op}: tensors are on different devices (${d} and ${t.device})`);
}

function binaryRaw(name: BinaryName, a: Tensor, b: Tensor): Tensor {
  checkDevices(name, a, b);
  const shape = broadcastShapes(name, a.shape, b.shape);
  const out = Tensor.empty(shape, a.device);
  native.binaryForward(BINARY_OPS.indexOf(name), a.storage, b.storage, out.storage, shape,
    broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape));
  return out;
}

function unaryRaw(name: UnaryName, x: Tensor, alpha = 0): Tensor {
  const y = Tensor.empty(x.shape, x.device);
  native.unaryForward(UNARY_OPS.indexOf(name), x.storage, y.storage, alpha);
  return y;
}

/** Sums a broadcast gradient back to `shape` (the reverse of broadcasting); always a new tensor. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g.clone();
  const off = g.ndim - shape.length;
  const mask = g.shape.map((d, i) => (i < off || (shape[i - off] === 1 && d !== 1) ? 1 : 0));
  const out = Tensor.empty(shape, g.device);
  native.sumReduce(g.storage, out.storage, g.shape, mask);
  return out;
}

/** Whether an input of an op needs a gradient (a leaf that requires it, or a computed tensor). */
function wantsGrad(t: Tensor): boolean {
  return t.requiresGrad || t.gradNode !== null;
}

function toTensor(v: Tensor | number, like: Tensor): Tensor {
  return typeof v === 'number' ? Tensor.scalar(v, like.device) : v;
}

export function add(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') return addScalar(a, b);
  const out = binaryRaw('add', a, b);
  return attachGrad(out, 'add', [a, b], (g) => [wantsGrad(a) ? sumTo(g, a.shape) : null, wantsGrad(b) ? sumTo(g, b.shape) : null]);
}

export function sub(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') return addScalar(a, -b);
  const out = binaryRaw('sub', a, b);
  return attachGrad(out, 'sub', [a, b], (g) => [wantsGrad(a) ? sumTo(g, a.shape) : null, wantsGrad(b) ? sumTo(unaryRaw('neg', g), b.shape) : null]);
}

export function mul(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') return scale(a, b);
  const out = binaryRaw('mul', a, b);
  return attachGrad(out, 'mul', [a, b], (g) => [
    wantsGrad(a) ? sumTo(binaryRaw('mul', g, b), a.shape) : null,
    wantsGrad(b) ? sumTo(binaryRaw('mul', g, a), b.shape) : null,
  ]);
}

export function div(a: Tensor, b: Tensor | number): Tensor {
  if (typeof b === 'number') return scale(a, 1 / b);
  const out = binaryRaw('div', a, b);
  return attachGrad(out, 'div', [a, b], (g) => {
    const ga = sumTo(binaryRaw('div', g, b), a.shape);
    // d(a/b)/db = -a/b^2 = -out/b
    const t = binaryRaw('div', binaryRaw('mul', g, out), b);
    return [ga, sumTo(unaryRaw('neg', t), b.shape)];
  });
}

export function minimum(a: Tensor, b: Tensor | number): Tensor {
  return neg(maximum(neg(a), typeof b === 'number' ? -b : neg(b)));
}

export function maximum(a: Tensor, b: Tensor | number): Tensor {
  const bt = toTensor(b, a);
  const out = binaryRaw('maximum', a, bt);
  return attachGrad(out, 'maximum', [a, bt], (g) => {
    const maskA = stepGE(a, bt);
    const maskB = unaryRaw('addScalar', unaryRaw('neg', maskA), 1);
    return [sumTo(binaryRaw('mul', g, maskA), a.shape), sumTo(binaryRaw('mul', g, maskB), bt.shape)];
  });
}

/** 1 where a >= b else 0 (broadcast), computed as relu-free arithmetic on the native kernels. */
function stepGE(a: Tensor, b: Tensor): Tensor {
  const d = binaryRaw('sub', a, b);
  const y = Tensor.empty(d.shape, d.device);
  // derivative of leaky relu with slope 0 is exactly the step function x >= 0
  native.unaryBackward(UNARY_OPS.indexOf('leakyRelu'), d.storage, null, Tensor.ones(d.shape, d.device).storage, y.storage, 0);
  return y;
}

function unary(name: UnaryName, x: Tensor, alpha = 0): Tensor {
  const y = unaryRaw(name, x, alpha);
  const code = UNARY_OPS.indexOf(name);
  return attachGrad(y, name, [x], (g) => {
    const gx = Tensor.empty(x.shape, x.device);
    native.unaryBackward(code, x.storage, y.storage, g.storage, gx.storage, alpha);
    return [gx];
  });
}

export const neg = (x: Tensor) => unary('neg', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
export const abs = (x: Tensor) => unary('abs', x);
export const relu = (x: Tensor) => unary('relu', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const square = (x: Tensor) => unary('square', x);
export const reciprocal = (x: Tensor) => unary('reciprocal', x);
export const leakyRelu = (x: Tensor, slope = 0.01) => unary('leakyRelu', x, slope);
export const scale = (x: Tensor, s: number) => unary('scale', x, s);
export const addScalar = (x: Tensor, s: number) => unary('addScalar', x, s);
export const pow = (x: Tensor, p: number) => unary('powScalar', x, p);

/** Sum over the given dims (all when omitted). */
export function sum(x: Tensor, dims?: number | readonly number[], keepDim = false): Tensor {
  const list = dims === undefined ? x.shape.map((_, i) => i) : (typeof dims === 'number' ? [dims] : dims).map((d) => normDim('sum', d, x.ndim));
  const mask = x.shape.map((_, i) => (list.includes(i) ? 1 : 0));
  const keptShape = x.shape.map((d, i) => (mask[i] ? 1 : d));
  const outShape = keepDim ? keptShape : x.shape.filter((_, i) => !mask[i]);
  const out = Tensor.empty(outShape, x.device);
  native.sumReduce(x.storage, out.storage, x.shape, mask);
  return attachGrad(out, 'sum', [x], (g) => [expandRaw(g, keptShape, x.shape)]);
}

export function mean(x: Tensor, dims?: number | readonly number[], keepDim = false): Tensor {
  const s = sum(x, dims, keepDim);
  const count = x.numel / Math.max(1, s.numel);
  return scale(s, 1 / count);
}

/** Copies g (of shape `from`, with 1s on broadcast dims) into a contiguous tensor of shape `to`. */
function expandRaw(g: Tensor, from: Shape, to: Shape): Tensor {
  const out = Tensor.empty(to, g.device);
  native.stridedCopy(g.storage, 0, out.storage, 0, to, broadcastStrides(from, to), contiguousStrides(to), false);
  return out;
}

/** Broadcasts x to a larger shape (a contiguous copy). */
export function expand(x: Tensor, shape: Shape): Tensor {
  const target = broadcastShapes('expand', x.shape, shape);
  if (!sameShape(target, shape)) throw new Error(`expand: cannot expand ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
  const out = expandRaw(x, x.shape.length === shape.length ? x.shape : [...new Array(shape.length - x.ndim).fill(1), ...x.shape], shape);
  return attachGrad(out, 'expand', [x], (g) => [sumTo(g, x.shape)]);
}
