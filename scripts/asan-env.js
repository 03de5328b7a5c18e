// The environment a Node process needs to load the sanitizer build of the addon
// (packages/native-cuda/build-emu-asan: SGI_SANITIZE=address,undefined). The vitest project
// cuda-emu-asan (vitest.config.ts) gives it to its forked workers, whose child processes inherit it.
// By hand, in a shell:  eval "$(node scripts/asan-env.js)"  (prints the exports).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** The ASan runtime that g++ (or $CXX) links -fsanitize=address code against, or '' where there is none. */
function asanRuntime() {
  try {
    const file = execFileSync(process.env.CXX || 'g++', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
    return file.startsWith('/') && existsSync(file) ? file : '';
  } catch {
    return '';
  }
}

export function asanEnv() {
  return {
    // ASan must be the first library of the process ("ASan runtime does not come first in initial
    // library list" otherwise): node is not instrumented, so the runtime is preloaded. The UBSan
    // runtime needs no preloading: it comes in as a dependency of the addon.
    LD_PRELOAD: asanRuntime(),
    ASAN_OPTIONS: [
      // Node and V8 keep memory until exit by design: LeakSanitizer would fail every process
      'detect_leaks=0',
      // options set by the caller come last and win (e.g. ASAN_OPTIONS=malloc_fill_byte=0 npx vitest ...)
      ...(process.env.ASAN_OPTIONS ? [process.env.ASAN_OPTIONS] : []),
    ].join(':'),
    UBSAN_OPTIONS: ['print_stacktrace=1', ...(process.env.UBSAN_OPTIONS ? [process.env.UBSAN_OPTIONS] : [])].join(':'),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [k, v] of Object.entries(asanEnv())) process.stdout.write(`export ${k}='${v}'\n`);
}
