// The whole-network cases the benchmarks time: the encoder (forward, or forward+backward in train
// mode) and StyleGAN2 synthesis (forward, or forward+backward to W+ with the generator frozen),
// built on a given device with seeded random weights (speed does not depend on their values).
// core:bench (models.bench.ts) and the GPU check (scripts/gpu-check.mjs) both run these.
import { Tensor, type Device } from '../tensor.js';
import { Rng } from '../random.js';
import { noGrad } from '../autograd.js';
import { tidy } from '../scope.js';
import { Encoder, type EncoderConfig } from '../models/encoder.js';
import { StyleGAN2Generator, type StyleGAN2Config } from '../models/stylegan2.js';

export interface NetworkSetup {
  run: () => void;
  /** The forward pass's result on the host (inference cases: accuracy comparisons). */
  output?: () => Float32Array;
  release: () => void;
}

/** The encoder of `config` at input size `size` on a batch of random images. */
export function encoderCase(config: EncoderConfig, size: number, batch: number, train: boolean) {
  return (device: Device = 'cpu'): NetworkSetup & { encoder: Encoder; input: Tensor } => {
    const enc = new Encoder(config, { rng: new Rng(1), inputSize: size }).to(device);
    if (!train) enc.eval().freeze();
    const x = new Rng(2).randn([batch, 3, size, size], device);
    x.persistent = true;
    return {
      encoder: enc,
      input: x,
      output: train ? undefined : () => tidy(() => noGrad(() => enc.forward(x)).toArray()),
      run: () => tidy(() => {
        if (!train) { noGrad(() => enc.forward(x)); return; }
        const w = enc.forward(x);
        w.backward(Tensor.ones(w.shape, device));
        for (const p of enc.parameters()) { p.grad?.release(); p.grad = null; }
      }),
      release: () => { enc.release(); x.release(); },
    };
  };
}

/** StyleGAN2 synthesis of one random W+ (the generator frozen); with `backward`, the gradient to W+. */
export function generatorCase(options: StyleGAN2Config, backward: boolean) {
  return (device: Device = 'cpu'): NetworkSetup & { generator: StyleGAN2Generator; input: Tensor } => {
    const g = new StyleGAN2Generator({ seed: 1, ...options }).to(device).eval().freeze();
    const w = new Rng(3).randn([1, g.nLatent, g.styleDim], device, 0.5);
    w.persistent = true;
    w.requiresGrad = backward;
    return {
      generator: g,
      input: w,
      output: backward ? undefined : () => tidy(() => noGrad(() => g.synthesis(w)).toArray()),
      run: () => tidy(() => {
        if (!backward) { noGrad(() => g.synthesis(w)); return; }
        const img = g.synthesis(w);
        img.backward(Tensor.ones(img.shape, device));
        w.grad?.release();
        w.grad = null;
      }),
      release: () => { g.release(); w.release(); },
    };
  };
}
