// Where runs live: <workspace>/runs, the workspace being the nearest folder with nx.json
// (or the current folder); SGI_RUNS_DIR overrides.
import * as fs from 'node:fs';
import * as path from 'node:path';

export function workspaceRoot(start = process.cwd()): string {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'nx.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

export function runsRoot(): string {
  return process.env.SGI_RUNS_DIR ? path.resolve(process.env.SGI_RUNS_DIR) : path.join(workspaceRoot(), 'runs');
}
