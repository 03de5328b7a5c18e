// Benchmark of every loss term: forward + backward w.r.t. the reconstruction at 256x256,
// batch 4 (BENCH_BATCH), random network weights (timing only). Each case runs in its own
// process so its peak RSS is its own. Usage (after `tsc -b packages/losses`):
//   node packages/losses/dist/bench/losses.bench.js [case ...]     (BENCH_ITERS, BENCH_BATCH, BENCH_JSON=file)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as fs from 'node:fs';
import { Scope, native, Rng } from '@sgi/core';
import { createLoss, type LossConfig } from '../combined.js';

const NO_WEIGHTS = '/nonexistent-sgi-bench-weights';
const off = { l2: 0, lpips: 0, id: 0, parsing: 0 };
const CASES: Record<string, LossConfig> = {
  l2: { ...off, l2: 1 },
  lpips: { ...off, lpips: 0.8 },
  'id-multi-arcface': { ...off, id: { weight: 0.5, variant: 'multi', network: 'arcface' } },
  'id-single-arcface': { ...off, id: { weight: 0.5, variant: 'single', network: 'arcface' } },
  'id-multi-faceapi': { ...off, id: { weight: 0.5, variant: 'multi', network: 'faceapi' } },
  parsing: { ...off, parsing: 1 },
  'combined-paper': {},
};

interface Result {
  case: string; batch: number; iters: number; buildMs: number; medianMs: number; minMs: number;
  peakRssMiB: number; nativePeakMiB: number; terms: Record<string, number>;
}

function runCase(name: string): Result {
  const batch = Number(process.env.BENCH_BATCH ?? 4);
  const iters = Number(process.env.BENCH_ITERS ?? 3);
  const t0 = performance.now();
  const loss = createLoss({ ...CASES[name], weightsDir: NO_WEIGHTS, randomInit: true });
  const buildMs = performance.now() - t0;
  const rng = new Rng(1);
  const x = rng.uniform([batch, 3, 256, 256], -1, 1);
  const yHat = rng.uniform([batch, 3, 256, 256], -1, 1).requireGrad();
  const times: number[] = [];
  let terms: Record<string, number> = {};
  native.resetPeakMemory();
  for (let i = 0; i <= iters; i++) {
    const scope = new Scope();
    const start = performance.now();
    scope.run(() => {
      const r = loss.forward(yHat, x);
      if (r.total.requiresGrad || r.total.gradNode) r.total.backward();
      terms = r.terms;
    });
    scope.dispose();
    yHat.grad?.release();
    yHat.grad = null;
    if (i > 0) times.push(performance.now() - start); // the first run is a warm-up
  }
  times.sort((a, b) => a - b);
  return {
    case: name, batch, iters, buildMs: Math.round(buildMs), medianMs: Math.round(times[Math.floor(times.length / 2)]!),
    minMs: Math.round(times[0]!), peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    nativePeakMiB: Math.round(native.memory().cpuPeakBytes / 2 ** 20), terms,
  };
}

function main(): void {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    process.stdout.write(`${JSON.stringify(runCase(args[1]!))}\n`);
    return;
  }
  const names = args.length ? args : Object.keys(CASES);
  for (const n of names) if (!CASES[n]) throw new Error(`unknown case '${n}' (cases: ${Object.keys(CASES).join(', ')})`);
  const info = native.info();
  console.log(`losses benchmark: forward + backward, 256x256, batch ${process.env.BENCH_BATCH ?? 4}, random weights; cpu ${info.cpu.isa} x${info.cpu.threads}`);
  console.log(`${'case'.padEnd(20)} ${'median ms'.padStart(10)} ${'min ms'.padStart(8)} ${'build ms'.padStart(9)} ${'peak RSS MiB'.padStart(13)} ${'native peak MiB'.padStart(16)}`);
  const results: Result[] = [];
  for (const n of names) {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', n], { encoding: 'utf8', env: process.env, maxBuffer: 1 << 24 });
    const line = child.stdout.trim().split('\n').pop() ?? '';
    if (child.status !== 0 || !line.startsWith('{')) {
      console.log(`${n.padEnd(20)} FAILED (exit ${child.status}): ${child.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      process.exitCode = 1;
      continue;
    }
    const r = JSON.parse(line) as Result;
    results.push(r);
    console.log(`${n.padEnd(20)} ${String(r.medianMs).padStart(10)} ${String(r.minMs).padStart(8)} ${String(r.buildMs).padStart(9)} ${String(r.peakRssMiB).padStart(13)} ${String(r.nativePeakMiB).padStart(16)}`);
  }
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, `${JSON.stringify(results, null, 2)}\n`);
}

main();
