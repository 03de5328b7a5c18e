// The Nx side of experiments: one naming rule, one table list, configs read with a YAML parser,
// and the README's main command going through the same cached target as the tables.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { experimentProject, experimentProjectOf } from '../src/index.js';
import { tempDir } from './micro.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const require = createRequire(import.meta.url);

type Target = { command?: string; options?: { command: string }; dependsOn: ({ projects: string[]; target: string } | string)[]; outputs: string[]; inputs: unknown[] };
type Nodes = Record<string, { projects: Record<string, { name?: string; targets: Record<string, Target> }> }>;

/** Runs the workspace's Nx plugin on a list of files, as Nx does. */
function pluginNodes(root: string, files: string[]): Nodes {
  const plugin = require(path.join(repo, 'tools/nx-experiments.cjs')) as { createNodesV2: [string, (f: string[], o: unknown, c: { workspaceRoot: string }) => [string, Nodes[string]][]] };
  return Object.fromEntries(plugin.createNodesV2[1](files, {}, { workspaceRoot: root }));
}

function configFiles(): string[] {
  return fs.readdirSync(path.join(repo, 'configs'), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ya?ml|json)$/.test(f)).map((f) => `configs/${f.split(path.sep).join('/')}`);
}

describe('experiments as Nx targets', () => {
  it('every experiment config is one exp-* project named by the one rule, base files are not', () => {
    const nodes = pluginNodes(repo, configFiles());
    const names = Object.values(nodes).flatMap((n) => Object.values(n.projects).map((p) => p.name));
    expect(names).toContain('exp-tiny-stage1');
    expect(names).toContain('exp-tiny-stage2-noresidual');
    expect(names).toContain('exp-tiny-ablations-d-fpn');
    expect(names.some((n) => /base/.test(n!))).toBe(false);
    expect(experimentProject('configs/tiny/stage2_noresidual.yaml')).toBe('exp-tiny-stage2-noresidual');
    expect(experimentProjectOf(path.join(repo, 'configs/tiny/stage1.yaml'), repo)).toBe('exp-tiny-stage1');
    const stage3 = nodes['configs/tiny/stage3.yaml']!.projects['configs/tiny/stage3']!.targets.train!;
    expect(stage3.dependsOn).toEqual(expect.arrayContaining([{ projects: ['exp-tiny-stage1'], target: 'train' }, { projects: ['exp-tiny-stage2'], target: 'train' }]));
    expect(stage3.outputs).toEqual(['{workspaceRoot}/runs/tiny-stage3']);
    // a cache miss over an existing run continues it instead of starting over in the same folder
    expect(stage3.options!.command).toBe('node packages/trainer/dist/main.js --config configs/tiny/stage3.yaml --resume --overwrite');
  });

  it('reads configs with a YAML parser: JSON configs and block lists count', () => {
    const ws = tempDir('nxws');
    fs.mkdirSync(path.join(ws, 'configs/x'), { recursive: true });
    fs.writeFileSync(path.join(ws, 'configs/x/base.yaml'), 'name: b\n');
    fs.writeFileSync(path.join(ws, 'configs/x/one.json'), JSON.stringify({ extends: 'base.yaml', name: 'json-one' }));
    fs.writeFileSync(path.join(ws, 'configs/x/two.yaml'), 'extends: base.yaml\nname: "two"   # quoted, with a comment\npreviousStages:\n  - one.json\n');
    const nodes = pluginNodes(ws, ['configs/x/base.yaml', 'configs/x/one.json', 'configs/x/two.yaml']);
    const two = nodes['configs/x/two.yaml']!.projects['configs/x/two']!.targets.train!;
    expect(two.outputs).toEqual(['{workspaceRoot}/runs/two']);
    expect(two.dependsOn).toContainEqual({ projects: ['exp-x-one'], target: 'train' });
    expect(two.inputs).toEqual(expect.arrayContaining(['{workspaceRoot}/configs/x/two.yaml', '{workspaceRoot}/configs/x/one.json', '{workspaceRoot}/configs/x/base.yaml']));
    expect(nodes['configs/x/one.json']!.projects['configs/x/one']!.targets.train!.outputs).toEqual(['{workspaceRoot}/runs/json-one']);
    expect(nodes['configs/x/base.yaml']).toBeUndefined();
  });

  it('the eval tables come from the one list in packages/eval/tables.yaml', () => {
    const tables = parseYaml(fs.readFileSync(path.join(repo, 'packages/eval/tables.yaml'), 'utf8')) as Record<string, { rows: { configs: { tiny?: string } }[] }>;
    const nodes = pluginNodes(repo, ['packages/eval/tables.yaml']);
    const targets = nodes['packages/eval/tables.yaml']!.projects['packages/eval']!.targets;
    expect(Object.keys(targets).sort()).toEqual(Object.keys(tables).sort());
    for (const [name, def] of Object.entries(tables)) {
      const trains = targets[name]!.dependsOn.find((d) => typeof d === 'object' && d.target === 'train') as { projects: string[] };
      expect([...trains.projects].sort()).toEqual([...new Set(def.rows.map((r) => experimentProject(r.configs.tiny!)))].sort());
    }
    expect(targets.table1!.dependsOn).toContainEqual({ projects: ['exp-tiny-stage1', 'exp-tiny-stage2', 'exp-tiny-stage3', 'exp-tiny-stage2-noresidual'], target: 'train' });
    // the project file no longer repeats the list
    expect(JSON.parse(fs.readFileSync(path.join(repo, 'packages/eval/project.json'), 'utf8')).targets.table1).toBeUndefined();
  });

  it('the README main command (trainer:train) runs the exp-tiny-stage1 target, and passes options on', () => {
    const project = JSON.parse(fs.readFileSync(path.join(repo, 'packages/trainer/project.json'), 'utf8'));
    expect(project.targets.train.options.command).toBe('node tools/nx-train.mjs');
    // a stand-in `npx` records what the script runs
    const bin = tempDir('fake-npx');
    fs.writeFileSync(path.join(bin, 'npx'), '#!/bin/sh\necho "npx $*"\n', { mode: 0o755 });
    const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` };
    const script = path.join(repo, 'tools/nx-train.mjs');
    const plain = spawnSync(process.execPath, [script], { cwd: repo, env, encoding: 'utf8' });
    expect(plain.stdout).toMatch(/^npx nx run exp-tiny-stage1:train --output-style=stream$/m);
    const stage2 = spawnSync(process.execPath, [script, '--config=configs/tiny/stage2.yaml', '--steps=10'], { cwd: repo, env, encoding: 'utf8' });
    expect(stage2.stdout).toMatch(/^npx nx run exp-tiny-stage2:train --output-style=stream --steps=10$/m);
  });
});
