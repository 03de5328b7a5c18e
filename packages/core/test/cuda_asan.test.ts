// Proof that the sanitizers are live in the vitest project cuda-emu-asan (the CUDA tests on the
// emulator built with AddressSanitizer and UBSan, build-emu-asan): the worker runs with the ASan
// runtime preloaded, and a deliberate heap overflow on the host, in a kernel on the emulated device
// and a signed overflow each end a child process with the sanitizer's report. Were ASan silently
// not loaded (a plain addon, a missing LD_PRELOAD), this file fails.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { native } from '../src/index.js';

const addon = native as typeof native & { debugAsan?: (kind: string) => unknown };

/** Runs debugAsan(kind) in a fresh Node process (the project's env: LD_PRELOAD, ASAN_OPTIONS). */
function provoke(kind: string) {
  const r = spawnSync(process.execPath, ['-e', `require('@sgi/native-cuda').debugAsan(${JSON.stringify(kind)}); console.log('survived');`], {
    encoding: 'utf8', timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the sanitizer build (cuda-emu-asan)', () => {
  it('runs with the ASan runtime preloaded and the addon of build-emu-asan', () => {
    expect(process.env.SGI_NATIVE_PATH, 'run in the vitest project cuda-emu-asan').toMatch(/build-emu-asan/);
    expect(process.env.LD_PRELOAD, 'the project env preloads the ASan runtime (scripts/asan-env.js)').toMatch(/libasan\.so/);
    expect(readFileSync('/proc/self/maps', 'utf8')).toMatch(/libasan\.so/);
    expect(native.info().cuda).toMatchObject({ compiled: true, available: true });
  });

  it('has debugAsan, a non-enumerable export (not in the kernel list)', () => {
    expect(typeof addon.debugAsan).toBe('function');
    expect(Object.keys(native)).not.toContain('debugAsan');
  });

  it('a read past a host heap buffer ends the process with a heap-buffer-overflow report', () => {
    const r = provoke('host');
    expect(r.stdout).not.toMatch(/survived/);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ERROR: AddressSanitizer: heap-buffer-overflow/);
    expect(r.stderr).toMatch(/READ of size 4 .*\n\s+#0 .* in .*read_past_end .*debug_asan\.cc:\d+/);
  });

  it('a kernel writing past a device buffer is reported from its fiber, with the cudaMalloc that made the buffer', () => {
    const r = provoke('device');
    expect(r.stdout).not.toMatch(/survived/);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/ERROR: AddressSanitizer: heap-buffer-overflow/);
    expect(r.stderr).toMatch(/WRITE of size 4 .*\n\s+#0 .* in debug_asan_kernel .*debug_asan\.cc:\d+/);
    expect(r.stderr).toMatch(/in sgi_emu_fiber_main /);  // the fiber's own stack, as ASan was told
    expect(r.stderr).toMatch(/0 bytes to the right of 40-byte region/);
    expect(r.stderr).toMatch(/in cudaMalloc\b.*emu_runtime\.cc:\d+/);
  });

  it('a signed integer overflow ends the process with a UBSan report', () => {
    const r = provoke('undefined');
    expect(r.stdout).not.toMatch(/survived/);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/debug_asan\.cc:\d+:\d+: runtime error: signed integer overflow/);
  });
});
