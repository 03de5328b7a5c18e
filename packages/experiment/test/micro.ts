// A micro experiment (32x32 generator, 3-stage-wide encoder of a few thousand parameters) that
// trains in seconds, written to a temporary folder for the trainer tests.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sgi-${prefix}-`));
}

export function microConfig(dir: string, name: string, overrides: Record<string, unknown> = {}): string {
  const cfg = {
    name,
    seed: 3,
    generator: { size: 32, styleDim: 16, nMlp: 2, channels: { 4: 16, 8: 16, 16: 8, 32: 8 }, randomInit: true, meanLatentSamples: 64 },
    encoder: { widths: [8, 8, 16], units: [1, 1, 1], head: '3E', pools: [3, 3, 3], inputSize: 32 },
    loss: { l2: 1, lpips: 0, id: 0, parsing: 0 },
    data: { kind: 'synthetic', truncation: 0.7 },
    train: { optimizer: 'ranger', lr: 0.003, batchSize: 2, steps: 30, logEvery: 5, valEvery: 15, valImages: 4, checkpointEvery: 10, keepLast: 2, sampleEvery: 15 },
    runDir: path.join(dir, 'runs', name),
    ...overrides,
  };
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, stringify(cfg));
  return file;
}
