// Shape ops: reshape (a view), permute/transpose, slice, concat, flatten. All results are
// contiguous; copies go through the native stridedCopy kernel.
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { attachGrad } from '../autograd.js';
import { contiguousStrides, normDim, numelOf, shapeStr, type Shape } from '../shape.js';

/** Same data, new shape (one dimension may be -1). No copy. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = [...shape];
  const infer = s.indexOf(-1);
  if (infer >= 0) {
    const rest = numelOf(s.filter((_, i) => i !== infer));
    if (rest === 0 || x.numel % rest !== 0) throw new Error(`reshape: cannot reshape ${shapeStr(x.shape)} to ${shapeStr(shape)}`);
    s[infer] = x.numel / rest;
  }
  if (numelOf(s) !== x.numel) throw new Error(`reshape: cannot reshape ${shapeStr(x.shape)} (${x.numel} elements) to ${shapeStr(shape)}`);
  const out = x.view(s);
  return attachGrad(out, 'reshape', [x], (g) => [g.clone().view(x.shape)]);
}

export function flatten(x: Tensor, startDim = 1): Tensor {
  const d = normDim('flatten', startDim, x.ndim);
  return reshape(x, [...x.shape.slice(0, d), -1]);
}

function permuteRaw(x: Tensor, perm: readonly number[]): Tensor {
  const outShape = perm.map((p) => x.shape[p]!);
  const inStrides = contiguousStrides(x.shape);
  const out = Tensor.empty(outShape, x.device);
  native.stridedCopy(x.storage, 0, out.storage, 0, outShape, perm.map((p) => inStrides[p]!), contiguousStrides(outShape), false);
  return out;
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.ndim || [...perm].sort().some((p, i) => p !== i)) {
    throw new Error(`permute: ${shapeStr(perm)} is not a permutation of the ${x.ndim} dims of ${shapeStr(x.shape)}`);
  }
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return attachGrad(permuteRaw(x, perm), 'permute', [x], (g) => [permuteRaw(g, inverse)]);
}

export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  const a = normDim('transpose', d0, x.ndim), b = normDim('transpose', d1, x.ndim);
  const perm = x.shape.map((_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/** x[..., start:end, ...] along one dim (step 1). */
export function slice(x: Tensor, dim: number, start: number, end: number): Tensor {
  const d = normDim('slice', dim, x.ndim);
  const size = x.shape[d]!;
  if (!(0 <= start && start <= end && end <= size)) throw new Error(`slice: range ${start}:${end} is outside dim ${d} of size ${size}`);
  const outShape = x.shape.map((s, i) => (i === d ? end - start : s));
  const strides = contiguousStrides(x.shape);
  const out = Tensor.empty(outShape, x.device);
  native.stridedCopy(x.storage, start * strides[d]!, out.storage, 0, outShape, strides, contiguousStrides(outShape), false);
  return attachGrad(out, 'slice', [x], (g) => {
    const gx = Tensor.zeros(x.shape, x.device);
    native.stridedCopy(g.storage, 0, gx.storage, start * strides[d]!, outShape, contiguousStrides(outShape), strides, false);
    return [gx];
  });
}

/** Concatenates along one dim; all other dims must agree. */
export function cat(xs: readonly Tensor[], dim: number): Tensor {
  if (xs.length === 0) throw new Error('cat: no tensors given');
  const first = xs[0]!;
  const d = normDim('cat', dim, first.ndim);
  for (const t of xs) {
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i])) {
      throw new Error(`cat: shapes ${xs.map((t) => shapeStr(t.shape)).join(', ')} differ outside dim ${d}`);
    }
    if (t.device !== first.device) throw new Error('cat: tensors are on different devices');
  }
  const outShape = first.shape.map((s, i) => (i === d ? xs.reduce((a, t) => a + t.shape[d]!, 0) : s));
  const out = Tensor.empty(outShape, first.device);
  const outStrides = contiguousStrides(outShape);
  const offsets: number[] = [];
  let offset = 0;
  for (const t of xs) {
    offsets.push(offset);
    native.stridedCopy(t.storage, 0, out.storage, offset * outStrides[d]!, t.shape, contiguousStrides(t.shape), outStrides, false);
    offset += t.shape[d]!;
  }
  return attachGrad(out, 'cat', xs, (g) =>
    xs.map((t, k) => {
      const gt = Tensor.empty(t.shape, t.device);
      native.stridedCopy(g.storage, offsets[k]! * outStrides[d]!, gt.storage, 0, t.shape, outStrides, contiguousStrides(t.shape), false);
      return gt;
    }),
  );
}

/** Splits along one dim into pieces of the given sizes. */
export function split(x: Tensor, sizes: readonly number[], dim: number): Tensor[] {
  const d = normDim('split', dim, x.ndim);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== x.shape[d]) throw new Error(`split: sizes ${shapeStr(sizes)} do not add up to dim ${d} of ${shapeStr(x.shape)}`);
  let start = 0;
  return sizes.map((s) => {
    const t = slice(x, d, start, start + s);
    start += s;
    return t;
  });
}
