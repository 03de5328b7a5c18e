// Standard layers with PyTorch's parameter names and default initialisation
// (uniform +-1/sqrt(fan_in) for weights and biases), seeded by an Rng.
import { Module } from './module.js';
import { Tensor } from '../tensor.js';
import { Rng } from '../random.js';
import * as ops from '../ops/index.js';

export interface LayerInit {
  rng?: Rng;
}
const defaultRng = new Rng(0);

function uniformInit(rng: Rng, shape: number[], fanIn: number): Tensor {
  const bound = 1 / Math.sqrt(Math.max(1, fanIn));
  return rng.uniform(shape, -bound, bound);
}

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly opts: { stride?: number; padding?: number; groups?: number; bias?: boolean } & LayerInit = {},
  ) {
    super();
    const rng = opts.rng ?? defaultRng;
    const groups = opts.groups ?? 1;
    const fanIn = (inChannels / groups) * kernel * kernel;
    this.weight = this.param('weight', uniformInit(rng, [outChannels, inChannels / groups, kernel, kernel], fanIn));
    this.bias = opts.bias === false ? null : this.param('bias', uniformInit(rng, [outChannels], fanIn));
  }
  forward(x: Tensor): Tensor {
    return ops.conv2d(x, this.weight, this.bias, { stride: this.opts.stride ?? 1, padding: this.opts.padding ?? 0, groups: this.opts.groups ?? 1 });
  }
}

export class ConvTranspose2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number,
    readonly opts: { stride?: number; padding?: number; bias?: boolean } & LayerInit = {},
  ) {
    super();
    const rng = opts.rng ?? defaultRng;
    const fanIn = outChannels * kernel * kernel;
    this.weight = this.param('weight', uniformInit(rng, [inChannels, outChannels, kernel, kernel], fanIn));
    this.bias = opts.bias === false ? null : this.param('bias', uniformInit(rng, [outChannels], fanIn));
  }
  forward(x: Tensor): Tensor {
    return ops.convTranspose2d(x, this.weight, this.bias, { stride: this.opts.stride ?? 1, padding: this.opts.padding ?? 0 });
  }
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean } & LayerInit = {}) {
    super();
    const rng = opts.rng ?? defaultRng;
    this.weight = this.param('weight', uniformInit(rng, [outFeatures, inFeatures], inFeatures));
    this.bias = opts.bias === false ? null : this.param('bias', uniformInit(rng, [outFeatures], inFeatures));
  }
  forward(x: Tensor): Tensor {
    return ops.linear(x, this.weight, this.bias);
  }
}

/** BatchNorm2d / BatchNorm1d (same parameters; the op handles [N,C,H,W] and [N,C]). */
export class BatchNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;
  /** Synchronised batch norm: sums over the replicas of a data-parallel job (set by the trainer), null: per replica. */
  sync: ops.CrossReplicaSum | null = null;
  constructor(readonly channels: number, readonly opts: { eps?: number; momentum?: number; affine?: boolean } = {}) {
    super();
    const affine = opts.affine ?? true;
    this.weight = affine ? this.param('weight', Tensor.ones([channels])) : null;
    this.bias = affine ? this.param('bias', Tensor.zeros([channels])) : null;
    this.runningMean = this.buffer('running_mean', Tensor.zeros([channels]));
    this.runningVar = this.buffer('running_var', Tensor.ones([channels]));
    this.numBatchesTracked = this.buffer('num_batches_tracked', Tensor.zeros([]));
  }
  forward(x: Tensor): Tensor {
    return ops.batchNorm(x, this.weight, this.bias, this.runningMean, this.runningVar, {
      training: this.training,
      momentum: this.opts.momentum ?? 0.1,
      eps: this.opts.eps ?? 1e-5,
      sync: this.sync,
    });
  }
}

export class PReLU extends Module {
  readonly weight: Tensor;
  constructor(channels: number, init = 0.25) {
    super();
    this.weight = this.param('weight', Tensor.full([channels], init));
  }
  forward(x: Tensor): Tensor {
    return ops.prelu(x, this.weight);
  }
}

/** A parameter-free layer given as a function (ReLU, Flatten, Dropout in eval, MaxPool ...). */
export class Lambda extends Module {
  constructor(readonly fn: (x: Tensor) => Tensor, readonly label = 'lambda') {
    super();
  }
  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}

/**
 * Equalized-learning-rate linear layer (StyleGAN2 / pSp "EqualLinear"): weights stored as
 * randn / lrMul and scaled by lrMul / sqrt(in) at run time; bias stored / lrMul.
 * With activation 'fused_lrelu' it applies StyleGAN2's fused leaky ReLU (slope 0.2, gain sqrt 2).
 */
export class EqualLinear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly scale: number;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    readonly opts: { bias?: boolean; biasInit?: number; lrMul?: number; activation?: 'fused_lrelu' | null } & LayerInit = {},
  ) {
    super();
    const rng = opts.rng ?? defaultRng;
    const lrMul = opts.lrMul ?? 1;
    this.weight = this.param('weight', rng.randn([outFeatures, inFeatures], 'cpu', 1 / lrMul));
    this.bias = opts.bias === false ? null : this.param('bias', Tensor.full([outFeatures], opts.biasInit ?? 0));
    this.scale = lrMul / Math.sqrt(inFeatures);
  }
  forward(x: Tensor): Tensor {
    const lrMul = this.opts.lrMul ?? 1;
    const w = ops.scale(this.weight, this.scale);
    if (this.opts.activation === 'fused_lrelu') {
      const y = ops.linear(x, w, null);
      return ops.fusedLeakyRelu(y, this.bias ? ops.scale(this.bias, lrMul) : Tensor.zeros([this.outFeatures], x.device));
    }
    return ops.linear(x, w, this.bias ? (lrMul === 1 ? this.bias : ops.scale(this.bias, lrMul)) : null);
  }
}
