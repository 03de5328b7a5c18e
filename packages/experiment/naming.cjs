// The one rule that names experiments: every config file under configs/ (except base files) is
// the Nx project "exp-<folder>-<file>" (slashes and underscores become dashes), e.g.
// configs/tiny/stage2_noresidual.yaml -> exp-tiny-stage2-noresidual. Plain CommonJS so that the
// Nx plugin (tools/nx-experiments.cjs) can load it before anything is built.
'use strict';

const CONFIG_FILE = /\.(ya?ml|json)$/;
const BASE_FILE = /(^|\/)base\.(ya?ml|json)$/;

/** Nx project name of a config file given relative to the workspace ("configs/tiny/stage1.yaml"). */
function experimentProject(relFile) {
  const posix = String(relFile).split('\\').join('/');
  return 'exp-' + posix.replace(/^(\.\/)?configs\//, '').replace(CONFIG_FILE, '').replace(/[/_]/g, '-');
}

/** Whether a workspace-relative file is an experiment config (not a base file other configs extend). */
function isExperimentConfig(relFile) {
  const posix = String(relFile).split('\\').join('/');
  return CONFIG_FILE.test(posix) && !BASE_FILE.test(posix);
}

module.exports = { experimentProject, isExperimentConfig };
