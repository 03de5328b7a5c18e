// sgi sweep --configs <dir>: trains every experiment config in a folder through Nx, so an
// experiment whose config and code did not change is restored from the cache, not re-run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Argv } from 'yargs';
import { experimentProject, isExperimentConfig, workspaceRoot } from '@sgi/experiment';

export function sweepCommand(y: Argv): Argv {
  return y.command(
    'sweep',
    'Train every config in a folder as Nx targets (cached: unchanged experiments are skipped)',
    (a) => a.option('configs', { type: 'string', demandOption: true, describe: 'folder of experiment configs, e.g. configs/ablations or configs/tiny/ablations' }),
    (argv) => {
      const root = workspaceRoot();
      const dir = path.resolve(argv.configs);
      if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`not a folder of configs: ${argv.configs}`);
      const rel = (f: string) => path.relative(root, path.join(dir, f)).split(path.sep).join('/');
      const files = fs.readdirSync(dir).filter((f) => isExperimentConfig(rel(f))).sort();
      if (!files.length) throw new Error(`no experiment configs in ${argv.configs}`);
      if (!rel(files[0]!).startsWith('configs/')) throw new Error(`${argv.configs} is not under ${path.join(root, 'configs')}: only configs there are Nx experiments`);
      const projects = files.map((f) => experimentProject(rel(f)));
      console.log(`sweep over ${projects.length} experiment(s): ${projects.join(', ')}`);
      const r = spawnSync('npx', ['nx', 'run-many', '-t', 'train', '-p', projects.join(','), '--parallel=1'], { cwd: root, stdio: 'inherit', env: { ...process.env, NX_DAEMON: 'false' } });
      if (r.status !== 0) process.exit(r.status ?? 1);
    },
  );
}
