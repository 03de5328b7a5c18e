// Where things live: the workspace is the nearest folder with nx.json (or the current folder);
// runs go to <workspace>/runs (SGI_RUNS_DIR overrides); pretrained weights are read from
// <workspace>/pretrained, the one default weight folder named in README, configs and errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { experimentProject } from '../naming.cjs';

/** The folder of the user-supplied (and shipped) pretrained weights, relative to the workspace. */
export const DEFAULT_WEIGHTS_DIR = 'pretrained';

/** The nearest folder at or above `start` holding nx.json, or null. */
export function findWorkspace(start: string): string | null {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'nx.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

export function workspaceRoot(start = process.cwd()): string {
  return findWorkspace(start) ?? path.resolve(start);
}

export function runsRoot(): string {
  return process.env.SGI_RUNS_DIR ? path.resolve(process.env.SGI_RUNS_DIR) : path.join(workspaceRoot(), 'runs');
}

/** The Nx project (`exp-*`) that trains a config file, or null when it is outside the workspace's configs/. */
export function experimentProjectOf(configFile: string, workspace = workspaceRoot()): string | null {
  const rel = path.relative(workspace, path.resolve(configFile)).split(path.sep).join('/');
  return rel.startsWith('configs/') ? experimentProject(rel) : null;
}
