// Performance of the engine's core ops: GEMM 1024^3 and the 3x3 convolutions that dominate the
// paper's encoder (batch 4) and StyleGAN2 synthesis (batch 1), forward and backward, next to the
// reference figures of shared/bench/REFERENCE.md. A plain node script:
//   npx nx run native-cuda:bench      (or: node packages/core/dist/bench/ops.bench.js [filter])
// Every case runs once per round, rounds interleaved; the best round is reported (the machine is
// shared and noisy, +-30%). SGI_BENCH_ROUNDS sets the number of rounds (default 5).
//
// OpenMP threads spin at barriers by default; on a machine shared with other busy processes a
// spinning thread whose partner was descheduled wastes its core, and 2 threads ran ~2x slower than
// 1. Unless OMP_WAIT_POLICY is set, this script sets it to passive before the addon loads
// (libgomp reads it once, at load) and prints the policy with the results.
import type { Storage } from '../native.js';

const policySet = process.env.OMP_WAIT_POLICY === undefined;
if (policySet) process.env.OMP_WAIT_POLICY = 'passive';
const { native } = await import('../native.js');
await import('../ops/conv.js');
await import('../ops/linear.js');

const rounds = Number(process.env.SGI_BENCH_ROUNDS ?? 5);
const filter = process.argv[2] ?? '';

function filled(n: number, seed: number): Storage {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return native.fromArray(a, 0);
}

interface Case {
  group: string;
  name: string;
  flops: number;
  /** Memory-bound cases: bytes moved per run (reported as GB/s against the copy bandwidth). */
  bytes?: number;
  run: () => void;
  reference?: string;
  best: number;
}

const cases: Case[] = [];
function add(group: string, name: string, flops: number, run: () => void, reference?: string, bytes?: number): void {
  if (filter && !`${group} ${name}`.includes(filter)) return;
  cases.push({ group, name, flops, run, reference, best: Infinity, bytes });
}

// ---- memory bound: the paper encoder's largest head at batch 1 (Linear 256*7*7 -> 9*512, 58M
// weights) is a matrix-vector product that reads 231 MB of weights; its yardstick is a plain copy
{
  const n = 64 << 20; // 256 MiB of floats each way
  const src = filled(n, 5), dst = new native.Storage(n, 0);
  add('memory', 'copy 256 MiB', 0, () => native.copyInto(dst, src), 'read + write: the bandwidth the GEMV is held to', 8 * n);
  const [K, N] = [256 * 7 * 7, 9 * 512];
  const x = filled(K, 6), w = filled(N * K, 7), y = new native.Storage(N, 0);
  add('memory', 'head GEMV 1x12544 -> 4608', 2 * N * K, () => native.gemm(x, w, y, 1, N, K, false, true, 1, 0), undefined, 4 * N * K);
}

// ---- GEMM ----
{
  const n = 1024;
  const a = filled(n * n, 1), b = filled(n * n, 2), c = new native.Storage(n * n, 0);
  add('gemm', '1024^3 (NN)', 2 * n ** 3, () => native.gemm(a, b, c, n, n, n, false, false, 1, 0),
    'PyTorch 235-257, hand AVX-512 280-447, bound ~450 GFLOP/s');
  add('gemm', '1024^3 (NT)', 2 * n ** 3, () => native.gemm(a, b, c, n, n, n, false, true, 1, 0));
}

