// The options every command that runs a trained model shares: the experiment config, the
// checkpoint when not the run's own best, and the device to run on.
import type { Argv } from 'yargs';

export const DEVICE_CHOICES = ['auto', 'cpu', 'cuda'] as const;

/** --device: where the networks run (default: the config's `device`, itself 'auto' by default). */
export function deviceOption<T>(a: Argv<T>) {
  return a.option('device', {
    choices: DEVICE_CHOICES,
    describe: "where the networks run: cuda, cpu, or auto (CUDA when a usable GPU is present, else the CPU; SGI_DEVICE overrides auto). Default: the config's device (auto)",
  });
}

export function trainedModelOptions<T>(a: Argv<T>, configHelp = 'experiment config the checkpoint was trained with') {
  return deviceOption(a
    .option('config', { type: 'string', demandOption: true, describe: configHelp })
    .option('checkpoint', { type: 'string', describe: "checkpoint (default: the newest best checkpoint of the config's run)" }));
}
