import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, ConfigError, configHash } from '../src/index.js';
import { microConfig, tempDir } from './micro.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('experiment configs', () => {
  it('every shipped config parses (paper configs without their weight files)', () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const f of fs.readdirSync(d)) {
        const p = path.join(d, f);
        if (fs.statSync(p).isDirectory()) walk(p);
        else if (/\.ya?ml$/.test(f) && !f.startsWith('base.')) files.push(p);
      }
    };
    walk(path.join(repo, 'configs'));
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
});
