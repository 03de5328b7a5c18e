// `npx nx run trainer:train [--config=<file>] [options]`: the README's main command. A config under
// configs/ is trained through its own cached experiment target (exp-*), so this command and
// `npx nx run exp-tiny-stage1:train` are one run and one cache entry: the tables that need it
// later find it trained. Other configs run `sgi-train` directly. Options are passed on.
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import naming from '../packages/experiment/naming.cjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
let config = 'configs/tiny/stage1.yaml';
const rest = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--config') config = args[++i];
  else if (a.startsWith('--config=')) config = a.slice('--config='.length);
  else rest.push(a);
}
const relFile = path.relative(root, path.resolve(config)).split(path.sep).join('/');
const run = (cmd, argv) => spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, NX_DAEMON: 'false' } }).status ?? 1;
if (relFile.startsWith('configs/') && naming.isExperimentConfig(relFile)) {
  const project = naming.experimentProject(relFile);
  console.log(`${relFile} is the Nx experiment ${project}: npx nx run ${project}:train${rest.length ? ` ${rest.join(' ')}` : ''}`);
  process.exit(run('npx', ['nx', 'run', `${project}:train`, '--output-style=stream', ...rest]));
}
process.exit(run(process.execPath, [path.join(root, 'packages/trainer/dist/main.js'), '--config', config, ...rest]));
