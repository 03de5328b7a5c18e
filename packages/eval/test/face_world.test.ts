// The face-world report end to end on the shipped face generator with small untrained encoder
// stages: generator fidelity, per-stage inversion, attribute edits measured by the shipped
// classifier, the picture; and the edit bookkeeping on known predictions.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { stringify } from 'yaml';
import { ATTRIBUTES } from '@sgi/faces';
import { buildExperiment, loadConfig, writeCheckpoint } from '@sgi/experiment';
import { faceWorldReport, measureEdit, readDirection } from '../src/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const pretrained = path.join(repo, 'pretrained/faces');

describe('the face-world report', () => {
  it('measures the shipped generator, two inversion stages and the edits, and draws the picture', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-world-'));
    const tiny = loadConfig(path.join(repo, 'configs/tiny/base.yaml'));
    const write = (stages: number, previousStages: string[]) => {
      const file = path.join(dir, `s${stages}.yaml`);
      fs.writeFileSync(file, stringify({
        name: `world-s${stages}`, seed: 1, stages, previousStages, generator: tiny.generator,
        encoder: { widths: [8, 8, 16], units: [1, 1, 1], head: '3E', pools: [3, 3, 3], inputSize: 64 },
        loss: { l2: 1, lpips: 0, id: 0, parsing: 0 }, data: { kind: 'facesjs' }, runDir: path.join(dir, 'runs', `s${stages}`),
      }));
      const exp = buildExperiment(loadConfig(file), { runsRoot: dir });
      const ck = path.join(dir, 'runs', `s${stages}`, 'checkpoints', 'best.safetensors');
      writeCheckpoint(ck, exp.model.stateDict(), new Map(), { step: 1, stage: stages, configHash: 'x', config: '{}', rng: [] });
      exp.model.release();
      return { file, ck };
    };
    const s1 = write(1, []);
    const s2 = write(2, [s1.ck]);
    const lines: string[] = [];
    const r = await faceWorldReport({
      stageConfigs: [s1.file, s2.file], runsRoot: dir, directions: path.join(pretrained, 'directions'), attributes: path.join(pretrained, 'attributes.safetensors'),
      count: 6, strength: 1.5, outDir: path.join(dir, 'out'), log: (l) => lines.push(l),
    });
    // the trained generator draws held-out faces far better than chance
    expect(r.generator.psnr).toBeGreaterThan(13);
    expect(r.stages.map((s) => s.config)).toEqual(['world-s1', 'world-s2']);
    expect(r.edits.map((e) => e.attribute)).toEqual(expect.arrayContaining(['glasses', 'facialHair', 'lightHair', 'darkSkin']));
    for (const e of r.edits) {
      expect(e.edited).toBe(6);
      expect(e.flipped).toBeGreaterThanOrEqual(0);
      expect(e.othersKept).toBeLessThanOrEqual(1);
    }
    const meta = await sharp(r.picture).metadata();
    expect([meta.width, meta.height]).toEqual([64 * 4, 64 * 6]); // input | stage 1 | stage 2 | glasses edit, 6 rows
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'out', 'face-world.json'), 'utf8')).stages).toHaveLength(2);
    expect(lines.some((l) => /^generator \(64x64\) on 6 held-out faces: PSNR/.test(l))).toBe(true);
  });

  it('counts flipped attributes and kept ones; refuses a direction of the wrong shape', () => {
    const A = ATTRIBUTES.length;
    const before = new Float32Array(2 * A).fill(0.1);
    const after = Float32Array.from(before);
    after[0] = 0.9; // face 0: glasses appear
    after[A + 1] = 0.9; // face 1: facial hair appears (another attribute changed)
    const e = measureEdit('glasses', before, after, 2);
    expect(e.flipped).toBe(0.5);
    expect(e.othersKept).toBeCloseTo((2 * (A - 1) - 1) / (2 * (A - 1)), 10);
    expect(() => readDirection(path.join(repo, 'pretrained/editing/age.npy'), 10, 64)).toThrow(/age\.npy: direction of shape \[18, 512\], but the generator's W\+ is \[10, 64\]/);
  });
});
