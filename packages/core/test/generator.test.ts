import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, expect } from 'vitest';
import { Tensor, native, noGrad, tidy, Rng } from '../src/index.js';
import { StyleGAN2Generator, STYLEGAN2_FFHQ_1024, stylegan2ConfigFromJson } from '../src/models/stylegan2.js';
import type { SafetensorsFile } from '../src/io/safetensors.js';
import { expectClose, fixtureCases, fixturesDir, get, loadFixture, toTensor } from './helpers.js';

interface GenMeta {
  arch: string; size: number; style_dim: number; n_mlp: number; channels: Record<string, number>; lr_mlp: number; n_latent: number;
}

function buildSmall(f: SafetensorsFile): StyleGAN2Generator {
  const meta = fixtureCases<{ model: GenMeta }>(f).model;
  const g = new StyleGAN2Generator(stylegan2ConfigFromJson(meta as unknown as Record<string, unknown>));
  expect(g.nLatent).toBe(meta.n_latent);
  const state = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [k, t] of f.tensors) if (k.startsWith('param.')) state.set(k.slice('param.'.length), t);
  g.loadStateDict(state);
  return g;
}

function zeroGrads(ts: Tensor[]): void {
  for (const t of ts) { t.grad?.release(); t.grad = null; }
}

describe('StyleGAN2 generator (rosinality layout)', () => {
  const f = loadFixture('generator_small.safetensors');

  for (const mode of ['eval', 'train'] as const) {
    it(`${mode}: synthesis (stored noise) and mapping match the fixture, with input and parameter gradients`, () => {
      const g = buildSmall(f);
      if (mode === 'eval') g.eval(); else g.train();
      const params = new Map(g.namedParameters());
      tidy(() => {
        const wPlus = toTensor(get(f, 'input.w_plus'), true);
        const z = toTensor(get(f, 'input.z'), true);
        const out0 = g.synthesis(wPlus, { noise: 'stored' });
        expectClose(out0, get(f, `${mode}.out0`), 1e-3, `${mode} out0`);
        out0.backward(toTensor(get(f, `${mode}.grad_out0`)));
        const out1 = g.mapping(z);
        expectClose(out1, get(f, `${mode}.out1`), 1e-3, `${mode} out1`);
        out1.backward(toTensor(get(f, `${mode}.grad_out1`)));
        expectClose(wPlus.grad!, get(f, `${mode}.grad_input.w_plus`), 5e-3, `${mode} grad w_plus`);
        expectClose(z.grad!, get(f, `${mode}.grad_input.z`), 5e-3, `${mode} grad z`);
        const prefix = `${mode}.grad_param.`;
        let checked = 0;
        for (const [k, ref] of f.tensors) {
          if (!k.startsWith(prefix)) continue;
          const name = k.slice(prefix.length);
          const p = params.get(name);
          expect(p, `parameter ${name}`).toBeDefined();
          expect(p!.grad, `gradient of ${name}`).not.toBeNull();
          expectClose(p!.grad!, ref, 5e-3, `${mode} grad ${name}`);
          checked++;
        }
        // every trainable parameter has a stored gradient
        expect(checked).toBe(params.size);
      });
      zeroGrads(g.parameters());
      g.release();
    });
  }

  it('parameter names and shapes match the full-size manifests (FFHQ 1024 and 256, channel multiplier 2)', () => {
    const manifests = JSON.parse(fs.readFileSync(path.join(fixturesDir(), 'manifests.json'), 'utf8')) as Record<string, { params: number; tensors: Record<string, number[]> }>;
    const entries = [
      [Object.keys(manifests).find((k) => k.startsWith('stylegan2_ffhq_1024'))!, STYLEGAN2_FFHQ_1024, 18],
      [Object.keys(manifests).find((k) => k.startsWith('stylegan2_256'))!, { ...STYLEGAN2_FFHQ_1024, size: 256 }, 14],
    ] as const;
    for (const [key, config, nLatent] of entries) {
      const m = manifests[key]!;
      const g = new StyleGAN2Generator(config);
      expect(g.nLatent).toBe(nLatent);
      const ours = new Map([...g.stateDict()].map(([n, t]) => [n, [...t.shape]]));
      const theirs = new Map(Object.entries(m.tensors));
      expect([...ours.keys()].filter((k) => !theirs.has(k)), `${key}: names not in the manifest`).toEqual([]);
      expect([...theirs.keys()].filter((k) => !ours.has(k)), `${key}: manifest names missing`).toEqual([]);
      for (const [n, s] of theirs) expect(ours.get(n), `${key}: shape of ${n}`).toEqual(s);
      expect(g.numParameters()).toBe(m.params);
      g.release();
    }
  });

  it('random noise, mean latent, truncation and generate() have the right shapes; stored noise is deterministic', () => {
    const g = buildSmall(f);
    tidy(() => noGrad(() => {
      const wPlus = toTensor(get(f, 'input.w_plus'));
      const a = g.synthesis(wPlus, { noise: 'random', rng: new Rng(1) });
      const b = g.synthesis(wPlus, { noise: 'random', rng: new Rng(1) });
      const c = g.synthesis(wPlus, { noise: 'random', rng: new Rng(2) });
      expect(a.shape).toEqual([2, 3, 32, 32]);
      expect([...a.toArray()]).toEqual([...b.toArray()]);
      expect([...a.toArray()]).not.toEqual([...c.toArray()]);
      const explicit = g.synthesis(wPlus, { noise: g.noises.items });
      expectClose(explicit, get(f, 'eval.out0'), 1e-3, 'explicit noise list');
      const mean = g.meanLatent(3000, new Rng(3), 1000);
      expect(mean.shape).toEqual([32]);
      const ref = g.mapping(new Rng(3).randn([3000, 32])).toArray();
      const expected = new Float32Array(32);
      for (let i = 0; i < 3000; i++) for (let j = 0; j < 32; j++) expected[j]! += ref[i * 32 + j]! / 3000;
      expectClose(mean, expected, 1e-4, 'mean latent');
      const w = g.mapping(new Rng(4).randn([2, 32]));
      const t0 = g.truncation(w, 0, mean).toArray();
      for (let i = 0; i < 2; i++) for (let j = 0; j < 32; j++) expect(t0[i * 32 + j]).toBeCloseTo(mean.toArray()[j]!, 5);
      const img = g.generate(new Rng(4).randn([2, 32]), { truncation: 0.7, truncationLatent: mean });
      expect(img.shape).toEqual([2, 3, 32, 32]);
    }));
    g.release();
  });

  it('inference frees every intermediate as it goes (only the image stays alive)', () => {
    const g = buildSmall(f);
    const wPlus = toTensor(get(f, 'input.w_plus'));
    wPlus.persistent = true;
    const before = native.memory().liveStorages;
    for (const noise of ['stored', 'random'] as const) {
      const img = noGrad(() => g.synthesis(wPlus, { noise }));
      expect(native.memory().liveStorages).toBe(before + 1);
      img.release();
    }
    // frozen generator, gradient only to W+ (the encoder's case): nothing leaks after the step's scope
    g.freeze();
    const w = toTensor(get(f, 'input.w_plus'), true);
    w.persistent = true;
    for (let i = 0; i < 3; i++) {
      tidy(() => {
        const img = g.synthesis(w);
        img.backward(Tensor.ones(img.shape));
      });
      zeroGrads([w]);
    }
    // w, and one kept copy of each frozen upsampling layer's weight in the transposed layout
    // (made by the first step, reused by the others)
    const upsampling = g.convs.items.filter((c) => c.conv.opts.upsample).length;
    expect(upsampling).toBeGreaterThan(0);
    expect(native.memory().liveStorages).toBe(before + 1 + upsampling);
    expect(g.parameters().every((p) => p.grad === null)).toBe(true);
    // unfrozen, the copies go (the weights may change) and nothing else stays
    g.freeze(false);
    tidy(() => { noGrad(() => g.synthesis(w)); });
    expect(native.memory().liveStorages).toBe(before + 1);
    w.release();
    wPlus.release();
    g.release();
  });

  it('random noise with trainable noise weights: the drawn noise reaches their gradients', () => {
    const g = buildSmall(f);
    tidy(() => {
      const wPlus = toTensor(get(f, 'input.w_plus'), true);
      const grads = (seed: number) => {
        zeroGrads(g.parameters());
        const img = g.synthesis(wPlus, { noise: 'random', rng: new Rng(seed) });
        img.backward(toTensor(get(f, 'eval.grad_out0')));
        return g.convs.items.map((c) => c.noise.weight.grad!.item());
      };
      const a = grads(5), b = grads(5), c = grads(6);
      expect(a).toEqual(b);
      expect(a).not.toEqual(c);
      // the same noise given explicitly gives the same gradients
      zeroGrads(g.parameters());
      const img = g.synthesis(wPlus, { noise: g.makeNoise(2, new Rng(5)) });
      img.backward(toTensor(get(f, 'eval.grad_out0')));
      expect(g.convs.items.map((cv) => cv.noise.weight.grad!.item())).toEqual(a);
    });
    zeroGrads(g.parameters());
    g.release();
  });

  it('rejects a W+ of the wrong shape', () => {
    const g = buildSmall(f);
    expect(() => g.synthesis(Tensor.zeros([2, 7, 32]))).toThrow(/W\+ must be \[B, 8, 32\]/);
    expect(() => new StyleGAN2Generator({ size: 48, styleDim: 8, nMlp: 1 })).toThrow(/power of two/);
    g.release();
  });
});
