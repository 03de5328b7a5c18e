// Whole-network benchmark (`npx nx run core:bench`): the paper's encoder (forward at batch 1 and
// 4, forward+backward in train mode at batch 4, 256x256) and StyleGAN2 synthesis at 256 and 1024
// (forward, and forward+backward w.r.t. W+ with the generator frozen), time per image and peak
// memory, next to PyTorch 1.13 / onnxruntime figures measured on this machine kind
// (../shared/bench/REFERENCE.md). Random weights: speed does not depend on their values.
// Usage: node packages/core/dist/bench/models.bench.js [filter]   (SGI_BENCH_ROUNDS, default 3)
import * as os from 'node:os';

if (process.env.OMP_WAIT_POLICY === undefined) process.env.OMP_WAIT_POLICY = 'passive';
const core = await import('../index.js');
const { Tensor, Rng, native, noGrad, tidy, Encoder, PAPER_ENCODER, StyleGAN2Generator } = core;


const rounds = Number(process.env.SGI_BENCH_ROUNDS ?? 3);
const filter = process.argv[2] ?? '';

interface Case {
  name: string;
  images: number;
  /** Best of PyTorch / onnxruntime seconds for the whole batch (REFERENCE.md), when known. */
  reference?: { pytorch?: number; onnxruntime?: number };
  setup: () => { run: () => void; release: () => void };
}

function encoderCase(batch: number, train: boolean): Case['setup'] {
  return () => {
    const enc = new Encoder(PAPER_ENCODER, { rng: new Rng(1) });
    if (!train) enc.eval().freeze();
    const x = new Rng(2).randn([batch, 3, 256, 256]);
    x.persistent = true;
    return {
      run: () => tidy(() => {
        if (!train) { noGrad(() => enc.forward(x)); return; }
        const w = enc.forward(x);
        w.backward(Tensor.ones(w.shape));
        for (const p of enc.parameters()) { p.grad?.release(); p.grad = null; }
      }),
      release: () => { enc.release(); x.release(); },
    };
  };
}

function generatorCase(size: number, backward: boolean): Case['setup'] {
  return () => {
    const g = new StyleGAN2Generator({ size, styleDim: 512, nMlp: 8, channelMultiplier: 2, seed: 1 }).eval().freeze();
    const w = new Rng(3).randn([1, g.nLatent, 512], 'cpu', 0.5);
    w.persistent = true;
    w.requiresGrad = backward;
    return {
      run: () => tidy(() => {
        if (!backward) { noGrad(() => g.synthesis(w)); return; }
        const img = g.synthesis(w);
        img.backward(Tensor.ones(img.shape));
        w.grad?.release();
        w.grad = null;
      }),
      release: () => { g.release(); w.release(); },
    };
  };
}

const cases: Case[] = [
  { name: 'encoder forward, 256x256, batch 1', images: 1, reference: { pytorch: 0.20, onnxruntime: 0.147 }, setup: encoderCase(1, false) },
  { name: 'encoder forward, 256x256, batch 4', images: 4, reference: { pytorch: 0.86, onnxruntime: 0.58 }, setup: encoderCase(4, false) },
  { name: 'encoder forward+backward (train), batch 4', images: 4, reference: { pytorch: 2.4 }, setup: encoderCase(4, true) },
  { name: 'StyleGAN2 256 synthesis, batch 1', images: 1, reference: { pytorch: 0.43 }, setup: generatorCase(256, false) },
  { name: 'StyleGAN2 256 synthesis + backward to W+', images: 1, setup: generatorCase(256, true) },
  { name: 'StyleGAN2 1024 synthesis, batch 1', images: 1, reference: { pytorch: 3.4 }, setup: generatorCase(1024, false) },
  { name: 'StyleGAN2 1024 synthesis + backward to W+', images: 1, setup: generatorCase(1024, true) },
];

const info = native.info();
console.log(`models benchmark: ${os.cpus()[0]?.model ?? 'cpu'}, ${info.cpu.isa}, ${info.cpu.threads} threads, OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY}, best of ${rounds} rounds`);
console.log('case'.padEnd(46) + 'seconds'.padStart(9) + '  s/image' + '  peak MiB' + '   PyTorch  onnxrt  ratio(best ref / ours)');
for (const c of cases.filter((k) => k.name.includes(filter))) {
  const { run, release } = c.setup();
  run(); // warm-up
  native.resetPeakMemory();
  const base = native.memory().cpuBytes;
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    run();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  const peak = (native.memory().cpuPeakBytes - base) / 2 ** 20;
  const refs = [c.reference?.pytorch, c.reference?.onnxruntime].filter((v): v is number => v !== undefined);
  const ratio = refs.length ? (Math.min(...refs) / best).toFixed(2) + 'x' : '-';
  console.log(
    c.name.padEnd(46) + best.toFixed(3).padStart(9) + (best / c.images).toFixed(3).padStart(9) + peak.toFixed(0).padStart(10) +
    (c.reference?.pytorch?.toFixed(2) ?? '-').padStart(10) + (c.reference?.onnxruntime?.toFixed(3) ?? '-').padStart(8) + ratio.padStart(9),
  );
  release();
}
console.log(`process peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
