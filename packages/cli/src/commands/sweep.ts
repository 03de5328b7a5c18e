// sgi sweep --configs <dir>: trains every experiment config in a folder through Nx, so an
// experiment whose config and code did not change is restored from the cache, not re-run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Argv } from 'yargs';
import { workspaceRoot } from '../workspace.js';

/** The Nx project name of a config file (the rule of tools/nx-experiments.cjs). */
export function experimentProject(relFile: string): string {
  return 'exp-' + relFile.replace(/^configs\//, '').replace(/\.(ya?ml|json)$/, '').replace(/[/_]/g, '-');
}

export function sweepCommand(y: Argv): Argv {
  return y.command(
    'sweep',
    'Train every config in a folder as Nx targets (cached: unchanged experiments are skipped)',
    (a) => a.option('configs', { type: 'string', demandOption: true, describe: 'folder of experiment configs, e.g. configs/ablations or configs/tiny/ablations' }),
    (argv) => {
      const root = workspaceRoot();
      const dir = path.resolve(argv.configs);
      if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`not a folder of configs: ${argv.configs}`);
      const files = fs.readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f) && !/^base\./.test(f)).sort();
      if (!files.length) throw new Error(`no experiment configs in ${argv.configs}`);
      const projects = files.map((f) => experimentProject(path.relative(root, path.join(dir, f)).split(path.sep).join('/')));
      console.log(`sweep over ${projects.length} experiment(s): ${projects.join(', ')}`);
      const r = spawnSync('npx', ['nx', 'run-many', '-t', 'train', '-p', projects.join(','), '--parallel=1'], { cwd: root, stdio: 'inherit', env: { ...process.env, NX_DAEMON: 'false' } });
      if (r.status !== 0) process.exit(r.status ?? 1);
    },
  );
}
