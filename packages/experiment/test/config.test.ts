import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, ConfigError, configHash, learningRateAt, resolvedConfig, TrainSchema } from '../src/index.js';
import { microConfig, tempDir } from './micro.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Every experiment config under configs/ (not the base files others extend). */
function shippedConfigs(): string[] {
  return fs.readdirSync(path.join(repo, 'configs'), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f) && !path.basename(f).startsWith('base.'))
    .map((f) => path.join(repo, 'configs', f));
}

describe('experiment configs', () => {
  it('every shipped config parses (paper configs without their weight files)', () => {
    const files = shippedConfigs();
    expect(files.length).toBeGreaterThanOrEqual(20);
    for (const f of files) {
      const c = loadConfig(f, { checkFiles: false });
      expect(c.name, f).toBeTruthy();
      expect(c.previousStages.length, f).toBe(c.stages - 1);
    }
  });

  it('the tiny config validates with its files and inherits from base', () => {
    const c = loadConfig(path.join(repo, 'configs/tiny/stage2.yaml'));
    expect(c.name).toBe('tiny-stage2');
    expect(c.generator.size).toBe(64);
    expect(c.stages).toBe(2);
    expect(path.isAbsolute(c.previousStages[0]!)).toBe(true);
  });

  it('names an unknown key, a wrong type and the file', () => {
    const dir = tempDir('cfg');
    const f1 = microConfig(dir, 'bad1', { train: { stepz: 3 } });
    expect(() => loadConfig(f1)).toThrow(/bad1\.yaml: invalid config[\s\S]*train: unknown key\(s\) 'stepz'/);
    const f2 = microConfig(dir, 'bad2', { seed: 'zero' });
    expect(() => loadConfig(f2)).toThrow(/bad2\.yaml[\s\S]*seed: .*number/i);
    const f3 = microConfig(dir, 'bad3', { encoder: { head: '4E' } });
    expect(() => loadConfig(f3)).toThrow(/encoder\.head/);
  });

  it('names a missing file and the key that points to it', () => {
    const dir = tempDir('cfg');
    const f = microConfig(dir, 'missing', { generator: { size: 32, checkpoint: 'nowhere/g.pt' } });
    expect(() => loadConfig(f)).toThrow(/generator\.checkpoint: .*nowhere\/g\.pt/);
    const g = microConfig(dir, 'nodata', { data: { kind: 'folder', path: 'no/such/folder' } });
    expect(() => loadConfig(g)).toThrow(/data\.path: .*no\/such\/folder/);
    expect(() => loadConfig(path.join(dir, 'absent.yaml'))).toThrow(ConfigError);
  });

  it('hashes configs so a resumed run can check it has the same one', () => {
    const dir = tempDir('cfg');
    const a = loadConfig(microConfig(dir, 'h1'));
    const b = loadConfig(microConfig(dir, 'h1'));
    const c = loadConfig(microConfig(dir, 'h1', { seed: 4 }));
    expect(configHash(a)).toBe(configHash(b));
    expect(configHash(a)).not.toBe(configHash(c));
  });

  it('a missing loss weight file is an error before training, naming its key', () => {
    const dir = tempDir('cfg');
    const f = microConfig(dir, 'lossw', { loss: { l2: 1, lpips: { weight: 0.8, linear: 'gone/lpips.pth' }, id: 0, parsing: 0 } });
    expect(() => loadConfig(f)).toThrow(/loss\.lpips\.linear: .*gone\/lpips\.pth[\s\S]*pretrained\//);
    const g = microConfig(dir, 'idw', { loss: { l2: 1, lpips: 0, id: { weight: 0.5, checkpoint: 'gone/ir_se50.pth' }, parsing: 0 } });
    expect(() => loadConfig(g)).toThrow(/loss\.id\.checkpoint: .*gone\/ir_se50\.pth/);
  });

  it('the hash ignores where the workspace lies, the run folder, the step count and the lr ramp-down', () => {
    const copies = [tempDir('ws-a'), tempDir('ws-b')].map((ws) => {
      fs.writeFileSync(path.join(ws, 'nx.json'), '{}');
      fs.cpSync(path.join(repo, 'configs'), path.join(ws, 'configs'), { recursive: true });
      fs.cpSync(path.join(repo, 'pretrained'), path.join(ws, 'pretrained'), { recursive: true });
      return loadConfig(path.join(ws, 'configs/tiny/stage2.yaml'));
    });
    expect(copies[0]!.previousStages[0]).not.toBe(copies[1]!.previousStages[0]);
    expect(configHash(copies[0]!)).toBe(configHash(copies[1]!));
    const longer = structuredClone(copies[0]!);
    longer.train.steps *= 2;
    longer.runDir = '/elsewhere/run';
    longer.train.lrRampDown = 0.25;
    expect(configHash(longer)).toBe(configHash(copies[0]!));
    longer.train.lr *= 2;
    expect(configHash(longer)).not.toBe(configHash(copies[0]!));
    // a retrained generator (same path, other bytes) is another experiment: no resume onto it
    const before = configHash(copies[1]!);
    const gen = copies[1]!.generator.checkpoint!;
    const bytes = fs.readFileSync(gen);
    bytes[bytes.length - 1] ^= 1;
    fs.writeFileSync(gen, bytes);
    fs.utimesSync(gen, new Date(), new Date(Date.now() + 5000));
    expect(configHash(copies[1]!)).not.toBe(before);
  });

  it('learningRateAt keeps train.lr, then ramps it down by a cosine to 0 at the last step', () => {
    const t = { lr: 0.01, steps: 1000 };
    expect(learningRateAt(t, 1)).toBe(0.01);
    expect(learningRateAt(t, 1000)).toBe(0.01);
    const r = { ...t, lrRampDown: 0.4 };
    expect(learningRateAt(r, 600)).toBe(0.01);
    expect(learningRateAt(r, 800)).toBeCloseTo(0.005, 12);
    expect(learningRateAt(r, 700)).toBeCloseTo(0.01 * (0.5 + 0.5 * Math.cos(Math.PI / 4)), 12);
    expect(learningRateAt(r, 1000)).toBeCloseTo(0, 12);
    for (let s = 601; s <= 1000; s++) expect(learningRateAt(r, s)).toBeLessThan(learningRateAt(r, s - 1));
    expect(() => TrainSchema.parse({ lrRampDown: 0 })).toThrow();
    expect(() => TrainSchema.parse({ lrRampDown: 1.5 })).toThrow();
  });

  it('every shipped config round-trips through the config.json a run stores (resume reads it back)', () => {
    const files = shippedConfigs();
    const dir = tempDir('roundtrip');
    let withExtends = 0;
    for (const [i, f] of files.entries()) {
      if (/^extends:/m.test(fs.readFileSync(f, 'utf8'))) withExtends++;
      const c = loadConfig(f, { checkFiles: false });
      const runDir = path.join(dir, `run${i}`);
      fs.mkdirSync(runDir);
      fs.writeFileSync(path.join(runDir, 'config.json'), JSON.stringify(resolvedConfig(c, runDir), null, 2));
      const back = loadConfig(path.join(runDir, 'config.json'), { checkFiles: false });
      expect(back, f).toEqual({ ...resolvedConfig(c, runDir) });
      expect(configHash(back), f).toBe(configHash(c));
    }
    expect(withExtends).toBeGreaterThanOrEqual(20);
  });
});
