// Eval-mode inference with the per-channel layers folded into the convolutions: a BatchNorm after
// a convolution goes into its weights and bias, a BatchNorm before one becomes the input affine of
// ops.conv2dFused, a PReLU after one its epilogue, and on the CPU the Winograd transform of the
// weights is done once instead of every call. Modules use it when they are in eval
// mode, their parameters are frozen and no gradient is needed (canFuse); the IR-SE units do
// (models/irse.ts). Derived tensors are rebuilt after anything that may change the weights:
// loadStateDict, to(), train()/eval() and freeze() bump an epoch, and a replaced storage is seen.
import { native, type Storage } from '../native.js';
import { Tensor } from '../tensor.js';
import { needsGrad } from '../autograd.js';
import * as ops from '../ops/index.js';
import type { Module } from './module.js';
import type { BatchNorm, Conv2d } from './layers.js';

let epoch = 0;
/** Derived inference weights are stale after this (called by Module when weights may change). */
export function weightsMayHaveChanged(): void {
  epoch++;
}

/** Eval mode, every parameter frozen and no gradient wanted for x: the fused path gives the same values. */
export function canFuse(m: Module, x: Tensor): boolean {
  return !m.training && !needsGrad(x) && m.parameters().every((p) => !p.requiresGrad);
}

/** Tensors derived from a module's weights, kept until those weights may have changed. */
export class InferenceCache<T extends { release(): void }> {
  private value: T | null = null;
  private at = -1;
  private sources: Storage[] = [];

  get(sources: readonly Tensor[], build: () => T): T {
    if (this.value && this.at === epoch && sources.length === this.sources.length && sources.every((t, i) => t.storage === this.sources[i])) {
      return this.value;
    }
    this.release();
    this.value = build();
    this.at = epoch;
    this.sources = sources.map((t) => t.storage);
    return this.value;
  }

  release(): void {
    this.value?.release();
    this.value = null;
  }
}

/** The per-channel affine of an eval-mode BatchNorm: y = x * scale + shift. */
export function batchNormAffine(bn: BatchNorm): { scale: Float32Array; shift: Float32Array } {
  const eps = bn.opts.eps ?? 1e-5;
  const mean = bn.runningMean.toArray(), variance = bn.runningVar.toArray();
  const gamma = bn.weight?.toArray(), beta = bn.bias?.toArray();
  const scale = new Float32Array(bn.channels), shift = new Float32Array(bn.channels);
  for (let c = 0; c < bn.channels; c++) {
    scale[c] = (gamma ? gamma[c]! : 1) / Math.sqrt(variance[c]! + eps);
    shift[c] = (beta ? beta[c]! : 0) - mean[c]! * scale[c]!;
  }
  return { scale, shift };
}

const constant = (data: Float32Array, shape: readonly number[], device: Tensor['device']): Tensor => {
  const t = Tensor.fromArray(data, shape, device);
  t.persistent = true;
  return t;
};

/**
 * A convolution ready for inference: the BatchNorm that follows it (if any) folded into its
 * weights and bias, the Winograd weights prepared once (they serve every input shape that runs Winograd), and conv2dFused for the
 * per-channel operations around it.
 */
export class FusedConv {
  private readonly weight: Tensor;
  private readonly bias: Tensor | null;
  private readonly owned: Tensor[] = [];
  /** The Winograd weights (one set serves every input shape that runs Winograd), made on first use. */
  private prepared: Storage | null = null;
  /** Per input shape and CPU algorithm setting: whether the forward pass runs Winograd. */
  private readonly winograd = new Map<string, boolean>();

  constructor(private readonly conv: Conv2d, after: BatchNorm | null = null) {
    if (!after) {
      this.weight = conv.weight;
      this.bias = conv.bias;
      return;
    }
    const { scale, shift } = batchNormAffine(after);
    const w = conv.weight.toArray(), per = w.length / conv.outChannels;
    for (let k = 0; k < conv.outChannels; k++) for (let i = 0; i < per; i++) w[k * per + i]! *= scale[k]!;
    const b = conv.bias ? conv.bias.toArray() : new Float32Array(conv.outChannels);
    for (let k = 0; k < conv.outChannels; k++) b[k] = b[k]! * scale[k]! + shift[k]!;
    this.weight = constant(w, conv.weight.shape, conv.weight.device);
    this.bias = constant(b, [conv.outChannels], conv.weight.device);
    this.owned.push(this.weight, this.bias);
  }

  private get opts(): ops.Conv2dOptions {
    const o = this.conv.opts;
    return { stride: o.stride ?? 1, padding: o.padding ?? 0, groups: o.groups ?? 1 };
  }

  forward(x: Tensor, fusion: ops.ConvFusion = {}): Tensor {
    let prepared: Storage | null = null;
    if (x.device === 'cpu') {
      const key = `${x.shape.join('x')} ${native.conv2dAlgorithm()}`;
      if (!this.winograd.has(key)) this.winograd.set(key, ops.conv2dUsesWinograd(x.shape, this.weight, this.opts));
      if (this.winograd.get(key)) prepared = this.prepared ??= ops.conv2dPrepare(x.shape, this.weight, this.opts);
    }
    return ops.conv2dFused(x, this.weight, this.bias, fusion, this.opts, prepared);
  }

  release(): void {
    for (const t of this.owned) t.release();
    this.prepared?.release();
    this.prepared = null;
    this.winograd.clear();
  }
}

/** A per-channel vector as a persistent tensor on `device`. */
export function channelConstant(data: Float32Array, device: Tensor['device']): Tensor {
  return constant(data, [data.length], device);
}
