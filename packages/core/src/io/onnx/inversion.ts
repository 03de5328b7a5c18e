// The graphs `sgi export --format onnx` writes, all with a symbolic batch dimension ('batch'),
// float32 NCHW images in [-1, 1]:
//   encoder      image [b, C, S, S] -> offsets [b, n, D]               one encoder network alone
//   stage<t>     the inversion stage t (paper Eq. 1-2), ready to chain:
//                  t = 1: image -> code = E1(image) + w_avg
//                  t > 1: image, previous_image [b, 3, G, G], previous_code [b, n, D]
//                         -> code = Et(concat(image, pool(previous_image))) + previous_code (or + w_avg
//                            without the residual); pool = the exact face pool to S x S
//   synthesis    w_plus [b, n, D] -> image [b, 3, G, G]                the generator with its stored noise
//   inversion    image -> code_stage1 .. code_stage<N>, reconstruction (the last code's synthesis):
//                every stage and the generator in one graph (the generator's weights stored once)
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Encoder } from '../../models/encoder.js';
import type { MultiStageInversion } from '../../models/inversion.js';
import { StyleGAN2Generator } from '../../models/stylegan2.js';
import { writeFileAtomic } from '../atomic_file.js';
import { int, OnnxGraph, type Dim, type EncodeOptions } from './graph.js';
import { adaptiveAvgPool, type Act } from './layers.js';
import { emitEncoder } from './encoder.js';
import { emitSynthesis } from './stylegan2.js';

export const BATCH: Dim = 'batch';

/** One network alone: image [batch, inChannels, inputSize, inputSize] -> offsets [batch, nLatent, latentDim]. */
export function encoderGraph(enc: Encoder, inputSize: number): OnnxGraph {
  const g = new OnnxGraph('encoder');
  const c = enc.config.inChannels;
  const x = g.input('image', [BATCH, c, inputSize, inputSize]);
  const out = emitEncoder(g, enc, '', { v: x, c, h: inputSize, w: inputSize });
  g.output(out, 'offsets', [BATCH, enc.config.nLatent, enc.config.latentDim]);
  return g;
}

/** The generator's synthesis network: w_plus [batch, nLatent, styleDim] -> image [batch, 3, size, size] (stored noise). */
export function synthesisGraph(gen: StyleGAN2Generator): OnnxGraph {
  const g = new OnnxGraph('synthesis');
  const w = g.input('w_plus', [BATCH, gen.nLatent, gen.styleDim]);
  const img = emitSynthesis(g, gen, '', w);
  g.output(img.v, 'image', [BATCH, 3, gen.size, gen.size]);
  return g;
}

interface Parts { gen: StyleGAN2Generator; S: number; n: number; D: number }

function parts(model: MultiStageInversion): Parts {
  const gen = model.generator;
  if (!(gen instanceof StyleGAN2Generator)) throw new Error('ONNX export: the inversion model\'s generator is not a StyleGAN2Generator');
  return { gen, S: model.opts.inputSize ?? 256, n: gen.nLatent, D: gen.styleDim };
}

/** Stage t's code from its inputs, written into g (shared by the stage graphs and the chain). */
function emitStage(g: OnnxGraph, model: MultiStageInversion, t: number, image: string, previous: { image: Act; code: string } | null): string {
  const { S, D } = parts(model);
  const stage = model.stages[t - 1]!;
  let x: Act = { v: image, c: 3, h: S, w: S };
  if (t > 1) {
    if (!previous) throw new Error(`ONNX export: stage ${t} needs the previous image and code`);
    const pooled = adaptiveAvgPool(g, previous.image, [S, S]);
    x = { ...x, c: 6, v: g.op('Concat', [image, pooled.v], { axis: int(1) }, 'stage_input') };
  }
  const offsets = emitEncoder(g, stage, `stage${t}`, x);
  if (t === 1 || !model.residual) {
    if (!model.latentAvg) return offsets;
    return g.op('Add', [offsets, g.constant('latent_avg', model.latentAvg.toArray(), [D])], {}, 'code');
  }
  return g.op('Add', [offsets, previous!.code], {}, 'code');
}

/** Stage t of the inversion (see the top of this file for its inputs and outputs). */
export function stageGraph(model: MultiStageInversion, t: number): OnnxGraph {
  const { gen, S, n, D } = parts(model);
  if (!(t >= 1 && t <= model.stages.length)) throw new Error(`ONNX export: stage ${t} does not exist (the model has ${model.stages.length})`);
  const g = new OnnxGraph(`stage${t}`);
  const image = g.input('image', [BATCH, 3, S, S]);
  const previous = t === 1 ? null : {
    image: { v: g.input('previous_image', [BATCH, 3, gen.size, gen.size]), c: 3, h: gen.size, w: gen.size },
    code: g.input('previous_code', [BATCH, n, D]),
  };
  g.output(emitStage(g, model, t, image, previous), 'code', [BATCH, n, D]);
  return g;
}

/** Every stage and the generator chained: image -> code_stage1 .. code_stage<N>, reconstruction (the last code's synthesis). */
export function inversionGraph(model: MultiStageInversion): OnnxGraph {
  const { gen, S, n, D } = parts(model);
  const g = new OnnxGraph('inversion');
  const image = g.input('image', [BATCH, 3, S, S]);
  let previous: { image: Act; code: string } | null = null;
  for (let t = 1; t <= model.stages.length; t++) {
    const code = emitStage(g, model, t, image, previous);
    g.output(code, `code_stage${t}`, [BATCH, n, D]);
    previous = { image: emitSynthesis(g, gen, 'generator', code), code };
  }
  g.output(previous!.image.v, 'reconstruction', [BATCH, 3, gen.size, gen.size]);
  return g;
}

export interface WrittenGraph { file: string; graph: string; bytes: number; nodes: number }

/**
 * Writes the inversion model as ONNX: `out` ending in .onnx gets the chained inversion graph;
 * any other `out` is a folder that gets stage1.onnx .. stage<N>.onnx and synthesis.onnx.
 */
export function writeInversionOnnx(model: MultiStageInversion, out: string, opts: EncodeOptions = {}): WrittenGraph[] {
  const graphs: [string, () => OnnxGraph][] = out.toLowerCase().endsWith('.onnx')
    ? [[out, () => inversionGraph(model)]]
    : [...model.stages.map((_, i): [string, () => OnnxGraph] => [path.join(out, `stage${i + 1}.onnx`), () => stageGraph(model, i + 1)]),
      [path.join(out, 'synthesis.onnx'), () => synthesisGraph(parts(model).gen)]];
  const written: WrittenGraph[] = [];
  for (const [file, build] of graphs) {
    const g = build();
    const bytes = g.encode(opts);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, bytes);
    written.push({ file, graph: g.name, bytes: bytes.length, nodes: g.nodeCount });
  }
  return written;
}
