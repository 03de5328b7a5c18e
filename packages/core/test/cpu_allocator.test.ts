// The CPU caching allocator (native-cuda src/napi/storage.cc) and what it tells V8. V8 is told the
// bytes the allocator holds from the system (live + cached): storages that are allocated and
// released over and over (every op of a forward pass) add nothing after the first round, so they
// no longer start a major GC each round; storages dropped without release() still grow that
// footprint, and the GC still finalises them. Each case runs in a fresh Node process so its GC
// count is its own.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { native } from '../src/index.js';

/** Runs `body` (CommonJS, async, with `n` = the addon and `majors()` = major GCs so far) in a fresh process; returns its JSON output. */
function child(body: string): Record<string, number> {
  const code = `
    const n = require('@sgi/native-cuda');
    const { PerformanceObserver, constants } = require('node:perf_hooks');
    let count = 0;
    new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) count++; })
      .observe({ entryTypes: ['gc'] });
    const majors = () => count;
    const tick = () => new Promise((r) => setImmediate(r));
    (async () => { ${body} })().catch((e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, number>;
}

const MiB = 2 ** 20;

describe('the CPU caching allocator', () => {
  it('hands a released block to the next storage of the same size', () => {
    native.emptyCache();
    const a = new native.Storage(1 << 20, 0);
    a.release();
    expect(native.memory().cpuCachedBytes).toBe(4 * MiB);
    const b = new native.Storage(1 << 20, 0);
    expect(native.memory().cpuCachedBytes).toBe(0);
    b.release();
    native.emptyCache();
    expect(native.memory().cpuCachedBytes).toBe(0);
  });

  it('rounds of allocate-then-release do not start a major GC each round', () => {
    // 50 rounds of 8 x 16 MiB: reported as live bytes, each round was 128 MiB of new external
    // memory and a major GC (42 of them measured); as the allocator's footprint, only the first.
    const out = child(`
      for (let i = 0; i < 50; i++) {
        const held = Array.from({ length: 8 }, () => new n.Storage(4 << 20, 0));
        for (const s of held) s.release();
        await tick();
      }
      await new Promise((r) => setTimeout(r, 50));
      console.log(JSON.stringify({ majors: majors() }));`);
    expect(out.majors).toBeLessThanOrEqual(3);
  });

  it('storages dropped without release() are still finalised by the GC', () => {
    // 200 x 16 MiB = 3.2 GiB allocated and never released: the footprint's growth prompts
    // collections, so the live bytes stay far below the total.
    const out = child(`
      let peak = 0;
      for (let i = 0; i < 200; i++) {
        new n.Storage(4 << 20, 0);
        peak = Math.max(peak, n.memory().cpuBytes);
        if (i % 4 === 0) await tick();
      }
      console.log(JSON.stringify({ peakMiB: peak / 2 ** 20, majors: majors() }));`);
    expect(out.majors).toBeGreaterThan(0);
    expect(out.peakMiB).toBeLessThan(1600);
  });
});
