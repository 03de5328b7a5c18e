// Data-parallel training over processes (as PyTorch's DistributedDataParallel), on the addon's
// collectives (packages/native-cuda/src/napi/collectives.cc: Open MPI for CPU tensors, NCCL for CUDA
// tensors). A job started by a launcher (mpirun, or srun with PMIx/PMI) has one rank per process;
// anything else is a single process, and then nothing here touches MPI: every collective below
// returns at once and training runs exactly as it always did.
//
// What the loop (loop.ts) does with a World of size > 1:
//   - rank 0 prepares the run folder and reads the checkpoint; weights, BatchNorm statistics and the
//     optimizer state are then broadcast from it (at the start and after a resume);
//   - each rank trains on its own part of the global batch (the tasks shard their data by rank, see
//     shardRange), the loss terms are averaged for the log, gradients are averaged by a bucketed
//     all-reduce after the backward pass (not overlapped with it: the engine's backward is one
//     synchronous pass with no gradient-ready hook, and MPI progresses only inside MPI calls);
//   - BatchNorm: per rank, or over all ranks with train.syncBatchNorm (crossReplicaSum below);
//     running statistics are broadcast from rank 0 after each step, as DDP's broadcast_buffers;
//   - validation is sharded by rank and its figures are reduced; rank 0 alone writes anything.
// A rank that throws prints its error and aborts the job (MPI_Abort), so no rank waits for it; a
// collective that does not finish within SGI_DIST_TIMEOUT seconds (default 600) throws on the ranks
// that wait.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Module, Tensor, attachGrad, native, nn, ops, type Storage } from '@sgi/core';
import type { Optimizer } from './optim/index.js';

/** The addon's collectives (src/napi/collectives.cc). */
interface DistNative {
  distInit(timeoutSeconds: number): { rank: number; size: number; localRank: number };
  distAllReduce(storages: Storage[], average: boolean, bucketBytes: number): void;
  distBroadcast(storages: Storage[], root: number): void;
  distBroadcastBytes(data: Uint8Array | null, root: number): Uint8Array;
  distAbort(code: number): never;
  distFinalize(): void;
}
const nat = native as unknown as DistNative;

/** The processes of a job and what they do together. */
export interface World {
  rank: number;
  size: number;
  localRank: number;
  /** Sums (or averages) tensors over the ranks, in place. */
  allReduce(tensors: readonly Tensor[], average: boolean): void;
  /** Copies rank `root`'s tensors into every rank's, in place. */
  broadcast(tensors: readonly Tensor[], root?: number): void;
  /** Rank 0's value (JSON), on every rank. */
  broadcastJson<T>(value: T): T;
  /** Ends every process of the job now (after this rank's error was printed). */
  abort(code: number): never;
  finish(): void;
}

/** One process: collectives are no-ops. */
export const SINGLE_PROCESS: World = {
  rank: 0, size: 1, localRank: 0,
  allReduce: () => {}, broadcast: () => {}, broadcastJson: (v) => v,
  abort: (code) => process.exit(code), finish: () => {},
};

/** Environment variables a launcher sets in each process it starts: Open MPI's mpirun, PMIx (srun --mpi=pmix, prterun), PMI (srun --mpi=pmi2, MPICH). */
const LAUNCHER_VARS = ['OMPI_COMM_WORLD_SIZE', 'PMIX_RANK', 'PMI_RANK', 'PMI_SIZE'];

/** Seconds a collective may wait for the other ranks. */
export function collectiveTimeout(): number {
  const v = Number(process.env.SGI_DIST_TIMEOUT ?? 600);
  if (!(v > 0)) throw new Error(`SGI_DIST_TIMEOUT must be a number of seconds > 0, got '${process.env.SGI_DIST_TIMEOUT}'`);
  return v;
}

let current: World = SINGLE_PROCESS;

/** The job this process belongs to (SINGLE_PROCESS until initWorld found a launcher). */
export function currentWorld(): World {
  return current;
}

/**
 * Joins the job when a launcher started this process, else returns SINGLE_PROCESS without touching
 * MPI. Call it before any CUDA tensor exists: it picks the GPU of the local rank.
 */
export function initWorld(env: NodeJS.ProcessEnv = process.env): World {
  if (current !== SINGLE_PROCESS) return current;
  const launched = LAUNCHER_VARS.some((k) => env[k] !== undefined);
  const slurmTasks = Number(env.SLURM_NTASKS ?? env.SLURM_NPROCS ?? 1);
  if (!launched) {
    if (env.SLURM_PROCID !== undefined && slurmTasks > 1) {
      throw new Error(`srun started ${slurmTasks} tasks without an MPI process manager: use srun --mpi=pmix (see srun --mpi=list), or mpirun`);
    }
    return SINGLE_PROCESS;
  }
  const info = native.info();
  if (!info.mpi.compiled) {
    throw new Error(`this process was started by an MPI launcher but the addon was built without MPI (${info.mpi.reason}); ` +
      'install libopenmpi-dev and rebuild it (npx nx run native-cuda:build)');
  }
  const g = nat.distInit(collectiveTimeout());
  if (g.size === 1 && slurmTasks > 1) throw new Error(`srun started ${slurmTasks} tasks but MPI sees one: use srun --mpi=pmix`);
  const bucketBytes = Math.round(Number(env.SGI_DIST_BUCKET_MB ?? 25) * 2 ** 20);
  const storages = (ts: readonly Tensor[]) => ts.map((t) => t.storage);
  current = {
    ...g,
    allReduce: (ts, average) => nat.distAllReduce(storages(ts), average, bucketBytes),
    broadcast: (ts, root = 0) => nat.distBroadcast(storages(ts), root),
    broadcastJson: <T>(value: T): T => {
      const bytes = nat.distBroadcastBytes(g.rank === 0 ? new TextEncoder().encode(JSON.stringify(value ?? null)) : null, 0);
      return JSON.parse(new TextDecoder().decode(bytes)) as T;
    },
    abort: (code) => nat.distAbort(code),
    finish: () => {
      // everyone arrives (with the collective deadline) before MPI_Finalize, which has none
      const t = Tensor.zeros([1]);
      nat.distAllReduce([t.storage], false, bucketBytes);
      t.release();
      nat.distFinalize();
    },
  };
  return current;
}

