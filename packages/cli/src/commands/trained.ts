// The options every command that runs a trained model shares: the experiment config and, when not
// the run's own best, the checkpoint.
import type { Argv } from 'yargs';

export function trainedModelOptions<T>(a: Argv<T>, configHelp = 'experiment config the checkpoint was trained with') {
  return a
    .option('config', { type: 'string', demandOption: true, describe: configHelp })
    .option('checkpoint', { type: 'string', describe: "checkpoint (default: the newest best checkpoint of the config's run)" });
}
