// The inversion encoder (one stage, every head variant) in ONNX ops, mirroring models/encoder.ts and
// models/irse.ts: IR-SE units (BN, conv, PReLU, conv, BN, SE; shortcut conv + BN or a stride-2
// subsampling), the optional FPN (bilinear, align_corners), and the heads: efficient ones
// ([BN,] exact adaptive pooling, Flatten, Gemm) or map2style ones (stride-2 convs + leaky ReLU 0.01,
// EqualLinear). Eval mode: BatchNorm uses its running statistics.
import { Module, Sequential, ModuleList } from '../../nn/module.js';
import { BatchNorm, Conv2d, Lambda, Linear } from '../../nn/layers.js';
import { BottleneckIRSE } from '../../models/irse.js';
import { Encoder, Map2Style } from '../../models/encoder.js';
import { int, ints, float, type OnnxGraph } from './graph.js';
import { adaptiveAvgPool, batchNorm, conv2d, equalLinear, layer, linear, resizeBilinear, type Act } from './layers.js';

function child<M extends Module>(m: Module, name: string, type: abstract new (...args: never[]) => M, where: string): M {
  const c = new Map(m.namedChildren()).get(name);
  if (!(c instanceof type)) throw new Error(`ONNX export: ${where} has no ${type.name} '${name}'`);
  return c;
}

function unit(g: OnnxGraph, u: BottleneckIRSE, name: string, x: Act): Act {
  let shortcut: Act;
  if (u.shortcut) shortcut = layer(g, u.shortcut, `${name}.shortcut_layer`, x);
  else if (u.stride === 1) shortcut = x;
  else {
    // MaxPool2d(kernel 1, stride s): every s-th pixel
    const s = u.stride;
    const v = g.op('MaxPool', [x.v], { kernel_shape: ints([1, 1]), strides: ints([s, s]) }, 'subsample');
    shortcut = { ...x, v, h: Math.floor((x.h - 1) / s) + 1, w: Math.floor((x.w - 1) / s) + 1 };
  }
  const res = layer(g, u.res, `${name}.res_layer`, x);
  return { ...res, v: g.op('Add', [res.v, shortcut.v], {}, 'add') };
}

/** Efficient head output_layer_<3+l>: [BN,] pool, flatten, Linear; returns [batch, n * dim]. */
function efficientHead(g: OnnxGraph, head: Sequential, name: string, x: Act, pool: number): string {
  let v = x;
  let flat: string | null = null;
  for (const [i, m] of head.namedChildren()) {
    const at = `${name}.${i}`;
    if (m instanceof BatchNorm) v = { ...v, v: batchNorm(g, m, at, v.v) };
    else if (m instanceof Lambda && m.label === `pool${pool}`) v = adaptiveAvgPool(g, v, [pool, pool]);
    else if (m instanceof Lambda && m.label === 'flatten') flat = g.op('Flatten', [v.v], { axis: int(1) }, 'flatten');
    else if (m instanceof Linear && flat) return linear(g, m, at, flat);
    else throw new Error(`ONNX export: unexpected layer ${m instanceof Lambda ? m.label : m.constructor.name} at '${at}' of an efficient head`);
  }
  throw new Error(`ONNX export: the efficient head '${name}' has no final Linear`);
}

/** map2style: log2(spatial) x (conv 3x3 stride 2 + leaky ReLU 0.01), EqualLinear; returns [batch, dim]. */
function map2style(g: OnnxGraph, m: Map2Style, name: string, x: Act): string {
  let v = x;
  for (const [i, l] of m.convs.namedChildren()) {
    if (l instanceof Conv2d) v = conv2d(g, l, `${name}.convs.${i}`, v);
    else if (l instanceof Lambda && l.label === 'lrelu') v = { ...v, v: g.op('LeakyRelu', [v.v], { alpha: float(0.01) }, 'lrelu') };
    else throw new Error(`ONNX export: unexpected layer at '${name}.convs.${i}'`);
  }
  if (v.h !== 1 || v.w !== 1) throw new Error(`ONNX export: ${name} ends at ${v.h}x${v.w}, not 1x1 (input size does not match the encoder)`);
  return equalLinear(g, m.linear, `${name}.linear`, g.op('Flatten', [v.v], { axis: int(1) }, 'flatten'));
}

/**
 * Emits enc(x) for x [batch, inChannels, size, size]; weights are named `<prefix>.<state-dict key>`.
 * Returns the W+ offsets [batch, nLatent, latentDim] (before the mean latent or previous code is added).
 */
export function emitEncoder(g: OnnxGraph, enc: Encoder, prefix: string, x: Act): string {
  const cfg = enc.config;
  if (x.c !== cfg.inChannels) throw new Error(`ONNX export: encoder ${prefix} takes ${cfg.inChannels} channels, got ${x.c}`);
  const p = (n: string) => (prefix ? `${prefix}.${n}` : n);
  // backbone: the features after each stage
  let h = layer(g, enc.backbone.inputLayer, p('input_layer'), x);
  const stages: Act[] = [];
  enc.backbone.body.layers.forEach((u, i) => {
    h = unit(g, u as BottleneckIRSE, p(`body.${i}`), h);
    if (enc.backbone.stageEnds.includes(i)) stages.push(h);
  });
  const n = stages.length;
  let levels = cfg.head === '1E' ? [stages[n - 1]!] : [stages[n - 1]!, stages[n - 2]!, stages[n - 3]!];
  if (cfg.fpn) {
    const lateral = (k: number, y: Act) => conv2d(g, child(enc, `latlayer${k}`, Conv2d, prefix || 'encoder'), p(`latlayer${k}`), y);
    const upsampleAdd = (a: Act, b: Act): Act => {
      const r = resizeBilinear(g, a, [b.h, b.w], true);
      return { ...b, v: g.op('Add', [r.v, b.v], {}, 'add') };
    };
    const p0 = levels[0]!;
    const p1 = upsampleAdd(p0, lateral(1, levels[1]!));
    const p2 = upsampleAdd(p1, lateral(2, levels[2]!));
    levels = [p0, p1, p2];
  }
  const D = cfg.latentDim;
  const parts: string[] = [];
  const toLatents = (v: string, count: number) => g.op('Reshape', [v, g.int64s([-1, count, D])], {}, 'latents');
  if (cfg.head === '18C') {
    const styles = child(enc, 'styles', ModuleList, prefix || 'encoder').items as Map2Style[];
    let k = 0;
    enc.split.forEach((count, l) => {
      for (let i = 0; i < count; i++, k++) parts.push(toLatents(map2style(g, styles[k]!, p(`styles.${k}`), levels[l]!), 1));
    });
  } else {
    const pools = cfg.pools ?? [7, 5, 3];
    enc.split.forEach((count, l) => {
      const name = `output_layer_${3 + l}`;
      const head = child(enc, name, Sequential, prefix || 'encoder');
      parts.push(toLatents(efficientHead(g, head, p(name), levels[l]!, pools[l] ?? 7), count));
    });
  }
  return parts.length === 1 ? parts[0]! : g.op('Concat', parts, { axis: int(1) }, 'wplus');
}
