// The CUDA error paths, run on the CUDA emulator build (SGI_CUDA_EMU=ON; `npm test` runs this file
// with SGI_NATIVE_PATH pointing at it): a failing kernel launch and a failing device allocation
// become JS errors that name what failed, and the process goes on computing.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { native, Tensor } from '../src/index.js';

const info = native.info();
const addon = native as typeof native & { debugThrow(kind: string): never };

/** Runs `code` (CommonJS, with `n` = the addon) in a fresh Node process with `env` added. */
function child(code: string, env: Record<string, string>): string {
  const r = spawnSync(process.execPath, ['-e', `const n = require('@sgi/native-cuda');\n${code}`], {
    env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('the CUDA emulator', () => {
  it('is the CUDA device of this build, named as emulated, without cuDNN', () => {
    expect(process.env.SGI_NATIVE_PATH, 'run with SGI_NATIVE_PATH = the build-emu addon (npm test does)').toMatch(/build-emu/);
    expect(info.cuda).toMatchObject({ compiled: true, available: true, deviceCount: 1, cudnn: false });
    expect(info.cuda.deviceName).toMatch(/emulat/);
    expect(info.cuda.cudnnReason).toMatch(/emulated device/);
  });

  it('a failing kernel launch is a JS error naming the kernel and its launch site; the process goes on', () => {
    expect(() => addon.debugThrow('cuda_launch')).toThrow(
      /^debugThrow: CUDA error: invalid configuration argument .*block \(2048, 1, 1\).* in kernel debug_kernel launched at cuda_runtime\.cu:\d+ .*SGI_CUDA_SYNC=1/);
    const x = Tensor.fromArray([1, 2, 3], [3], 'cuda');
    expect([...x.to('cpu').toArray()]).toEqual([1, 2, 3]);
    x.release();
  });

  it('SGI_CUDA_SYNC=1 checks after every launch (and says so by not pointing at earlier launches)', () => {
    const out = child(`try { n.debugThrow('cuda_launch'); } catch (e) { console.log(e.message); }`, { SGI_CUDA_SYNC: '1' });
    expect(out).toMatch(/in kernel debug_kernel launched at cuda_runtime\.cu:\d+\n$/);
  });

  it('running out of device memory is a JS error with the size asked for; smaller tensors still work', () => {
    const out = child(`
      try { new n.Storage(1000, 1); console.log('allocated'); } catch (e) { console.log(e.message); }
      const s = new n.Storage(100, 1);
      console.log('alive', s.numel, n.memory().cudaBytes);`, { SGI_CUDA_EMU_MEMORY: '1000' });
    expect(out).toMatch(/^CUDA error: out of memory at .*cuda_runtime\.cu:\d+ \(Storage of 1000 float32 elements, 4000 bytes, on cuda\)\nalive 100 400\n$/);
  });
});
