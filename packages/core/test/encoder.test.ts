// The inversion encoder against PyTorch: encoder_small (paper heads) and encoder_small_refine
// (6 input channels, the authors'-code heads with BN and 7x7 pools), eval and train mode, output
// and every gradient; full-size names/shapes/counts against manifests.json; checkpoint loading.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Encoder, PAPER_ENCODER, Rng, Tensor, loadTensors, noGrad, encoderStateFromCheckpoint, type EncoderConfig } from '../src/index.js';
import { expectClose, fixtureCases, fixturesDir, get, loadFixture } from './helpers.js';

interface EncoderMeta {
  in_ch: number; widths: number[]; units: number[]; latent_dim: number; split: number[]; pools: number[]; head_bn: boolean; se_reduction?: number;
}

function configFrom(meta: EncoderMeta): EncoderConfig {
  return {
    inChannels: meta.in_ch, widths: meta.widths, units: meta.units, latentDim: meta.latent_dim,
    nLatent: meta.split.reduce((a, b) => a + b, 0), head: '3E', split: meta.split, pools: meta.pools,
    headBn: meta.head_bn, seReduction: meta.se_reduction ?? 16,
  };
}

function params(file: string): Map<string, { shape: number[]; data: Float32Array }> {
  const f = loadFixture(file);
  return new Map([...f.tensors].filter(([k]) => k.startsWith('param.')).map(([k, t]) => [k.slice(6), t]));
}

/**
 * The fixtures' param.* hold the running statistics AFTER the train-mode pass, while eval.out0
 * was computed BEFORE it (num_batches_tracked is 1 in encoder_small.pth). Train mode normalises
 * with batch statistics B that do not depend on the running ones, so the statistics before that
 * pass are exact to recover: after = (1 - m) before + m B  =>  before = (after - m B) / (1 - m).
 * This also checks our running-statistics update (momentum 0.1, unbiased variance).
 */
function statsBeforeTrainPass(enc: Encoder, stored: Map<string, { shape: number[]; data: Float32Array }>, x: Tensor, m = 0.1) {
  enc.loadStateDict(stored);
  enc.train();
  noGrad(() => enc.forward(x));
  const after = enc.stateDict();
  const out = new Map(stored);
  for (const [k, t] of stored) {
    if (!k.endsWith('running_mean') && !k.endsWith('running_var')) continue;
    const ours = after.get(k)!.toArray(); // (1-m) stored + m B
    const batch = ours.map((v, i) => (v - (1 - m) * t.data[i]!) / m);
    out.set(k, { shape: t.shape, data: t.data.map((v, i) => (v - m * batch[i]!) / (1 - m)) });
  }
  return out;
}

for (const file of ['encoder_small.safetensors', 'encoder_small_refine.safetensors']) {
  describe(`encoder parity: ${file}`, () => {
    const f = loadFixture(file);
    const meta = fixtureCases<{ model: EncoderMeta }>(f).model;
    for (const mode of ['eval', 'train'] as const) {
      it(`${mode} mode: W+ and every gradient`, () => {
        const enc = new Encoder(configFrom(meta), { rng: new Rng(0), inputSize: get(f, 'input.x').shape[2] });
        const x = Tensor.fromArray(get(f, 'input.x').data, get(f, 'input.x').shape).requireGrad();
        enc.loadStateDict(mode === 'eval' ? statsBeforeTrainPass(enc, params(file), x) : params(file));
        enc.train(mode === 'train');
        const out = enc.forward(x);
        expectClose(out, get(f, `${mode}.out0`), 1e-3, `${mode}.out0`);
        out.backward(Tensor.fromArray(get(f, `${mode}.grad_out0`).data, out.shape));
        expectClose(x.grad!, get(f, `${mode}.grad_input.x`), 5e-3, 'grad x');
        let checked = 0;
        for (const [name, p] of enc.namedParameters()) {
          const key = `${mode}.grad_param.${name}`;
          if (!f.tensors.has(key)) continue;
          expectClose(p.grad!, get(f, key), 5e-3, key);
          checked++;
        }
        expect(checked).toBe(enc.parameters().length);
      });
    }
  });
}

