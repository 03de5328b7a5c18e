// Training-step throughput (`npx nx run trainer:bench`): images/s of one full training step
// (forward through the encoder and the frozen generator, losses, backward, optimizer step) for
// the tiny config, and for the paper setting (256 input, 1024 generator, 1 stage) at batch 1 and
// 4, with peak native memory and RSS, and a profile of each step: time in each network (encoder
// stages, generator) and loss term (forward), in the backward pass and in the optimizer step, so
// the next slow part is visible. Loss networks without weight files run on random weights (speed
// does not depend on the values). Usage: node packages/trainer/dist/bench/train.bench.js [filter]
// (SGI_BENCH_STEPS: steps timed, default 3; SGI_BENCH_RECOMPUTE=off: no activation checkpointing)
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.env.OMP_WAIT_POLICY === undefined) process.env.OMP_WAIT_POLICY = 'passive';
const { Scope, Tensor, Rng, native } = await import('@sgi/core');
const { CombinedLoss } = await import('@sgi/losses');
const { buildExperiment } = await import('@sgi/experiment');
const { benchConfig } = await import('./bench_config.js');
const { Ranger } = await import('../optim/index.js');

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const filter = process.argv[2] ?? '';
const steps = Number(process.env.SGI_BENCH_STEPS ?? 3);

interface Case { name: string; config: string; batch: number; paper?: boolean; stages?: number }
const cases: Case[] = [
  { name: 'tiny stage 1 (64x64 generator), batch 4', config: 'configs/tiny/stage1.yaml', batch: 4 },
  { name: 'tiny stage 2 (stage 1 frozen), batch 4', config: 'configs/tiny/stage2.yaml', batch: 4, stages: 2 },
  { name: 'paper stage 1 (256 in, 1024 G), batch 1', config: 'configs/paper/stage1.yaml', batch: 1, paper: true },
  { name: 'paper stage 1 (256 in, 1024 G), batch 4', config: 'configs/paper/stage1.yaml', batch: 4, paper: true },
];

const medians = new Map<string, number>();
console.log(`training-step benchmark: ${os.cpus()[0]?.model ?? 'cpu'}, ISA ${native.info().cpu.isa}, ${native.info().cpu.threads} threads, median of ${steps} steps after a warm-up`);
for (const c of cases.filter((k) => k.name.includes(filter))) {
  const cfg = benchConfig(repo, c.config, { batch: c.batch, paper: c.paper, stages: c.stages });
  const exp = buildExperiment(cfg, { runsRoot: '/nonexistent' });
  // buildGenerator applies train.recomputeFrom; SGI_BENCH_RECOMPUTE=off measures the same step keeping every activation
  if (process.env.SGI_BENCH_RECOMPUTE === 'off') exp.generator.recomputeFrom = null;
  const loss = new CombinedLoss({ ...cfg.loss, seed: 0 });
  const stage = exp.stages[cfg.stages - 1]!;
  stage.train();
  const opt = new Ranger(stage.parameters(), { lr: cfg.train.lr });
  const S = cfg.encoder.inputSize;
  const x = new Rng(1).uniform([c.batch, 3, S, S], -1, 1);
  x.persistent = true;
  // the profile: forward time of each network and loss term, measured by wrapping its method
  const profile = new Map<string, number>();
  const timed = <T extends object>(label: string, obj: T, method: keyof T & string) => {
    const orig = (obj[method] as (...a: unknown[]) => unknown).bind(obj);
    (obj as Record<string, unknown>)[method] = (...a: unknown[]) => tick(label, () => orig(...a));
  };
  const tick = <R>(label: string, f: () => R): R => {
    native.synchronize();
    const t0 = performance.now();
    try {
      return f();
    } finally {
      native.synchronize();
      profile.set(label, (profile.get(label) ?? 0) + (performance.now() - t0) / 1000);
    }
  };
  exp.stages.forEach((s, i) => timed(i === cfg.stages - 1 ? 'encoder (trained stage)' : 'encoder (frozen stages)', s, 'forward'));
  timed('generator', exp.generator, 'synthesis');
  if (loss.lpips) timed('LPIPS', loss.lpips, 'forward');
  if (loss.id) timed('ID', loss.id, 'forward');
  if (loss.parsing) timed('parsing', loss.parsing, 'forward');
  timed('losses (all terms)', loss, 'forward');
  const times: number[] = [];
  native.resetPeakMemory();
  for (let i = 0; i <= steps; i++) {
    if (i === 1) profile.clear(); // the warm-up step is not profiled
    const t0 = performance.now();
    const scope = new Scope();
    scope.run(() => {
      const { images } = exp.model.forward(x, { trainFrom: cfg.stages, withImages: true, noise: 'random', rng: new Rng(i) });
      const out = loss.forward(images[images.length - 1]!, x);
      tick('backward', () => out.total.backward(undefined, { freeGraph: true }));
      tick('optimizer step', () => { opt.step(); opt.zeroGrad(); });
    });
    scope.dispose();
    if (i > 0) times.push((performance.now() - t0) / 1000);
  }
  const med = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  medians.set(c.name, med);
  const mem = native.memory();
  const per = (label: string) => (profile.get(label) ?? 0) / steps;
  const lossTerms = ['LPIPS', 'ID', 'parsing'].reduce((a, k) => a + per(k), 0);
  const parts: [string, number][] = [...profile.keys()].filter((k) => k !== 'losses (all terms)').map((k) => [k, per(k)]);
  if (profile.has('losses (all terms)')) parts.push(['L2 and sums', per('losses (all terms)') - lossTerms]);
  console.log(`${c.name.padEnd(44)} ${med.toFixed(3).padStart(8)} s/step ${(c.batch / med).toFixed(2).padStart(8)} img/s  peak tensors ${(mem.cpuPeakBytes / 2 ** 30).toFixed(2)} GiB  RSS ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`);
  console.log(`  generator blocks recomputed in backward from ${exp.generator.recomputeFrom ?? '- (off)'} px (train.recomputeFrom)`);
  console.log(`  per step: ${parts.sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(3)} s`).join(', ')}`);
  exp.model.release();
  exp.generator.release();
  loss.release();
  opt.dispose?.();
  x.release();
  native.emptyCache();
}
const [b1, b4] = [cases[2]!.name, cases[3]!.name].map((n) => medians.get(n));
if (b1 !== undefined && b4 !== undefined) console.log(`paper step, batch 4 / batch 1: ${(b4 / b1).toFixed(2)}x the time for 4x the images (target: at most 4.2x)`);
