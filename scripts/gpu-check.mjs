// The GPU check (run by scripts/gpu-check.sh; see its header): the CUDA parity table against the
// CPU on the real device, then the whole networks and a training step timed on the GPU and on the
// CPU side by side, as one table. Plain Node (no vitest): the GPU machine has no node_modules.
//   SGI_GPU_CHECK_KIT=<folder>  load @sgi/core from the kit's node_modules (default: the workspace)
//   SGI_GPU_CHECK_QUICK=1       small benchmark shapes (the rehearsal on the CUDA emulator)
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const kit = process.env.SGI_GPU_CHECK_KIT;
const from = (p) => (kit ? import(pathToFileURL(path.resolve(kit, 'node_modules', p)).href) : import(p.replace('/dist/index.js', '').replace('/dist/cuda_parity.js', '/cuda-parity').replace('/dist/bench/networks.js', '/bench-networks')));
const core = await from('@sgi/core/dist/index.js');
const parity = await from('@sgi/core/dist/cuda_parity.js');
const nets = await from('@sgi/core/dist/bench/networks.js');
const { native, noGrad, tidy, PAPER_ENCODER } = core;
const quick = process.env.SGI_GPU_CHECK_QUICK === '1';
const started = performance.now();
const say = (s) => console.log(s);

const info = native.info();
say(`sgi GPU check, ${new Date().toISOString()}`);
say(`host: ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ISA ${info.cpu.isa}, ${info.cpu.threads} threads; Node ${process.version}`);
say(`cuda: ${info.cuda.available ? `${info.cuda.deviceName} (${info.cuda.deviceCount} device(s))` : `UNAVAILABLE: ${info.cuda.reason}`}`);
say(`cudnn: ${info.cuda.cudnn ? 'loaded' : `not loaded: ${info.cuda.cudnnReason}`}`);
if (!info.cuda.available) process.exit(1);

// ---- 1. parity: every kernel family on cuda against the cpu ----
say('\n1. CUDA parity (every native kernel family against the CPU backend)');
let failures = 0;
const reached = new Set();
let kernels = [];
for (const c of parity.CUDA_PARITY_CASES) {
  const t0 = performance.now();
  let status = 'ok';
  try {
    const r = parity.kernelsReachedOnCuda(() => parity.runParityCase(c));
    for (const k of r.reached) reached.add(k);
    kernels = r.kernels;
  } catch (e) {
    failures++;
    status = `FAIL: ${e.message}`;
  }
  say(`  ${`${c.family}: ${c.what}`.slice(0, 96).padEnd(98)}${((performance.now() - t0) / 1000).toFixed(2).padStart(6)} s  ${status}`);
}
const missed = kernels.filter((k) => !reached.has(k));
say(`  kernels reached on cuda: ${kernels.length - missed.length} of ${kernels.length}${missed.length ? ` (missed: ${missed.join(', ')})` : ''}`);
if (missed.length) failures++;

// ---- 2. whole networks and a training step, GPU and CPU side by side ----
say('\n2. Networks on cuda and cpu (best of the rounds, after a warm-up)');
const size = quick ? 64 : 256;
const encoderConfig = quick ? { ...PAPER_ENCODER, widths: [16, 32, 64], units: [1, 1, 1] } : PAPER_ENCODER;
// the rehearsal's generators: narrow (the emulator runs every GPU thread on the CPU)
const quickChannels = { 4: 32, 8: 32, 16: 16, 32: 16, 64: 8, 128: 8 };
const encoderCase = (batch, train) => nets.encoderCase(encoderConfig, size, batch, train);
const generatorCase = (gsize, backward) => nets.generatorCase(
  { size: gsize, styleDim: quick ? 64 : 512, nMlp: quick ? 2 : 8, channelMultiplier: 2, channels: quick ? quickChannels : undefined }, backward);
const cases = [
  { name: `encoder forward, ${size}x${size}, batch 1`, setup: encoderCase(1, false) },
  { name: `encoder forward, ${size}x${size}, batch 4`, setup: encoderCase(4, false) },
  { name: `encoder training step (fwd+bwd), batch 4`, setup: encoderCase(4, true) },
  { name: `StyleGAN2 ${quick ? 64 : 256} synthesis, batch 1`, setup: generatorCase(quick ? 64 : 256, false) },
  { name: `StyleGAN2 ${quick ? 128 : 1024} synthesis, batch 1`, setup: generatorCase(quick ? 128 : 1024, false) },
  { name: `StyleGAN2 ${quick ? 128 : 1024} synthesis + backward to W+`, setup: generatorCase(quick ? 128 : 1024, true) },
];
function time(setup, device, rounds) {
  const { run, release } = setup(device);
  try {
    run();
    native.synchronize();
    native.resetPeakMemory();
    let best = Infinity;
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      run();
      native.synchronize();
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    const m = native.memory();
    return { seconds: best, peakMiB: (device === 'cuda' ? m.cudaPeakBytes : m.cpuPeakBytes) / 2 ** 20 };
  } finally {
    release();
  }
}
say(`${'case'.padEnd(46)}${'cpu s'.padStart(9)}${'cuda s'.padStart(9)}${'speed-up'.padStart(10)}${'cuda peak MiB'.padStart(15)}`);
for (const c of cases) {
  let line = c.name.padEnd(46);
  try {
    const gpu = time(c.setup, 'cuda', quick ? 1 : 5);
    const cpu = time(c.setup, 'cpu', quick ? 1 : 2);
    line += cpu.seconds.toFixed(3).padStart(9) + gpu.seconds.toFixed(4).padStart(9) + `${(cpu.seconds / gpu.seconds).toFixed(1)}x`.padStart(10) + gpu.peakMiB.toFixed(0).padStart(15);
  } catch (e) {
    failures++;
    line += `FAIL: ${e.message}`;
  }
  say(line);
}

// ---- 3. determinism: the same forward twice on cuda gives the same bits ----
const det = tidy(() => {
  const c = encoderCase(2, false)('cuda');
  const once = () => noGrad(() => c.encoder.forward(c.input)).to('cpu').toArray();
  const a = once(), b = once();
  c.release();
  return parity.relativeError(a, b);
});
say(`\n3. encoder forward twice on cuda: ${det === 0 ? 'bit-identical' : `differs (relative ${det.toExponential(2)})`}`);

say(`\n${failures ? `FAILED: ${failures} problem(s)` : 'all checks passed'} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exit(failures ? 1 : 0);
