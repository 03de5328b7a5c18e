// Nx plugin: the experiments and the paper's tables as cached Nx targets.
// - Every experiment config under configs/ (not base files) is a project `exp-<folder>-<file>`
//   (the rule in packages/experiment/naming.cjs) with a cached `train` target: its inputs are the
//   config, its `extends` chain and its earlier stages' configs, plus the code; its output is its
//   run folder runs/<name>/; it depends on the train targets of its earlier stages.
// - packages/eval/tables.yaml (the one list of table rows) gives the eval project a cached
//   `table1`/`table2`/`table3` target that depends on the train targets of the table's tiny rows.
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');
const { experimentProject, isExperimentConfig } = require('../packages/experiment/naming.cjs');

function readConfig(root, file) {
  const abs = path.join(root, file);
  const text = fs.readFileSync(abs, 'utf8');
  const raw = file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  if (!raw || typeof raw !== 'object') throw new Error(`${file}: a config must be a mapping of keys`);
  const list = Array.isArray(raw.previousStages) ? raw.previousStages.filter((p) => typeof p === 'string') : [];
  // weight files the config names (a retrained face generator must retrain what uses it)
  const weights = [raw.generator?.checkpoint, raw.loss?.lpips?.linear, raw.loss?.lpips?.alexnet, raw.loss?.id?.checkpoint, raw.loss?.parsing?.checkpoint]
    .filter((p) => typeof p === 'string');
  return { name: raw.name, extends: typeof raw.extends === 'string' ? raw.extends : undefined, previousStages: list, weights };
}

const rel = (dir, p) => path.posix.normalize(path.posix.join(dir, p));

/** The config, its `extends` chain and (recursively) the configs of its previous stages. */
function configInputs(root, file, seen = new Set()) {
  if (seen.has(file) || !fs.existsSync(path.join(root, file))) return seen;
  seen.add(file);
  const cfg = readConfig(root, file);
  const dir = path.posix.dirname(file);
  for (const w of cfg.weights) {
    const f = rel(dir, w);
    if (!f.startsWith('..') && fs.existsSync(path.join(root, f))) seen.add(f);
  }
  if (cfg.extends) configInputs(root, rel(dir, cfg.extends), seen);
  for (const p of cfg.previousStages) if (/\.(ya?ml|json)$/.test(p)) configInputs(root, rel(dir, p), seen);
  return seen;
}

function experimentNode(root, file) {
  const cfg = readConfig(root, file);
  const dir = path.posix.dirname(file);
  const deps = cfg.previousStages.filter((p) => /\.(ya?ml|json)$/.test(p)).map((p) => ({ projects: [experimentProject(rel(dir, p))], target: 'train' }));
  const name = experimentProject(file);
  return {
    projects: {
      [file.replace(/\.(ya?ml|json)$/, '')]: {
        name,
        tags: ['experiment', `experiment:${dir.replace(/^configs\/?/, '')}`],
        implicitDependencies: ['core', 'losses', 'experiment', 'trainer'],
        targets: {
          train: {
            executor: 'nx:run-commands',
            cache: true,
            inputs: [...configInputs(root, file)].map((f) => `{workspaceRoot}/${f}`).concat([{ externalDependencies: ['sharp'] }, '^default']),
            outputs: [`{workspaceRoot}/runs/${cfg.name ?? name}`],
            dependsOn: [{ projects: ['trainer'], target: 'build' }, ...deps],
            // a cache miss over an existing run of the same config continues it (a finished run
            // has nothing left to do); a run of another config in that folder is replaced
            options: { command: `node packages/trainer/dist/main.js --config ${file} --resume --overwrite`, cwd: '{workspaceRoot}' },
          },
        },
      },
    },
  };
}

function tablesNode(root, file) {
  const tables = YAML.parse(fs.readFileSync(path.join(root, file), 'utf8'));
  const targets = {};
  for (const [table, def] of Object.entries(tables)) {
    const tiny = def.rows.map((r) => r.configs.tiny).filter(Boolean);
    targets[table] = {
      executor: 'nx:run-commands',
      cache: true,
      // every row's config, its extends chain, earlier stages and named weight files (a retrained
      // generator re-runs the table, as it re-runs the trainings)
      inputs: ['default', '^default', ...[file, ...new Set(tiny.flatMap((c) => [...configInputs(root, c)]))].map((f) => `{workspaceRoot}/${f}`), '{workspaceRoot}/configs/tiny/**/*'],
      outputs: [`{workspaceRoot}/results/${table}-tiny`],
      dependsOn: [{ projects: ['cli'], target: 'build' }, { projects: [...new Set(tiny.map(experimentProject))], target: 'train' }],
      options: { command: `node packages/cli/dist/main.js table ${table}`, cwd: '{workspaceRoot}' },
    };
  }
  return { projects: { [path.posix.dirname(file)]: { targets } } };
}

const createNodesV2 = [
  '{configs/**/*.{yaml,yml,json},packages/eval/tables.yaml}',
  (files, _options, context) =>
    files
      .filter((f) => f === 'packages/eval/tables.yaml' || isExperimentConfig(f))
      .map((file) => [file, file === 'packages/eval/tables.yaml' ? tablesNode(context.workspaceRoot, file) : experimentNode(context.workspaceRoot, file)]),
];

module.exports = { name: 'sgi-experiments', createNodesV2 };
