// sgi export --format onnx on the tiny configs (the shipped 64x64 face generator, encoders with
// seeded random weights and random BN statistics written as a checkpoint: parity needs no training).
// onnxruntime-node runs the written graphs and must give the engine's outputs within 1e-4 (max abs)
// at batch 1 and 3: every stage graph, the synthesis graph and the chained inversion graph.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MultiStageInversion, Encoder, Rng, Tensor, noGrad, onnx } from '@sgi/core';
import { buildGenerator, encoderConfig, loadConfig, writeCheckpoint } from '@sgi/experiment';
import { Inverter } from '@sgi/apps';
import { expectMatch, randomizeConstants, runOnnx } from '../../core/test/onnx.js';
import { repo, sgi } from './sgi.js';

/** A checkpoint of the config's model (every stage) with seeded random encoder weights and BN statistics. */
function randomCheckpoint(configFile: string, file: string): void {
  const c = loadConfig(configFile);
  const { generator, latentAvg } = buildGenerator(c, []);
  const stages = Array.from({ length: c.stages }, (_, i) => {
    const enc = new Encoder(encoderConfig(c, i + 1), { rng: new Rng(100 + i), inputSize: c.encoder.inputSize });
    randomizeConstants(enc, 200 + i);
    return enc;
  });
  const model = new MultiStageInversion(stages, generator, latentAvg, { residual: c.residual, inputSize: c.encoder.inputSize });
  writeCheckpoint(file, model.stateDict(), new Map(), { step: 0, stage: c.stages, configHash: 'onnx-test', config: '{}', rng: [] });
  model.release();
  generator.release();
}

interface Ours { x: Tensor; codes: Tensor[]; images: Tensor[] }

/** Our engine on a batch: the code of each stage and the generator's image of each code. */
function ours(inv: Inverter, batch: number, seed: number): Ours {
  const x = new Rng(seed).uniform([batch, 3, inv.size, inv.size], -1, 1);
  return noGrad(() => {
    const codes = inv.exp.model.forward(x).codes;
    return { x, codes, images: codes.map((w) => inv.exp.generator.synthesis(w)) };
  });
}

describe('sgi export --format onnx (tiny configs)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-export-'));
  });

  for (const name of ['stage2', 'stage2_noresidual']) {
    it(`configs/tiny/${name}.yaml: stage graphs, synthesis and the chained graph match the engine at batch 1 and 3`, async () => {
      const config = path.join(repo, `configs/tiny/${name}.yaml`);
      const checkpoint = path.join(dir, `${name}.safetensors`);
      randomCheckpoint(config, checkpoint);
      const parts = path.join(dir, name);
      const chain = path.join(dir, `${name}-inversion.onnx`);
      for (const out of [parts, chain]) {
        const r = sgi(['export', '--config', config, '--checkpoint', checkpoint, '--format', 'onnx', '--out', out]);
        expect(r.code, r.err).toBe(0);
        expect(r.out).toContain(out);
      }
      expect(fs.readdirSync(parts).sort()).toEqual(['stage1.onnx', 'stage2.onnx', 'synthesis.onnx']);
      const meta = onnx.decodeModel(fs.readFileSync(chain)).metadataProps;
      expect(meta).toContainEqual({ key: 'residual', value: String(name === 'stage2') });

      const inv = Inverter.load(config, { checkpoint });
      for (const batch of [1, 3]) {
        const o = ours(inv, batch, batch);
        const at = (g: string) => `${name} ${g}, batch ${batch}`;
        expectMatch((await runOnnx(path.join(parts, 'stage1.onnx'), { image: o.x })).code, o.codes[0]!, at('stage1'));
        expectMatch((await runOnnx(path.join(parts, 'synthesis.onnx'), { w_plus: o.codes[0]! })).image, o.images[0]!, at('synthesis'));
        const s2 = await runOnnx(path.join(parts, 'stage2.onnx'), { image: o.x, previous_image: o.images[0]!, previous_code: o.codes[0]! });
        expectMatch(s2.code, o.codes[1]!, at('stage2'));
        const all = await runOnnx(chain, { image: o.x });
        expectMatch(all.code_stage1, o.codes[0]!, at('chain code_stage1'));
        expectMatch(all.code_stage2, o.codes[1]!, at('chain code_stage2'));
        expectMatch(all.reconstruction, o.images[1]!, at('chain reconstruction'));
        for (const t of [o.x, ...o.codes, ...o.images]) t.release();
      }
    });
  }

  it('bad input: a clear error naming the file, the format or the folder', () => {
    const config = path.join(repo, 'configs/tiny/stage1.yaml');
    const missing = sgi(['export', '--config', config, '--checkpoint', path.join(dir, 'nope.safetensors'), '--out', path.join(dir, 'x')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`checkpoint not found: ${path.join(dir, 'nope.safetensors')}`);
    const format = sgi(['export', '--config', config, '--format', 'tflite', '--out', path.join(dir, 'x')]);
    expect(format.code).toBe(1);
    expect(format.err).toMatch(/Invalid values:\s+Argument: format, Given: "tflite", Choices: "onnx"/);
    const asDir = path.join(dir, 'folder.onnx');
    fs.mkdirSync(asDir, { recursive: true });
    const r = sgi(['export', '--config', config, '--checkpoint', path.join(dir, 'nope.safetensors'), '--out', asDir]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`--out ${asDir} is a folder`);
  });
});