describe('encoder checkpoints', () => {
  it('encoder_small.pth (PyTorch zip) loads and reproduces the safetensors outputs', () => {
    const f = loadFixture('encoder_small.safetensors');
    const meta = fixtureCases<{ model: EncoderMeta }>(f).model;
    const { tensors } = loadTensors(path.join(fixturesDir(), 'encoder_small.pth'));
    const enc = new Encoder(configFrom(meta), { rng: new Rng(5) });
    enc.loadStateDict(encoderStateFromCheckpoint(tensors));
    const x = Tensor.fromArray(get(f, 'input.x').data, get(f, 'input.x').shape);
    expectClose(enc.forward(x), get(f, 'train.out0'), 1e-3, 'train-mode out0 from .pth');
    enc.loadStateDict(statsBeforeTrainPass(enc, new Map([...encoderStateFromCheckpoint(tensors)].map(([k, t]) => [k, { shape: t.shape, data: t.data }])), x));
    enc.eval();
    expectClose(enc.forward(x), get(f, 'eval.out0'), 1e-3, 'eval-mode out0 from .pth');
  });

  it('pSp/E2Style checkpoints: the encoder. prefix is stripped, decoder weights ignored', () => {
    const m = new Map<string, { shape: number[]; data: Float32Array }>([
      ['encoder.input_layer.0.weight', { shape: [1], data: new Float32Array(1) }],
      ['decoder.conv1.conv.weight', { shape: [1], data: new Float32Array(1) }],
      ['latent_avg', { shape: [1], data: new Float32Array(1) }],
    ]);
    expect([...encoderStateFromCheckpoint(m).keys()]).toEqual(['input_layer.0.weight']);
  });

  it('strict loading lists missing, unexpected and mis-shaped names', () => {
    const enc = new Encoder(configFrom(fixtureCases<{ model: EncoderMeta }>(loadFixture('encoder_small.safetensors')).model));
    const state = params('encoder_small.safetensors');
    state.delete('body.0.res_layer.1.weight');
    state.set('bogus.weight', { shape: [1], data: new Float32Array(1) });
    state.set('input_layer.0.weight', { shape: [2, 2], data: new Float32Array(4) });
    expect(() => enc.loadStateDict(state)).toThrow(/missing keys: body\.0\.res_layer\.1\.weight.*unexpected keys: bogus\.weight.*shape mismatches: input_layer\.0\.weight/);
  });
});

describe('full-size encoders match manifests.json', () => {
  const manifests = JSON.parse(fs.readFileSync(path.join(fixturesDir(), 'manifests.json'), 'utf8')) as Record<string, { params: number; tensors: Record<string, number[]> }>;
  const variants: [string, EncoderConfig][] = [
    ['encoder_paper (3 heads 7/5/3, no head BN)', PAPER_ENCODER],
    ['encoder_paper_refine_stage (6 input channels)', { ...PAPER_ENCODER, inChannels: 6 }],
    ['encoder_authors_code (3 heads all 7x7 with BN)', { ...PAPER_ENCODER, pools: [7, 7, 7], headBn: true }],
  ];
  for (const [key, cfg] of variants) {
    it(key, () => {
      const man = manifests[key]!;
      const enc = new Encoder(cfg, { rng: new Rng(0) });
      const own = new Map([...enc.stateDict()].map(([k, t]) => [k, [...t.shape]]));
      expect([...own.keys()].sort()).toEqual(Object.keys(man.tensors).sort());
      for (const [k, shape] of Object.entries(man.tensors)) expect(own.get(k), k).toEqual(shape);
      expect(enc.numParameters()).toBe(man.params);
      enc.release();
    });
  }

  it('ablation variants land near the paper (Table 2/3)', () => {
    const count = (cfg: Partial<EncoderConfig>) => {
      const enc = new Encoder({ ...PAPER_ENCODER, ...cfg }, { rng: new Rng(0) });
      const n = enc.numParameters();
      enc.release();
      return n / 1e6;
    };
    expect(count({ widths: [64, 128], units: [3, 4], head: '1E' })).toBeCloseTo(59, -0.5);
    expect(count({ widths: [64, 128, 256, 512], units: [3, 4, 14, 3], head: '1E' })).toBeCloseTo(262, -0.5);
    expect(count({ head: '1E' })).toBeCloseTo(133, -0.5);
    const c18 = count({ head: '18C' });
    expect(c18).toBeGreaterThan(225);
    expect(c18).toBeLessThan(245);
    const fpn = count({ fpn: true });
    expect(fpn).toBeGreaterThan(93);
    expect(fpn).toBeLessThan(100);
  });
});
