// Data-parallel training on 2 ranks (mpirun, 1 thread each): the same weights as one process at the
// global batch, identical weights on every rank after every step, a failing rank that stops the job,
// and SIGKILL + resume. CI installs Open MPI (.ci/run), so a missing mpirun or an addon without MPI
// is a failure here, not a skip.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Tensor, native, ops } from '@sgi/core';
import { listStepCheckpoints, loadConfig, readCheckpoint } from '@sgi/experiment';
import { FolderLoader, SINGLE_PROCESS, crossReplicaSum, initWorld, shardRange, train } from '../src/index.js';
import { microConfig, tempDir } from '../../experiment/test/micro.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const trainerBin = path.join(repo, 'packages/trainer/dist/main.js');

// what works in a container as root on a shared 2-core machine (see the README section)
const MPIRUN_ENV = { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_btl_vader_single_copy_mechanism: 'none' };

interface Job { code: number | null; signal: NodeJS.Signals | null; out: string; seconds: number }

/** `mpirun -np 2 sgi-train args...`; resolves when the job ends (or is killed through `onStart`'s handle). */
function mpirun(args: string[], env: Record<string, string> = {}, onStart?: (pid: number) => void): Promise<Job> {
  expect(fs.existsSync(trainerBin), `${trainerBin} is not built: run npx nx run trainer:build (npm test builds it)`).toBe(true);
  const t0 = Date.now();
  const child = spawn('mpirun', ['--oversubscribe', '--bind-to', 'none', '-np', '2', process.execPath, trainerBin, ...args], {
    env: { ...process.env, ...MPIRUN_ENV, ...env },
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  child.once('spawn', () => onStart?.(child.pid!));
  return new Promise((resolve, reject) => {
    child.once('error', (e) => reject(new Error(`cannot run mpirun (Open MPI: apt-get install openmpi-bin libopenmpi-dev): ${e.message}`)));
    child.once('close', (code, signal) => resolve({ code, signal, out, seconds: (Date.now() - t0) / 1000 }));
  });
}

const weights = (file: string) => new Map([...readCheckpoint(file).model].map(([k, t]) => [k, t.data]));
const trainSteps = (runDir: string) => fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n')
  .map((l) => JSON.parse(l) as { kind: string; step: number }).filter((l) => l.kind === 'train').map((l) => l.step);

const common = {
  optimizer: 'ranger', lr: 0.003, steps: 20, logEvery: 5, valEvery: 10, valImages: 4, checkpointEvery: 10, keepLast: 2,
  noise: 'stored', syncBatchNorm: true, threads: 1,
};

describe('data-parallel training', () => {
  it('the addon has the MPI collectives (CI installs Open MPI)', () => {
    const info = native.info();
    expect(info.mpi.compiled, `addon built without MPI: ${info.mpi.reason}`).toBe(true);
    expect(info.nccl.found === true || typeof info.nccl.reason === 'string').toBe(true);
  });

  it('a process no launcher started is a single process and touches no MPI', () => {
    expect(initWorld({})).toBe(SINGLE_PROCESS);
    expect(() => initWorld({ SLURM_PROCID: '0', SLURM_NTASKS: '2' })).toThrow(/srun --mpi=pmix/);
  });

  it('ranks take disjoint parts whose union is the single process\'s batch', () => {
    expect([0, 1, 2].map((r) => shardRange(7, r, 3))).toEqual([[0, 3], [3, 5], [5, 7]]);
    expect(shardRange(1, 0, 2)).toEqual([0, 1]);
    const files = Array.from({ length: 10 }, (_, i) => `f${i}.png`);
    const one = new FolderLoader(files, 8, 4, 5, true);
    const ranks = [0, 1].map((rank) => new FolderLoader(files, 8, 2, 5, true, { rank, ranks: 2 }));
    for (const step of [0, 1, 2, 7]) {
      const whole = one.filesAt(step);
      const parts = ranks.map((l) => l.filesAt(step));
      expect([...parts[0]!.files, ...parts[1]!.files]).toEqual(whole.files);
      expect([...parts[0]!.flips, ...parts[1]!.flips]).toEqual(whole.flips);
    }
  });

  it('synchronised BatchNorm on one replica is BatchNorm, forward and backward', () => {
    const x = Tensor.fromArray(Array.from({ length: 2 * 3 * 4 }, (_, i) => Math.sin(i * 1.7) * 2 + i * 0.05), [2, 3, 2, 2]).requireGrad();
    const w = Tensor.fromArray([1.5, -0.5, 2], [3]).requireGrad();
    const b = Tensor.fromArray([0.1, 0.2, -0.3], [3]).requireGrad();
    const gy = Tensor.fromArray(Array.from({ length: 24 }, (_, i) => Math.cos(i)), [2, 3, 2, 2]);
    const run = (sync: ops.CrossReplicaSum | null) => {
      const rm = Tensor.zeros([3]), rv = Tensor.ones([3]);
      const y = ops.batchNorm(x, w, b, rm, rv, { training: true, sync });
      y.backward(gy);
      const out = [y, x.grad!, w.grad!, b.grad!, rm, rv].map((t) => Array.from(t.toArray()));
      x.grad = null; w.grad = null; b.grad = null;
      return out;
    };
    // one replica: the cross-replica sum is the identity, with its gradient
    const plain = run(null), synced = run(crossReplicaSum(SINGLE_PROCESS));
    plain.forEach((p, i) => p.forEach((v, j) => expect(synced[i]![j]!, `output ${i} element ${j}`).toBeCloseTo(v, 5)));
  });

  it('2 ranks at batch 2 with syncBatchNorm end where 1 process at batch 4 does, with identical weights on every rank after every step', async () => {
    const dir = tempDir('dp');
    const single = await train(loadConfig(microConfig(dir, 'single', { train: { ...common, batchSize: 4 } })), { runsRoot: dir, quiet: true, tty: false });
    const dpFile = microConfig(dir, 'dp', { train: { ...common, batchSize: 2 } });
    const runDir = loadConfig(dpFile).runDir!;
    const trace = path.join(dir, 'trace');
    const job = await mpirun(['--config', dpFile], { SGI_DIST_TRACE: trace });
    expect(job.code, job.out).toBe(0);
    expect(job.out).toMatch(/world size 2: global batch 4 \(train.batchSize 2 per rank\), BatchNorm synchronised across ranks/);

    const a = weights(single.lastCheckpoint!), b = weights(path.join(runDir, 'checkpoints', 'step-00000020.safetensors'));
    expect([...a.keys()].some((k) => k.startsWith('stage1.') && k.endsWith('running_mean')), 'the micro encoder has BatchNorms').toBe(true);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, va] of a) {
      const vb = b.get(k)!;
      let diff = 0, mag = 0;
      for (let i = 0; i < va.length; i++) { diff = Math.max(diff, Math.abs(va[i]! - vb[i]!)); mag = Math.max(mag, Math.abs(va[i]!)); }
      expect(diff, k).toBeLessThanOrEqual(1e-4 * Math.max(mag, 1e-3));
    }
    // rank 0 alone writes: each logged step once
    expect(trainSteps(runDir)).toEqual([5, 10, 15, 20]);
    const ranks = [0, 1].map((r) => fs.readFileSync(path.join(trace, `rank-${r}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l)));
    expect(ranks[0]!.map((l) => l.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(ranks[1]).toEqual(ranks[0]);
  });

  it('a rank that throws stops every rank, naming itself', async () => {
    const dir = tempDir('dp-fail');
    const file = microConfig(dir, 'fail', { train: { ...common, batchSize: 2, steps: 200 } });
    const job = await mpirun(['--config', file], { SGI_TEST_FAIL: '1:3', SGI_DIST_TIMEOUT: '30' });
    expect(job.code, job.out).not.toBe(0);
    expect(job.out).toMatch(/error on rank 1 of 2: injected failure at step 3/);
    expect(job.seconds).toBeLessThan(30);
    expect(listStepCheckpoints(loadConfig(file).runDir!)).toEqual([]);
  });

  it('a 2-rank job killed with SIGKILL and resumed ends with the weights of an uninterrupted one', async () => {
    const dir = tempDir('dp-resume');
    const steps = { ...common, batchSize: 2, steps: 24, logEvery: 4, valEvery: 100, valImages: 2, checkpointEvery: 8, keepLast: 3, syncBatchNorm: false };
    const straightFile = microConfig(dir, 'straight', { train: steps });
    expect((await mpirun(['--config', straightFile])).code).toBe(0);

    const killedFile = microConfig(dir, 'killed', { train: steps });
    const runDir = loadConfig(killedFile).runDir!;
    let pid = 0;
    const job = mpirun(['--config', killedFile], {}, (p) => { pid = p; });
    const deadline = Date.now() + 60_000;
    while (listStepCheckpoints(runDir).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // the whole job at once: mpirun and its ranks
    const ranks = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean).map(Number);
    for (const p of [pid, ...ranks]) { try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ } }
    expect((await job).signal).toBe('SIGKILL');
    const survivors = listStepCheckpoints(runDir);
    expect(survivors.length).toBeGreaterThan(0);
    expect(readCheckpoint(survivors[survivors.length - 1]!).meta.step).toBeLessThan(24);

    const resumed = await mpirun(['--resume', runDir]);
    expect(resumed.code, resumed.out).toBe(0);
    expect(resumed.out).toMatch(/resumed .* from step \d+/);
    const logged = trainSteps(runDir);
    expect(new Set(logged).size).toBe(logged.length);
    expect(logged[logged.length - 1]).toBe(24);
    const wa = weights(path.join(loadConfig(straightFile).runDir!, 'checkpoints', 'step-00000024.safetensors'));
    const wb = weights(path.join(runDir, 'checkpoints', 'step-00000024.safetensors'));
    for (const [k, v] of wa) expect(Buffer.from(wb.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
  });
});
