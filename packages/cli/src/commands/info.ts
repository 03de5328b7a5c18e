// sgi info --config <file>: the network summary and exact parameter counts per part.
import type { Argv } from 'yargs';
import { Encoder, Rng, native, StyleGAN2Generator } from '@sgi/core';
import { encoderConfig, loadConfig } from '@sgi/experiment';

const fmt = (n: number) => n.toLocaleString('en-US');

export function infoCommand(y: Argv): Argv {
  return y.command(
    'info',
    'Print the networks of a config and their exact parameter counts',
    (a) => a.option('config', { type: 'string', demandOption: true, describe: 'experiment config' }),
    (argv) => {
      const c = loadConfig(argv.config, { checkFiles: false });
      const rows: [string, number][] = [];
      let encTotal = 0;
      for (let s = 1; s <= c.stages; s++) {
        const enc = new Encoder(encoderConfig(c, s), { rng: new Rng(0), inputSize: c.encoder.inputSize });
        const parts = new Map<string, number>();
        for (const [name, p] of enc.namedParameters()) {
          const part = name.startsWith('input_layer') || name.startsWith('body') ? 'backbone' : name.startsWith('latlayer') ? 'fpn' : 'heads';
          parts.set(part, (parts.get(part) ?? 0) + p.numel);
        }
        for (const [part, n] of parts) rows.push([`stage ${s} encoder ${part}`, n]);
        rows.push([`stage ${s} encoder total`, enc.numParameters()]);
        encTotal += enc.numParameters();
        enc.release();
      }
      const g = c.generator;
      const channels = g.channels ? Object.fromEntries(Object.entries(g.channels).map(([k, v]) => [Number(k), v])) : undefined;
      const gen = new StyleGAN2Generator({ size: g.size, styleDim: g.styleDim, nMlp: g.nMlp, channelMultiplier: g.channelMultiplier, channels, lrMlp: g.lrMlp, seed: 0 });
      const info = native.info();
      console.log(`config ${c.name}: ${c.stages} stage(s), head ${c.encoder.head}, backbone widths [${c.encoder.widths}] units [${c.encoder.units}]${c.encoder.fpn ? ' + FPN' : ''}, input ${c.encoder.inputSize}, residual ${c.residual}`);
      console.log(`generator: StyleGAN2 ${g.size}x${g.size}, ${gen.nLatent} latents of ${g.styleDim}, ${g.checkpoint ?? (g.randomInit ? 'random init' : '?')}`);
      console.log(`engine: cpu ${info.cpu.isa} x${info.cpu.threads}; cuda ${info.cuda.compiled ? (info.cuda.available ? info.cuda.deviceName : `compiled, unavailable (${info.cuda.reason})`) : 'not compiled'}; ` +
        `mpi ${info.mpi.compiled ? info.mpi.library : 'not compiled'}; nccl ${info.nccl.found ? `${info.nccl.version}` : `not found (${info.nccl.reason})`}`);
      const width = Math.max(...rows.map(([k]) => k.length), 24);
      for (const [k, n] of rows) console.log(`  ${k.padEnd(width)} ${fmt(n).padStart(14)}`);
      console.log(`  ${'encoders (all stages)'.padEnd(width)} ${fmt(encTotal).padStart(14)}`);
      console.log(`  ${'generator (frozen)'.padEnd(width)} ${fmt(gen.numParameters()).padStart(14)}`);
      gen.release();
    },
  );
}
