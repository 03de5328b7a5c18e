// ONNX export (src/io/onnx): the exported graphs, run by onnxruntime-node, give our engine's outputs
// within 1e-4 (max abs) at batch 1 and batch 3 (one graph, symbolic batch): adaptive pooling (exact
// for sizes that do not divide), every encoder head variant, the paper encoder, StyleGAN2 synthesis.
import { describe, it, expect } from 'vitest';
import { Encoder, PAPER_ENCODER, Rng, StyleGAN2Generator, noGrad, ops, onnx, type EncoderConfig } from '../src/index.js';
import { expectMatch, randomizeConstants, runOnnx } from './onnx.js';

const opTypes = (bytes: Uint8Array) => onnx.decodeModel(bytes).graph.node.map((n) => n.opType);

describe('ONNX export: the file', () => {
  it('is opset 17, IR 8, with a symbolic batch dimension on every input and output', () => {
    const g = new StyleGAN2Generator({ size: 8, styleDim: 4, nMlp: 1, channels: { 4: 4, 8: 4 } });
    const m = onnx.decodeModel(onnx.synthesisGraph(g).encode({ metadata: { config: 'x' } }));
    expect(m.irVersion).toBe(8);
    expect(m.opsetImport.map((o) => [o.domain ?? '', o.version])).toEqual([['', 17]]); // the default domain
    expect(m.metadataProps).toEqual([{ key: 'config', value: 'x' }]);
    const dims = (v: onnx.ModelProto['graph']['input'][number]) => v.type.tensorType.shape.dim.map((d) => d.dimParam ?? d.dimValue);
    expect(m.graph.input.map(dims)).toEqual([['batch', g.nLatent, 4]]);
    expect(m.graph.output.map(dims)).toEqual([['batch', 3, 8, 8]]);
    g.release();
  });
});

describe('ONNX export: adaptive average pooling', () => {
  // [h, w] -> [oh, ow], and the op the export must use
  const cases: [number, number, number, number, string][] = [
    [10, 13, 3, 4, 'MatMul'], // neither divides
    [8, 8, 7, 7, 'MatMul'], // the tiny encoder's deepest head
    [12, 9, 5, 3, 'MatMul'], // one axis divides, the other does not
    [3, 5, 5, 7, 'MatMul'], // up-sampling windows (overlapping)
    [12, 8, 4, 2, 'AveragePool'],
    [6, 10, 1, 1, 'GlobalAveragePool'],
  ];
  for (const [h, w, oh, ow, op] of cases) {
    it(`${h}x${w} -> ${oh}x${ow} is exact (${op}), at batch 1 and 3`, async () => {
      const g = new onnx.OnnxGraph('pool');
      const x = g.input('x', [onnx.BATCH, 2, h, w]);
      const y = onnx.adaptiveAvgPool(g, { v: x, c: 2, h, w }, [oh, ow]);
      g.output(y.v, 'y', [onnx.BATCH, 2, oh, ow]);
      const bytes = g.encode();
      expect(opTypes(bytes)).toContain(op);
      for (const b of [1, 3]) {
        const input = new Rng(b).randn([b, 2, h, w]);
        const ours = ops.adaptiveAvgPool2d(input, [oh, ow]);
        const got = await runOnnx(bytes, { x: input });
        expectMatch(got.y, ours, `pool batch ${b}`, 1e-6);
        input.release();
        ours.release();
      }
    });
  }
});

async function checkEncoder(cfg: EncoderConfig, inputSize: number, seed: number, batches = [1, 3]): Promise<Uint8Array> {
  const enc = new Encoder(cfg, { rng: new Rng(seed), inputSize }).eval();
  randomizeConstants(enc, seed + 1);
  const bytes = onnx.encoderGraph(enc, inputSize).encode();
  for (const b of batches) {
    const x = new Rng(seed + b).randn([b, cfg.inChannels, inputSize, inputSize]);
    const ours = noGrad(() => enc.forward(x));
    const got = await runOnnx(bytes, { image: x });
    expectMatch(got.offsets, ours, `encoder ${cfg.head}${cfg.fpn ? '+fpn' : ''} batch ${b}`);
    x.release();
    ours.release();
  }
  enc.release();
  return bytes;
}

describe('ONNX export: the encoder', () => {
  const micro = { inChannels: 3, widths: [8, 8, 16], units: [1, 2, 1], latentDim: 8, nLatent: 10 } as const;
  it("'3E' heads with BN and the FPN (non-dividing pools, stride-2 subsampling shortcut)", async () => {
    const bytes = await checkEncoder({ ...micro, head: '3E', headBn: true, fpn: true, pools: [3, 5, 3] }, 32, 10);
    const types = opTypes(bytes);
    for (const op of ['Resize', 'MaxPool', 'PRelu', 'BatchNormalization', 'Sigmoid', 'Gemm', 'MatMul']) expect(types, op).toContain(op);
  });
  it("'1E' head, 6 input channels (a refinement stage)", async () => {
    await checkEncoder({ ...micro, inChannels: 6, head: '1E', pools: [3] }, 32, 20);
  });
  it("'18C' map2style heads", async () => {
    await checkEncoder({ ...micro, head: '18C' }, 32, 30);
  });
  it('the paper encoder (256 x 256, 84.9M parameters, random weights)', async () => {
    await checkEncoder(PAPER_ENCODER, 256, 40);
  }, 300_000);
});

describe('ONNX export: StyleGAN2 synthesis', () => {
  it('matches the engine with the stored noise (upsampling modulated convs, blur, ToRGB skips)', async () => {
    const g = new StyleGAN2Generator({ size: 32, styleDim: 16, nMlp: 2, channels: { 4: 16, 8: 12, 16: 8, 32: 8 }, seed: 3 }).eval();
    randomizeConstants(g, 4);
    const bytes = onnx.synthesisGraph(g).encode();
    for (const b of [1, 3]) {
      const w = new Rng(5 + b).randn([b, g.nLatent, 16]);
      const ours = noGrad(() => g.synthesis(w));
      const got = await runOnnx(bytes, { w_plus: w });
      expectMatch(got.image, ours, `synthesis batch ${b}`);
      w.release();
      ours.release();
    }
    g.release();
  });
});

describe('ONNX export: errors', () => {
  it('names the layer it cannot export', () => {
    const enc = new Encoder({ inChannels: 3, widths: [8, 8, 16], units: [1, 1, 1], latentDim: 4, nLatent: 4, head: '3E', pools: [3, 3, 3] });
    expect(() => onnx.emitEncoder(new onnx.OnnxGraph('x'), enc, 'e', { v: 'missing', c: 6, h: 32, w: 32 })).toThrow(/encoder e takes 3 channels, got 6/);
    const g = new onnx.OnnxGraph('x');
    expect(() => g.op('Relu', ['nothing'])).toThrow(/Relu reads 'nothing', which nothing defines/);
    g.constant('w', new Float32Array(4), [2, 2]);
    expect(() => g.constant('w', new Float32Array(4), [4])).toThrow(/'w' given twice with shapes \[2, 2\] and \[4\]/);
    enc.release();
  });
});
