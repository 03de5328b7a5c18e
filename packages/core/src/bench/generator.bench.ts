// Generator throughput: `SGI_NATIVE_PATH=... npx vitest bench --run packages/core/src/bench/generator.bench.ts`
// (GEN_BENCH_SIZE, GEN_BENCH_BATCH to change the resolution and batch; defaults 256 and 1).
// Measures inference (no grad) and the encoder's case: frozen generator, gradient to W+ only.
// GEN_BENCH_PROFILE=1 also prints one step's backward time per op and the memory the forward holds
// for the backward (=3: per op and shape).
import { bench, describe } from 'vitest';
import { Tensor } from '../tensor.js';
import { native } from '../native.js';
import { tidy } from '../scope.js';
import { noGrad } from '../autograd.js';
import { Rng } from '../random.js';
import { StyleGAN2Generator } from '../models/stylegan2.js';

const size = Number(process.env.GEN_BENCH_SIZE ?? 256);
const batch = Number(process.env.GEN_BENCH_BATCH ?? 1);
const g = new StyleGAN2Generator({ size, styleDim: 512, nMlp: 8, channelMultiplier: 2 }).freeze();
const wPlus = new Rng(1).randn([batch, g.nLatent, 512], 'cpu', 0.5);
wPlus.persistent = true;
wPlus.requiresGrad = true;

describe(`StyleGAN2 ${size}, batch ${batch}`, () => {
  bench('synthesis, no grad', () => {
    noGrad(() => g.synthesis(wPlus)).release();
  }, { iterations: 3, warmupIterations: 1 });
  bench('synthesis + backward to W+ (frozen G)', () => {
    tidy(() => {
      const img = g.synthesis(wPlus);
      img.backward(Tensor.ones(img.shape));
    });
    wPlus.grad?.release();
    wPlus.grad = null;
  }, { iterations: 3, warmupIterations: 1 });
});

/** With GEN_BENCH_PROFILE=1: time of each backward rule by op name (one step), printed once. */
if (process.env.GEN_BENCH_PROFILE) for (let rep = 0; rep < 3; rep++) {
  tidy(() => {
    native.resetPeakMemory();
    const base = native.memory().cpuBytes;
    let t0 = performance.now();
    const img = g.synthesis(wPlus);
    const fwd = performance.now() - t0;
    const held = native.memory().cpuBytes - base;
    const seen = new Set<unknown>();
    const times = new Map<string, [number, number]>();
    const stack: Tensor[] = [img];
    while (stack.length) {
      const t = stack.pop()!;
      const node = t.gradNode;
      if (!node || seen.has(node)) continue;
      seen.add(node);
      const inner = node.backward;
      node.backward = (gr) => {
        const s = performance.now();
        const r = inner(gr);
        const key = process.env.GEN_BENCH_PROFILE === '3' ? `${node.name} ${gr.shape.join('x')} <- ${node.inputs.map((i) => (i ? i.shape.join('x') + (i.requiresGrad || i.gradNode ? '*' : '') : '-')).join(', ')}` : node.name;
        const e = times.get(key) ?? [0, 0];
        times.set(key, [e[0] + performance.now() - s, e[1] + 1]);
        return r;
      };
      for (const i of node.inputs) if (i) stack.push(i);
    }
    t0 = performance.now();
    img.backward(Tensor.ones(img.shape));
    const bwd = performance.now() - t0;
    if (rep < 2) return;
    console.log(`forward ${fwd.toFixed(0)} ms (holds ${(held / 2 ** 20).toFixed(0)} MiB for backward), backward ${bwd.toFixed(0)} ms, peak ${((native.memory().cpuPeakBytes - base) / 2 ** 20).toFixed(0)} MiB`);
    for (const [k, [ms, n]] of [...times].sort((a, b) => b[1][0] - a[1][0])) console.log(`  ${k.padEnd(60)} ${ms.toFixed(1).padStart(8)} ms  x${n}`);
  });
  wPlus.grad?.release();
  wPlus.grad = null;
}
