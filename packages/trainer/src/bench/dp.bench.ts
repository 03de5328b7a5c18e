// Data-parallel throughput (`npx nx run trainer:bench-dp`, not a test): images/s of the training step
// of the tiny config and of the paper setting (256 input, 1024 generator, random weights of the real
// sizes) on 1 and 2 ranks of 1 thread each, with the time the gradient all-reduce takes per step;
// then, on paper, the bytes the paper encoder all-reduces per step and what they cost on 8 GPUs with
// NVLink and on 2 nodes at 100 Gb/s.
//   node packages/trainer/dist/bench/dp.bench.js [filter]      (runs itself under mpirun -np 1 and 2)
// Environment: SGI_BENCH_STEPS (timed steps per case, default 5 for tiny, 2 for paper).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.env.OMP_WAIT_POLICY === undefined) process.env.OMP_WAIT_POLICY = 'passive';
const { Scope, Rng, Tensor, native } = await import('@sgi/core');
const { CombinedLoss } = await import('@sgi/losses');
const { buildExperiment } = await import('@sgi/experiment');
const { benchConfig } = await import('./bench_config.js');
const { Ranger } = await import('../optim/index.js');
const { initWorld, averageGradients } = await import('../distributed.js');

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const self = fileURLToPath(import.meta.url);

interface Case { name: string; config: string; batch: number; steps: number; paper?: boolean }
const CASES: Case[] = [
  { name: 'tiny stage 1, batch 4 per rank', config: 'configs/tiny/stage1.yaml', batch: 4, steps: 5 },
  { name: 'paper stage 1 (256 in, 1024 G), batch 1 per rank', config: 'configs/paper/stage1.yaml', batch: 1, steps: 2, paper: true },
];
/** What the parent reads from rank 0 of each job. */
interface Measured { ranks: number; secondsPerStep: number; allreduceSeconds: number; waitSeconds: number; params: number }

