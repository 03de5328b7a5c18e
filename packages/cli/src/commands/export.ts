// sgi export --config <file> [--checkpoint <file>] --format onnx --out <file.onnx | folder>
// Writes a trained inversion model as ONNX (opset 17, symbolic batch dimension), encoded by the
// project itself (packages/core/src/io/onnx):
//   --out <folder>      stage1.onnx .. stage<N>.onnx (one encoder stage each, mean latent or previous
//                       code added) and synthesis.onnx (the generator: W+ in, image out)
//   --out <file>.onnx   one graph ('inversion'): every stage chained through the generator: every code and the reconstruction
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Argv } from 'yargs';
import { trainedModelOptions } from './trained.js';
import { onnx } from '@sgi/core';
import { Inverter } from '@sgi/apps';

const FORMATS = ['onnx'] as const;

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** What each graph takes and gives, for the summary the command prints. */
function signature(graph: string, stages: number, S: number, G: number, n: number, D: number): string {
  const img = (s: number) => `[b, 3, ${s}, ${s}]`;
  const code = `[b, ${n}, ${D}]`;
  if (graph === 'synthesis') return `w_plus ${code} -> image ${img(G)}`;
  if (graph === 'stage1') return `image ${img(S)} -> code ${code}`;
  if (graph.startsWith('stage')) return `image ${img(S)}, previous_image ${img(G)}, previous_code ${code} -> code ${code}`;
  return `image ${img(S)} -> ${Array.from({ length: stages }, (_, i) => `code_stage${i + 1}`).join(', ')} ${code}, reconstruction ${img(G)}`;
}

/** --out must be a folder (or a new path) unless it names an .onnx file, and not the other way round. */
function checkOut(out: string): void {
  const file = out.toLowerCase().endsWith('.onnx');
  if (!fs.existsSync(out)) return;
  const dir = fs.statSync(out).isDirectory();
  if (file && dir) throw new Error(`--out ${out} is a folder: an .onnx path must name a file (or drop the extension to write one graph per part into the folder)`);
  if (!file && !dir) throw new Error(`--out ${out} is an existing file: give a folder, or a path ending in .onnx for the single chained graph`);
}

export function exportCommand(y: Argv): Argv {
  return y.command(
    'export',
    'Export a trained encoder (every stage) and the generator\'s synthesis network as ONNX (opset 17, dynamic batch)',
    (a) => trainedModelOptions(a)
      .option('format', { type: 'string', choices: FORMATS, default: 'onnx', describe: 'output format' })
      .option('out', {
        type: 'string', demandOption: true,
        describe: 'a folder: stage1.onnx .. stage<N>.onnx and synthesis.onnx; a path ending in .onnx: one graph chaining every stage through the generator',
      })
      .epilog(
        'Every graph takes and gives float32 NCHW tensors with a symbolic batch dimension; images are in [-1, 1] at the ' +
        "encoder's input size S (the synthesis output is at the generator's size G; the next stage pools it to S). " +
        "Stage t > 1 takes the image, the previous stage's reconstruction (synthesis of its code) and its code. " +
        'BatchNorm runs on its running statistics (eval mode); the generator uses its stored noise buffers.\n\n' +
        'Run them with any ONNX runtime, e.g. onnxruntime-node: (await InferenceSession.create("stage1.onnx")).run({ image }).',
      ),
    (argv) => {
      if (argv.format !== 'onnx') throw new Error(`--format ${argv.format}: only onnx is supported`);
      checkOut(argv.out);
      const inv = Inverter.load(argv.config, { checkpoint: argv.checkpoint, device: argv.device });
      const { model, randomInit, generator } = inv.exp;
      for (const note of randomInit) console.warn(`warning: random-initialised: ${note}`);
      const t0 = performance.now();
      const written = onnx.writeInversionOnnx(model, argv.out, {
        doc: `sgi export of '${inv.config.name}' (${path.basename(inv.checkpoint)}): E2Style inversion, ${model.stages.length} stage(s), StyleGAN2 ${generator.size}x${generator.size}`,
        metadata: {
          config: inv.config.name,
          checkpoint: path.basename(inv.checkpoint),
          stages: String(model.stages.length),
          residual: String(model.residual),
          input_size: String(inv.size),
          generator_size: String(generator.size),
          image_range: '[-1, 1]',
        },
      });
      console.log(`exported '${inv.config.name}' (checkpoint ${inv.checkpoint}) as ONNX opset ${onnx.OPSET} in ${((performance.now() - t0) / 1000).toFixed(1)} s:`);
      for (const w of written) {
        console.log(`  ${w.file}  ${mib(w.bytes)}, ${w.nodes} nodes: ${signature(w.graph, model.stages.length, inv.size, generator.size, inv.nLatent, inv.styleDim)}`);
      }
    },
  );
}
