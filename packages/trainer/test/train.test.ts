import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { native } from '@sgi/core';
import { loadConfig, readCheckpoint, listStepCheckpoints } from '@sgi/experiment';
import { train } from '../src/index.js';
import { microConfig, tempDir } from '../../experiment/test/micro.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const trainerBin = path.join(repo, 'packages/trainer/dist/main.js');

function finalWeights(file: string): Map<string, Float32Array> {
  return new Map([...readCheckpoint(file).model].map(([k, t]) => [k, t.data]));
}

describe('training', () => {
  it('lowers the loss and raises validation PSNR on the micro config', async () => {
    const dir = tempDir('train');
    const c = loadConfig(microConfig(dir, 'learn', { train: { optimizer: 'ranger', lr: 0.003, lrRampDown: 0.5, batchSize: 4, steps: 60, logEvery: 10, valEvery: 30, valImages: 8, checkpointEvery: 30, keepLast: 2 } }));
    const r = await train(c, { runsRoot: dir, quiet: true, tty: false });
    const lines = fs.readFileSync(path.join(r.runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const trainLoss = lines.filter((l) => l.kind === 'train').map((l) => l.loss as number);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(trainLoss.slice(-3))).toBeLessThan(mean(trainLoss.slice(0, 3)));
    const val = r.history;
    expect(val[0]!.step).toBe(0);
    expect(val[val.length - 1]!.psnr).toBeGreaterThan(val[0]!.psnr + 1);
    expect(fs.existsSync(path.join(r.runDir, 'checkpoints', 'best.safetensors'))).toBe(true);
    expect(fs.readdirSync(path.join(r.runDir, 'samples')).length).toBeGreaterThan(0);
    // every logged term is there
    expect(Object.keys(lines.find((l) => l.kind === 'train'))).toEqual(expect.arrayContaining(['l2', 'loss', 'lr', 'imagesPerSec']));
    // the lr the optimizer used: constant for the first half, then the cosine ramp-down to 0
    const lrs = lines.filter((l) => l.kind === 'train').map((l) => l.lr as number);
    expect(lrs.slice(0, 3)).toEqual([0.003, 0.003, 0.003]);
    expect(lrs[3]).toBeCloseTo(0.003 * (0.5 + 0.5 * Math.cos(Math.PI / 3)), 9);
    expect(lrs[5]).toBeCloseTo(0, 9);
  });

  it('a run killed with SIGKILL and resumed ends with the same weights as an uninterrupted run', async () => {
    const dir = tempDir('resume');
    const steps = { optimizer: 'ranger', lr: 0.003, batchSize: 2, steps: 24, logEvery: 4, valEvery: 100, valImages: 2, checkpointEvery: 8, keepLast: 3 };
    const straight = loadConfig(microConfig(dir, 'straight', { train: steps }));
    const a = await train(straight, { runsRoot: dir, quiet: true, tty: false });

    const killedFile = microConfig(dir, 'killed', { train: steps });
    const killed = loadConfig(killedFile);
    const runDir = killed.runDir!;
    // a real process, killed with SIGKILL once its step-8 checkpoint exists
    expect(fs.existsSync(trainerBin), `${trainerBin} is not built: run npx nx run trainer:build (npm test builds it)`).toBe(true);
    const child = spawn(process.execPath, [trainerBin, '--config', killedFile], { stdio: 'ignore', env: { ...process.env } });
    const deadline = Date.now() + 120_000;
    while (listStepCheckpoints(runDir).length === 0 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const survivors = listStepCheckpoints(runDir);
    expect(survivors.length).toBeGreaterThan(0);
    expect(readCheckpoint(survivors[survivors.length - 1]!).meta.step).toBeLessThan(24);
    const b = await train(killed, { runsRoot: dir, quiet: true, tty: false, resume: true });
    expect(b.step).toBe(24);
    // the log holds each step once: lines past the resumed checkpoint were dropped and re-run
    const logged = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.kind === 'train').map((l) => l.step);
    expect(new Set(logged).size).toBe(logged.length);
    expect(logged[logged.length - 1]).toBe(24);
    const wa = finalWeights(a.lastCheckpoint!), wb = finalWeights(b.lastCheckpoint!);
    expect([...wb.keys()]).toEqual([...wa.keys()]);
    for (const [k, v] of wa) expect(Buffer.from(wb.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
  });

  it('stops on a non-finite loss, naming the step, the term and the last good checkpoint', async () => {
    const dir = tempDir('nan');
    const c = loadConfig(microConfig(dir, 'diverge', { train: { optimizer: 'adam', lr: 1e30, batchSize: 2, steps: 40, logEvery: 1, valEvery: 100, valImages: 2, checkpointEvery: 1, keepLast: 1 } }));
    await expect(train(c, { runsRoot: dir, quiet: true, tty: false })).rejects.toThrow(/non-finite loss at step \d+ \(term.*l2.*\); last good checkpoint: .*step-\d+\.safetensors/);
  });

  it.skipIf(native.info().cuda.available)('device cuda where CUDA cannot run: the reason, and the run folder is not touched', async () => {
    const dir = tempDir('nocuda');
    const c = loadConfig(microConfig(dir, 'nocuda', { device: 'cuda' }));
    await expect(train(c, { runsRoot: dir, quiet: true, tty: false })).rejects.toThrow(/device 'cuda' was asked for but the CUDA backend cannot be used: .*Use --device cpu/);
    expect(fs.existsSync(c.runDir!)).toBe(false);
  });

  it('refuses to resume with a different config', async () => {
    const dir = tempDir('hash');
    const file = microConfig(dir, 'h', { train: { steps: 4, checkpointEvery: 2, valEvery: 100, valImages: 2, batchSize: 2, logEvery: 2 } });
    await train(loadConfig(file), { runsRoot: dir, quiet: true, tty: false });
    const changed = loadConfig(file);
    changed.train.lr = 0.5;
    await expect(train(changed, { runsRoot: dir, quiet: true, tty: false, resume: true })).rejects.toThrow(/different config/);
  });
});
