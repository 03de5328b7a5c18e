// A micro inversion config (32x32 generator, tiny encoder, 2 stages) with checkpoints written
// straight from its seeded weights, and a few small face images: what the application tests run on
// in seconds. Untrained weights are enough to check the applications' algebra and files.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { buildExperiment, loadConfig, renderedFaces, writeCheckpoint, writeImageGrid, FACE_SEEDS } from '@sgi/experiment';
import { Inverter } from '../src/index.js';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sgi-apps-${prefix}-`));
}

/** Writes the micro config (2 stages) and its checkpoint; returns the config file and the checkpoint. */
export function microInversion(dir: string, name = 'apps-micro'): { config: string; checkpoint: string } {
  const base = {
    seed: 7,
    generator: { size: 32, styleDim: 16, nMlp: 2, channels: { 4: 16, 8: 16, 16: 8, 32: 8 }, randomInit: true, meanLatentSamples: 64 },
    encoder: { widths: [8, 8, 16], units: [1, 1, 1], head: '3E', pools: [3, 3, 3], inputSize: 32 },
    loss: { l2: 1, lpips: 0, id: 0, parsing: 0 },
    data: { kind: 'facesjs' },
    train: { steps: 2, batchSize: 2, valImages: 2 },
  };
  const write = (file: string, stages: number, previousStages: string[]) => {
    fs.writeFileSync(file, stringify({ ...base, name: `${name}-${stages}`, stages, previousStages, runDir: path.join(dir, 'runs', `${name}-${stages}`) }));
    const exp = buildExperiment(loadConfig(file), { runsRoot: dir });
    const checkpoint = path.join(dir, 'runs', `${name}-${stages}`, 'checkpoints', 'best.safetensors');
    writeCheckpoint(checkpoint, exp.model.stateDict(), new Map(), { step: 2, stage: stages, configHash: 'micro', config: '{}', rng: [] });
    exp.model.release();
    return checkpoint;
  };
  const stage1 = write(path.join(dir, `${name}-1.yaml`), 1, []);
  const config = path.join(dir, `${name}.yaml`);
  const checkpoint = write(config, 2, [stage1]);
  return { config, checkpoint };
}

/** `count` held-out faces of the built-in world as 32x32 PNG files in `dir`. */
export async function microFaces(dir: string, count: number, size = 32): Promise<string[]> {
  const data = await renderedFaces(FACE_SEEDS.demo, count, size);
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `face${i}.png`);
    await writeImageGrid(file, [{ data, offset: i * 3 * size * size }], size, 1);
    files.push(file);
  }
  return files;
}

/** The bits of a float array (to compare results bit for bit, -0 and NaN included). */
export const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** What most application tests start from: a fresh folder, the micro inverter and `count` micro faces read at its size. */
export async function microSession(prefix: string, count: number): Promise<{ dir: string; inv: Inverter; faces: string[]; imgs: Float32Array[] }> {
  const dir = tempDir(prefix);
  const { config } = microInversion(dir);
  const inv = Inverter.load(config, { runsRoot: dir });
  const faces = await microFaces(dir, count);
  const imgs = await Promise.all(faces.map((f) => inv.readImage(f)));
  return { dir, inv, faces, imgs };
}