/** One rank: warm-up, then timed steps (forward, losses, backward, all-reduce, optimizer step). */
async function worker(c: Case): Promise<void> {
  const world = initWorld();
  native.setNumThreads(1);
  const cfg = benchConfig(repo, c.config, { batch: c.batch, paper: c.paper });
  const exp = buildExperiment(cfg, { runsRoot: '/nonexistent' });
  const loss = new CombinedLoss({ ...cfg.loss, seed: 0 });
  const stage = exp.stages[0]!.train();
  const opt = new Ranger(stage.parameters(), { lr: cfg.train.lr });
  const S = cfg.encoder.inputSize;
  const x = new Rng(1 + world.rank).uniform([c.batch, 3, S, S], -1, 1);
  x.persistent = true;
  const steps = Number(process.env.SGI_BENCH_STEPS ?? c.steps);
  const times: number[] = [], reduce: number[] = [], wait: number[] = [];
  // a one-float all-reduce first: the ranks meet there, so the gradient all-reduce after it is timed
  // alone, and the time spent waiting for the slower rank is reported apart
  const meet = Tensor.zeros([1]);
  meet.persistent = true;
  for (let i = 0; i <= steps; i++) {
    const t0 = performance.now();
    let r = 0, w = 0;
    const scope = new Scope();
    scope.run(() => {
      const { images } = exp.model.forward(x, { trainFrom: 1, withImages: true, noise: 'random', rng: new Rng(i) });
      loss.forward(images[images.length - 1]!, x).total.backward();
      if (world.size > 1) {
        const t = performance.now();
        world.allReduce([meet], false);
        w = (performance.now() - t) / 1000;
        r = averageGradients(world, opt.params);
      }
      opt.step();
      opt.zeroGrad();
    });
    scope.dispose();
    if (i > 0) { times.push((performance.now() - t0) / 1000); reduce.push(r); wait.push(w); }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const m: Measured = { ranks: world.size, secondsPerStep: median(times), allreduceSeconds: median(reduce), waitSeconds: median(wait), params: stage.numParameters() };
  if (world.rank === 0) console.log(`RESULT ${JSON.stringify(m)}`);
  world.finish();
}

/** Runs `mpirun -np ranks` of this file for one case and returns rank 0's figures. */
function job(c: Case, ranks: number): Measured {
  const r = spawnSync('mpirun', ['--oversubscribe', '--bind-to', 'none', '-np', String(ranks), process.execPath, self, '--worker', c.name], {
    encoding: 'utf8', env: { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' }, maxBuffer: 64 << 20,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`mpirun -np ${ranks} (${c.name}) failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line.slice(7)) as Measured;
}

const MB = 1e6;
/** Seconds of a ring all-reduce of `bytes` over `n` participants at `bytesPerSecond` per link (2 (n-1)/n of the data crosses each link). */
const ringSeconds = (bytes: number, n: number, bytesPerSecond: number) => (2 * (n - 1) / n) * bytes / bytesPerSecond;

function paperEstimate(): void {
  const params = 84_920_000; // PAPER_ENCODER, the paper's count (sgi info --config configs/paper/stage1.yaml)
  const bytes = params * 4;  // float32 gradients
  console.log(`\nOn paper: the paper encoder (${(params / 1e6).toFixed(2)}M parameters) all-reduces ${(bytes / MB).toFixed(1)} MB of float32 gradients per step.`);
  // NCCL's ring on one 8-GPU NVLink machine: ~150-250 GB/s of bus bandwidth per GPU in practice
  const nvlink = ringSeconds(bytes, 8, 200e9);
  console.log(`  8 GPUs, NVLink (NCCL bus bandwidth ~200 GB/s): each GPU moves ${(2 * 7 / 8 * bytes / MB).toFixed(0)} MB, ~${(nvlink * 1000).toFixed(1)} ms per step`);
  // 2 nodes: NCCL reduces inside each node over NVLink, then across the nodes; the inter-node part
  // moves 2 (2-1)/2 x the gradients through each node's 100 Gb/s (12.5 GB/s) link
  const net = ringSeconds(bytes, 2, 12.5e9);
  console.log(`  2 nodes x 8 GPUs, 100 Gb/s between them: ${(bytes / MB).toFixed(0)} MB cross each node's link, ~${(net * 1000).toFixed(0)} ms per step (+ ~${(nvlink * 1000).toFixed(1)} ms inside the nodes)`);
  console.log('  against a GPU step of a few hundred ms at batch 8 per GPU, NVLink costs ~1%, the 100 Gb/s network ~5-10% while not overlapped with the backward pass (it is not here).');
}

const at = process.argv.indexOf('--worker');
if (at >= 0) {
  const c = CASES.find((k) => k.name === process.argv[at + 1]);
  if (!c) throw new Error(`no benchmark case '${process.argv[at + 1]}'`);
  await worker(c);
} else {
  const filter = process.argv[2] ?? '';
  console.log(`data-parallel benchmark: ${native.info().cpu.isa}, 1 thread per rank, ${native.info().mpi.library ?? 'MPI not compiled in'}; median step after a warm-up`);
  console.log(`${'case'.padEnd(52)} ranks  s/step   images/s  all-reduce/step (gradients)   waiting for the slower rank`);
  for (const c of CASES.filter((k) => k.name.includes(filter))) {
    for (const ranks of [1, 2]) {
      const m = job(c, ranks);
      const reduce = ranks > 1 ? `${(m.allreduceSeconds * 1000).toFixed(1)} ms (${(m.params * 4 / MB).toFixed(2)} MB)`.padEnd(30) + `${(m.waitSeconds * 1000).toFixed(1)} ms` : '-';
      console.log(`${c.name.padEnd(52)} ${String(ranks).padStart(5)} ${m.secondsPerStep.toFixed(3).padStart(7)} ${(c.batch * ranks / m.secondsPerStep).toFixed(2).padStart(10)}  ${reduce}`);
    }
  }
  paperEstimate();
}
