// Whole-network benchmark (`npx nx run core:bench`): the paper's encoder (forward at batch 1 and
// 4, forward+backward in train mode at batch 4, 256x256) and StyleGAN2 synthesis at 256 and 1024
// (forward, and forward+backward w.r.t. W+ with the generator frozen): time per image and peak
// memory. The peer is measured in the same run on the same machine: each inference case's network
// is exported to ONNX (src/io/onnx, into a temporary folder) and run by onnxruntime-node (a
// devDependency) with as many intra-op threads as our engine uses, rounds interleaved with ours.
// The ratio is ours / onnxruntime (below 1: we are faster). Random weights: speed does not depend
// on their values. PyTorch figures are measured separately (docs/RESULTS.md). On CPUs with AVX-512
// BF16 each inference case is also timed at precision bf16 (src/precision.ts), with its largest
// difference from the float32 result (max |bf16 - float32| / max |float32|).
// Usage: node packages/core/dist/bench/models.bench.js [filter]   (SGI_BENCH_ROUNDS, default 3)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';

if (process.env.OMP_WAIT_POLICY === undefined) process.env.OMP_WAIT_POLICY = 'passive';
const core = await import('../index.js');
const { native, PAPER_ENCODER, onnx, withPrecision } = core;
const nets = await import('./networks.js');
type Tensor = import('../tensor.js').Tensor;
type OnnxGraph = import('../io/onnx/graph.js').OnnxGraph;
const ort = await import('onnxruntime-node').catch((e: Error) => {
  throw new Error(`the models benchmark runs onnxruntime-node as its peer (a devDependency): npm ci at the repository root (${e.message})`);
});
const ortVersion = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;

const rounds = Number(process.env.SGI_BENCH_ROUNDS ?? 3);
const filter = process.argv[2] ?? '';
const info = native.info();
const threads = info.cpu.threads;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-bench-onnx-'));

interface Setup {
  run: () => void;
  output?: () => Float32Array;
  /** The same computation as an ONNX graph and its inputs (inference cases only). */
  peer?: { graph: () => OnnxGraph; inputs: Record<string, Tensor> };
  release: () => void;
}
interface Case { name: string; images: number; setup: () => Setup }

/** A network case of bench/networks.ts on the CPU, with its ONNX peer for inference cases. */
function encoder(batch: number, train: boolean): () => Setup {
  return () => {
    const c = nets.encoderCase(PAPER_ENCODER, 256, batch, train)();
    return { ...c, peer: train ? undefined : { graph: () => onnx.encoderGraph(c.encoder, 256), inputs: { image: c.input } } };
  };
}
function generator(size: number, backward: boolean): () => Setup {
  return () => {
    const c = nets.generatorCase({ size, styleDim: 512, nMlp: 8, channelMultiplier: 2 }, backward)();
    return { ...c, peer: backward ? undefined : { graph: () => onnx.synthesisGraph(c.generator), inputs: { w_plus: c.input } } };
  };
}

const cases: Case[] = [
  { name: 'encoder forward, 256x256, batch 1', images: 1, setup: encoder(1, false) },
  { name: 'encoder forward, 256x256, batch 4', images: 4, setup: encoder(4, false) },
  { name: 'encoder forward+backward (train), batch 4', images: 4, setup: encoder(4, true) },
  { name: 'StyleGAN2 256 synthesis, batch 1', images: 1, setup: generator(256, false) },
  { name: 'StyleGAN2 256 synthesis + backward to W+', images: 1, setup: generator(256, true) },
  { name: 'StyleGAN2 1024 synthesis, batch 1', images: 1, setup: generator(1024, false) },
  { name: 'StyleGAN2 1024 synthesis + backward to W+', images: 1, setup: generator(1024, true) },
];

/** The peer: the graph written to the temporary folder, an onnxruntime session on it, one timed run. */
async function peerSession(name: string, peer: NonNullable<Setup['peer']>): Promise<{ run: () => Promise<void>; release: () => Promise<void> }> {
  const file = path.join(tmp, `${name.replace(/[^a-z0-9]+/gi, '_')}.onnx`);
  fs.writeFileSync(file, peer.graph().encode());
  const session = await ort.InferenceSession.create(file, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const feeds = Object.fromEntries(Object.entries(peer.inputs).map(([k, t]) => [k, new ort.Tensor('float32', t.toArray(), [...t.shape])]));
  return {
    run: async () => { await session.run(feeds); },
    release: async () => { await session.release(); fs.rmSync(file, { force: true }); },
  };
}

const seconds = (t0: number) => (performance.now() - t0) / 1000;

console.log(`models benchmark: ${os.cpus()[0]?.model ?? 'cpu'}, ISA ${info.cpu.isa}, ${threads} threads (ours and onnxruntime's intra-op), ` +
  `onnxruntime-node ${ortVersion}, OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY}, best of ${rounds} interleaved rounds`);
console.log('case'.padEnd(46) + 'ours s'.padStart(9) + '  s/image' + '  peak MiB' + '   onnxrt s' + '  ours/onnxrt');
try {
  for (const c of cases.filter((k) => k.name.includes(filter))) {
    const { run, peer, release, output } = c.setup();
    const other = peer ? await peerSession(c.name, peer) : null;
    const bf16 = info.cpu.bf16 && output !== undefined;  // also timed at precision bf16, in the same rounds
    run(); // warm-up
    await other?.run();
    if (bf16) withPrecision('bf16', run);
    native.resetPeakMemory();
    const base = native.memory().cpuBytes;
    let best = Infinity, bestPeer = Infinity, best16 = Infinity;
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now();
      run();
      best = Math.min(best, seconds(t0));
      if (other) {
        t0 = performance.now();
        await other.run();
        bestPeer = Math.min(bestPeer, seconds(t0));
      }
      if (bf16) {
        withPrecision('bf16', () => {
          t0 = performance.now();
          run();
          best16 = Math.min(best16, seconds(t0));
        });
      }
    }
    const peak = (native.memory().cpuPeakBytes - base) / 2 ** 20;
    console.log(
      c.name.padEnd(46) + best.toFixed(3).padStart(9) + (best / c.images).toFixed(3).padStart(9) + peak.toFixed(0).padStart(10) +
      (other ? bestPeer.toFixed(3) : '-').padStart(11) + (other ? `${(best / bestPeer).toFixed(2)}x` : '-').padStart(13),
    );
    if (bf16) {
      const ref = output!();
      const out = withPrecision('bf16', output!);
      const time = best16;
      let diff = 0, scale = 0;
      for (let i = 0; i < ref.length; i++) { diff = Math.max(diff, Math.abs(out[i]! - ref[i]!)); scale = Math.max(scale, Math.abs(ref[i]!)); }
      console.log(
        '  at precision bf16'.padEnd(46) + time.toFixed(3).padStart(9) + (time / c.images).toFixed(3).padStart(9) + ''.padStart(10) + ''.padStart(11) +
        (other ? `${(time / bestPeer).toFixed(2)}x` : '-').padStart(13) +
        `   ${(best / time).toFixed(2)}x float32's speed, max difference ${(diff / scale).toExponential(1)}`,
      );
    }
    await other?.release();
    release();
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`process peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
