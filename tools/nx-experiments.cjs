// Nx plugin: every experiment config under configs/ (except base.yaml files) becomes a project
// "exp-<dir>-<file>" with a cached `train` target whose inputs are the config files and the code
// it runs, and whose output is its run directory; later stages depend on their earlier stages.
const fs = require('node:fs');
const path = require('node:path');

function projectName(file) {
  return 'exp-' + file.replace(/^configs\//, '').replace(/\.(ya?ml|json)$/, '').replace(/[\/_]/g, '-');
}

function readYamlLite(file) {
  // Only the few top-level keys we need (name, previousStages, extends), without a YAML dependency.
  const text = fs.readFileSync(file, 'utf8');
  const get = (key) => {
    const m = text.match(new RegExp(`^${key}:\\s*(.+)$`, 'm'));
    return m ? m[1].trim() : undefined;
  };
  const list = (v) => (v ? v.replace(/^\[|\]$/g, '').split(',').map((s) => s.trim()).filter(Boolean) : []);
  return { name: get('name'), extends: get('extends'), previousStages: list(get('previousStages')) };
}

/** The config, its `extends` chain and (recursively) the configs of its previous stages. */
function configInputs(root, file, seen = new Set()) {
  if (seen.has(file)) return seen;
  seen.add(file);
  const abs = path.join(root, file);
  if (!fs.existsSync(abs)) return seen;
  const cfg = readYamlLite(abs);
  const dir = path.posix.dirname(file);
  if (cfg.extends) configInputs(root, path.posix.normalize(path.posix.join(dir, cfg.extends)), seen);
  for (const p of cfg.previousStages) configInputs(root, path.posix.normalize(path.posix.join(dir, p)), seen);
  return seen;
}

const createNodesV2 = [
  'configs/**/*.{yaml,yml,json}',
  (files, _options, context) =>
    files
      .filter((f) => !/(^|\/)base\.(ya?ml|json)$/.test(f))
      .map((file) => {
        const abs = path.join(context.workspaceRoot, file);
        const cfg = readYamlLite(abs);
        const dir = path.dirname(file);
        const deps = cfg.previousStages.map((p) => ({ projects: [projectName(path.posix.join(dir, p))], target: 'train' }));
        const name = projectName(file);
        const root = file.replace(/\.(ya?ml|json)$/, '');
        return [
          file,
          {
            projects: {
              [root]: {
                name,
                tags: ['experiment', `experiment:${dir.replace(/^configs\//, '')}`],
                targets: {
                  train: {
                    executor: 'nx:run-commands',
                    cache: true,
                    inputs: [...[...configInputs(context.workspaceRoot, file)].map((f) => `{workspaceRoot}/${f}`), { externalDependencies: ['sharp'] }, '^default'],
                    outputs: [`{workspaceRoot}/runs/${cfg.name ?? name}`],
                    dependsOn: [{ projects: ['cli'], target: 'build' }, ...deps],
                    options: { command: `node packages/cli/dist/main.js train --config ${file}`, cwd: '{workspaceRoot}' },
                  },
                },
                implicitDependencies: ['core', 'losses', 'trainer', 'cli'],
              },
            },
          },
        ];
      }),
];

module.exports = { name: 'sgi-experiments', createNodesV2 };