// ---- convolutions ----
interface Conv { label: string; n: number; c: number; k: number; h: number; kh?: number; s?: number; p?: number }
const convs: Conv[] = [
  { label: 'encoder 64ch 128x128 b4', n: 4, c: 64, k: 64, h: 128 },
  { label: 'encoder 128ch 64x64 b4', n: 4, c: 128, k: 128, h: 64 },
  { label: 'encoder 256ch 32x32 b4', n: 4, c: 256, k: 256, h: 32 },
  { label: 'encoder 256ch 32x32 b1', n: 1, c: 256, k: 256, h: 32 },
  { label: 'encoder 64->128 s2 128x128 b4', n: 4, c: 64, k: 128, h: 128, s: 2 },
  { label: 'stylegan 512ch 32x32 b1', n: 1, c: 512, k: 512, h: 32 },
  { label: 'stylegan 256ch 64x64 b1', n: 1, c: 256, k: 256, h: 64 },
  { label: 'stylegan 128ch 128x128 b1', n: 1, c: 128, k: 128, h: 128 },
  { label: 'stylegan 64ch 256x256 b1', n: 1, c: 64, k: 64, h: 256 },
];
const algoBefore = native.conv2dAlgorithm();
let seed = 10;
for (const cv of convs) {
  const kh = cv.kh ?? 3, s = cv.s ?? 1, p = cv.p ?? 1;
  const oh = Math.floor((cv.h + 2 * p - kh) / s) + 1;
  const params = [cv.n, cv.c, cv.h, cv.h, cv.k, kh, kh, s, s, p, p, 1];
  const x = filled(cv.n * cv.c * cv.h * cv.h, seed++), w = filled(cv.k * cv.c * kh * kh, seed++);
  const y = new native.Storage(cv.n * cv.k * oh * oh, 0), gy = filled(cv.n * cv.k * oh * oh, seed++);
  const gx = new native.Storage(cv.n * cv.c * cv.h * cv.h, 0), gw = new native.Storage(cv.k * cv.c * kh * kh, 0);
  const flops = 2 * cv.n * cv.k * cv.c * kh * kh * oh * oh;
  const withAlgo = (algo: 'gemm' | 'auto', f: () => void) => () => {
    native.conv2dAlgorithm(algo);
    f();
  };
  add(cv.label, 'forward (gemm)', flops, withAlgo('gemm', () => native.conv2dForward(x, w, null, y, params)));
  add(cv.label, 'forward (auto)', flops, withAlgo('auto', () => native.conv2dForward(x, w, null, y, params)), 'target 300+ GFLOP/s');
  add(cv.label, 'backward input', flops, withAlgo('auto', () => native.conv2dBackwardInput(w, gy, gx, params)));
  add(cv.label, 'backward weight', flops, withAlgo('auto', () => native.conv2dBackwardWeight(x, gy, gw, params)));
}
// StyleGAN2's upsampling conv: transposed 3x3 stride 2 (the backward-input pass of a stride-2 conv).
{
  const [c, h] = [512, 32];
  const oh = 2 * h + 1;
  const params = [1, c, oh, oh, c, 3, 3, 2, 2, 0, 0, 1];
  const x = filled(c * h * h, 99), w = filled(c * c * 9, 98), y = new native.Storage(c * oh * oh, 0);
  add('stylegan upsample convT 512ch 32->65 b1', 'forward', 2 * c * c * 9 * h * h, () => native.conv2dBackwardInput(w, x, y, params));
}

const info = native.info();
console.log(`sgi ops benchmark: cpu ${info.cpu.isa} (${native.gemmKernel()}), ${info.cpu.threads} threads, best of ${rounds} interleaved rounds, ` +
  `OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY}${policySet ? ' (set by this script)' : ''}`);
for (const c of cases) c.run(); // warm-up (workspaces, page faults)
// the machine's FMA peak, measured in every round beside the cases (best round), so a GEMM's
// efficiency is a ratio of two figures from the same minutes on the same cores
let peak = 0;
for (let r = 0; r < rounds; r++) {
  peak = Math.max(peak, native.fmaPeak(0.3));
  for (const c of cases) {
    const t0 = process.hrtime.bigint();
    c.run();
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (dt < c.best) c.best = dt;
  }
}
native.conv2dAlgorithm(algoBefore);

let group = '';
for (const c of cases) {
  if (c.group !== group) {
    group = c.group;
    console.log(`\n${group}`);
  }
  if (c.bytes) {
    const gbs = c.bytes / c.best / 1e9;
    const copy = cases.find((k) => k.group === 'memory' && k.flops === 0);
    const ofCopy = copy && copy !== c ? ` ${((100 * gbs) / (copy.bytes! / copy.best / 1e9)).toFixed(0).padStart(4)}% of the copy's` : '';
    console.log(`  ${c.name.padEnd(18)} ${(c.best * 1e3).toFixed(2).padStart(9)} ms ${gbs.toFixed(1).padStart(8)} GB/s${ofCopy}${c.reference ? `   (${c.reference})` : ''}`);
    continue;
  }
  const gf = c.flops / c.best / 1e9;
  const ofPeak = peak > 0 ? ` ${((100 * gf) / peak).toFixed(0).padStart(4)}% of peak` : '';
  console.log(`  ${c.name.padEnd(18)} ${(c.best * 1e3).toFixed(2).padStart(9)} ms ${gf.toFixed(1).padStart(8)} GFLOP/s${ofPeak}${c.reference ? `   (${c.reference})` : ''}`);
}
console.log(`\nFMA peak assumed: ${peak.toFixed(1)} GFLOP/s, measured in this run (${info.cpu.threads} threads x independent ${info.cpu.isa} FMAs on registers, best of ${rounds} rounds); GEMM target: 85% of it`);