/** Rows [from, to) of `count` that rank `rank` of `size` takes: contiguous, sizes differ by at most one, the larger first (rank 0 holds one whenever there is one). */
export function shardRange(count: number, rank: number, size: number): [number, number] {
  const q = Math.floor(count / size), extra = count % size;
  const at = (r: number) => r * q + Math.min(r, extra);
  return [at(rank), at(rank + 1)];
}

/** A differentiable sum over the ranks: forward all-reduces the tensor, backward all-reduces its gradient. */
export function crossReplicaSum(world: World): ops.CrossReplicaSum {
  const summed = (t: Tensor) => {
    const out = Tensor.empty(t.shape, t.device);
    native.copyInto(out.storage, t.storage);
    world.allReduce([out], false);
    return out;
  };
  return (t: Tensor) => attachGrad(summed(t), 'crossReplicaSum', [t], (g) => [summed(g)]);
}

/** Every BatchNorm inside `module`. */
export function batchNorms(module: Module): nn.BatchNorm[] {
  const out: nn.BatchNorm[] = module instanceof nn.BatchNorm ? [module] : [];
  for (const [, c] of module.namedChildren()) out.push(...batchNorms(c));
  return out;
}

/** Makes the BatchNorms of `module` normalise with the statistics of every rank's batch. */
export function syncBatchNorms(module: Module, world: World): number {
  const sum = crossReplicaSum(world);
  const bns = batchNorms(module);
  for (const bn of bns) bn.sync = sum;
  return bns.length;
}

/**
 * Averages the gradients of `params` over the ranks (bucketed all-reduce). Every rank must have a
 * gradient for every parameter, in the same order; returns the seconds it took.
 */
export function averageGradients(world: World, params: readonly Tensor[]): number {
  const t0 = performance.now();
  const grads = params.map((p, i) => {
    if (!p.grad || p.grad.released) throw new Error(`data-parallel training: parameter ${p.name ?? i} has no gradient on rank ${world.rank}; every trained parameter must take part in the loss`);
    return p.grad;
  });
  world.allReduce(grads, true);
  return (performance.now() - t0) / 1000;
}

/** Loss values (any number of steps' worth), averaged over the ranks: what a single process at the global batch would log. */
export function averageValues(world: World, values: Float32Array): Float32Array {
  const t = Tensor.fromArray(values, [values.length]);
  world.allReduce([t], true);
  const v = t.toArray();
  t.release();
  return v;
}

/** Rank 0's optimizer state on every rank (after a resume: the other ranks read no checkpoint). */
export function broadcastOptimizer(world: World, opt: Optimizer): void {
  const own = opt.stateDict();
  const layout = world.broadcastJson([...own].map(([k, t]) => [k, t.shape, t.device] as [string, number[], Tensor['device']]));
  const state = new Map(layout.map(([k, shape, device]) => [k, world.rank === 0 ? own.get(k)! : Tensor.zeros(shape, device)]));
  broadcastTensors(world, [...state.values()]);
  if (world.rank !== 0) opt.loadStateDict(state);
}

/** Every tensor of a state dict, CPU and CUDA ones apart (one collective per device). */
export function broadcastTensors(world: World, tensors: readonly Tensor[]): void {
  world.broadcast(tensors.filter((t) => t.device === 'cpu'));
  world.broadcast(tensors.filter((t) => t.device === 'cuda'));
}

/** SGI_TEST_FAIL=<rank>:<step> makes that rank throw at that step (the tests of a failing rank). */
export function injectedFailure(world: World, step: number): void {
  const spec = process.env.SGI_TEST_FAIL;
  if (!spec) return;
  const [rank, at] = spec.split(':').map(Number);
  if (rank === world.rank && at === step) throw new Error(`injected failure at step ${step} (SGI_TEST_FAIL=${spec})`);
}

/**
 * SGI_DIST_TRACE=<folder>: each rank appends `{step, weights}` (a SHA-256 of its state dict) to
 * <folder>/rank-<r>.jsonl after every step, so tests can check that the ranks never drift apart.
 */
export function traceWeights(world: World, step: number, state: Map<string, Tensor>): void {
  const dir = process.env.SGI_DIST_TRACE;
  if (!dir) return;
  const h = createHash('sha256');
  for (const [k, t] of state) {
    h.update(k);
    h.update(Buffer.from(t.toArray().buffer));
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.appendFileSync(path.join(dir, `rank-${world.rank}.jsonl`), `${JSON.stringify({ step, weights: h.digest('hex').slice(0, 16) })}\n`);
}
