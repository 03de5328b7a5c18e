// The options every command that runs a trained model shares: the experiment config, the
// checkpoint when not the run's own best, the device to run on and the CPU precision.
import type { Argv } from 'yargs';
import { PRECISIONS, native, setPrecision, type Precision } from '@sgi/core';

export const DEVICE_CHOICES = ['auto', 'cpu', 'cuda'] as const;

/** --device: where the networks run (default: the config's `device`, itself 'auto' by default). */
export function deviceOption<T>(a: Argv<T>) {
  return a.option('device', {
    choices: DEVICE_CHOICES,
    describe: "where the networks run: cuda, cpu, or auto (CUDA when a usable GPU is present, else the CPU; SGI_DEVICE overrides auto). Default: the config's device (auto)",
  });
}

/** --precision: float32 (default) or bf16 on CPUs with AVX-512 BF16 (core/src/precision.ts). */
export function precisionOption<T>(a: Argv<T>) {
  return a.option('precision', {
    choices: PRECISIONS,
    default: 'float32' as Precision,
    describe: 'CPU arithmetic: float32, or bf16 (AVX-512 BF16 CPUs only): GEMM-based convolutions and linear layers multiply ' +
      'bf16-rounded values with float32 sums; Winograd convolutions and matrix-vector products stay float32. ' +
      'npx nx run core:bench prints its speed and accuracy against float32 on this machine',
  });
}

/** Applies --precision before a command runs (a yargs middleware); bf16 is announced with what it changes. */
export function applyPrecision(argv: Record<string, unknown>): void {
  const p = argv.precision as Precision | undefined;
  if (!p || p === 'float32') return;
  if (!native.info().cpu.bf16) throw new Error(`--precision ${p} needs a CPU with AVX-512 BF16; this one (${native.info().cpu.isa}) runs float32 only`);
  setPrecision(p);
  console.error(`precision ${p}: GEMM-based convolutions and linear layers use bf16 products (results differ from float32 by about 1e-3 relative)`);
}

export function trainedModelOptions<T>(a: Argv<T>, configHelp = 'experiment config the checkpoint was trained with') {
  return precisionOption(deviceOption(a
    .option('config', { type: 'string', demandOption: true, describe: configHelp })
    .option('checkpoint', { type: 'string', describe: "checkpoint (default: the newest best checkpoint of the config's run)" })));
}
