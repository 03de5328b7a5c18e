// The IR-SE fused inference path on CUDA tensors (vitest project cuda-emu: the CUDA emulator
// build): the folding (BatchNorm into weights, input affine, PReLU, SE channel sums and gate)
// is device-independent, and ops.conv2dFused / scaleChannelsAdd run the unfused CUDA ops. The
// backbone must give the CPU's values and never reach the CPU-only kernels with CUDA tensors.
import { describe, it, expect } from 'vitest';
import { IRSEBackbone, Rng, Tensor, native, noGrad, tidy } from '../src/index.js';
import { CPU_ONLY_KERNELS, kernelsReachedOnCuda, relativeError } from '../src/cuda_parity.js';

describe.skipIf(!native.info().cuda.available)('IR-SE fused inference on CUDA', () => {
  it('gives the CPU values, through the unfused CUDA ops', () => {
    tidy(() => {
      const net = new IRSEBackbone({ inChannels: 3, widths: [16, 32], units: [2, 2], seReduction: 4 }, new Rng(3));
      const rng = new Rng(4);
      const state = new Map<string, Tensor>();
      for (const [name, t] of net.stateDict()) {
        if (name.endsWith('running_var')) state.set(name, rng.uniform([...t.shape], 0.5, 2));
        else if (name.endsWith('running_mean') || name.endsWith('.bias')) state.set(name, rng.uniform([...t.shape], -0.3, 0.3));
        else state.set(name, t);
      }
      net.loadStateDict(state);
      net.eval().freeze();
      const x = new Rng(5).randn([2, 3, 32, 32]);
      const cpu = noGrad(() => net.forwardStages(x)).map((t) => t.toArray());
      net.to('cuda');
      const xc = x.to('cuda');
      let cuda: Float32Array[] = [];
      const { reached } = kernelsReachedOnCuda(() => { cuda = noGrad(() => net.forwardStages(xc)).map((t) => t.toArray()); });
      expect(reached.has('conv2dForward')).toBe(true);
      for (const k of CPU_ONLY_KERNELS) expect(reached.has(k), k).toBe(false);
      cuda.forEach((c, i) => expect(relativeError(c, cpu[i]!), `stage ${i}`).toBeLessThan(1e-5));
      net.release();
    });
  });
});
