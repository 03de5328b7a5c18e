// The sgi command as a user runs it in tests: the built dist/main.js in a child process.
// `npm test` builds every package before vitest runs: a missing CLI fails each test, never skips it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const cli = path.join(repo, 'packages/cli/dist/main.js');

/** Runs `sgi args...` in the repository with extra environment; returns exit code, stdout, stderr. */
export function sgi(args: string[], env: Record<string, string> = {}, timeout = 300_000): { code: number | null; out: string; err: string } {
  if (!fs.existsSync(cli)) throw new Error(`${cli} not found: the CLI is not built (run \`npx nx run cli:build\`, or \`npm test\`, which builds first)`);
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: repo, encoding: 'utf8', env: { ...process.env, ...env }, timeout });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
