// ONNX export: the protobuf schema (schema.ts), a graph builder (graph.ts), the layers (layers.ts),
// the encoder and StyleGAN2 synthesis exporters and the inversion graphs `sgi export` writes (inversion.ts).
export { OnnxGraph, int, ints, float, type Attr, type Dim, type EncodeOptions } from './graph.js';
export { decodeModel, encodeModel, IR_VERSION, OPSET, type ModelProto } from './schema.js';
export { adaptiveAvgPool, adaptivePoolMatrix, upfirdn2d, type Act } from './layers.js';
export { emitEncoder } from './encoder.js';
export { emitSynthesis } from './stylegan2.js';
export { BATCH, encoderGraph, synthesisGraph, stageGraph, inversionGraph, writeInversionOnnx, type WrittenGraph } from './inversion.js';
