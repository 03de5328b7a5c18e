/** Nx project name of a config file given relative to the workspace ("configs/tiny/stage1.yaml"). */
export declare function experimentProject(relFile: string): string;
/** Whether a workspace-relative file is an experiment config (not a base file other configs extend). */
export declare function isExperimentConfig(relFile: string): boolean;
