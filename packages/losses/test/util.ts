// Shared helpers of the losses tests: fixture parameters as state dicts, sum(out * grad_out).
import { Tensor, ops, type HostTensor, type SafetensorsFile } from '@sgi/core';

/** Fixture entries `param.<name>` as a state dict keyed by <name>. */
export function paramsOf(f: SafetensorsFile, prefix = 'param.'): Map<string, HostTensor> {
  const m = new Map<string, HostTensor>();
  for (const [k, v] of f.tensors) if (k.startsWith(prefix)) m.set(k.slice(prefix.length), v);
  return m;
}

/** sum_i sum(outs[i] * weights[i]): the scalar whose gradients the fixtures store. */
export function weightedSum(outs: Tensor[], weights: Tensor[]): Tensor {
  let total: Tensor | null = null;
  outs.forEach((o, i) => {
    const t = ops.sum(ops.mul(o, weights[i]!));
    total = total ? ops.add(total, t) : t;
  });
  return total!;
}
