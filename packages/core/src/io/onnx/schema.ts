// The part of the ONNX protobuf schema (onnx/onnx.proto, proto2) that an exported inference graph
// uses, as a protobufjs JSON descriptor: message and field names, field numbers and types as the
// ONNX specification gives them. Fields the exporter never writes are left out; a reader skips
// unknown fields, and every field kept has its specification number, so the files are plain ONNX.
import protobuf from 'protobufjs/light.js';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** AttributeProto.AttributeType values. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** IR version 8 is the one that goes with opset 17 (ONNX 1.12). */
export const IR_VERSION = 8;
export const OPSET = 17;

const rep = (type: string, id: number) => ({ rule: 'repeated', type, id });
const one = (type: string, id: number) => ({ type, id });

const DESCRIPTOR = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: one('int64', 1), producerName: one('string', 2), producerVersion: one('string', 3), domain: one('string', 4),
            modelVersion: one('int64', 5), docString: one('string', 6), graph: one('GraphProto', 7),
            opsetImport: rep('OperatorSetIdProto', 8), metadataProps: rep('StringStringEntryProto', 14),
          },
        },
        OperatorSetIdProto: { fields: { domain: one('string', 1), version: one('int64', 2) } },
        StringStringEntryProto: { fields: { key: one('string', 1), value: one('string', 2) } },
        GraphProto: {
          fields: {
            node: rep('NodeProto', 1), name: one('string', 2), initializer: rep('TensorProto', 5), docString: one('string', 10),
            input: rep('ValueInfoProto', 11), output: rep('ValueInfoProto', 12), valueInfo: rep('ValueInfoProto', 13),
          },
        },
        NodeProto: {
          fields: {
            input: rep('string', 1), output: rep('string', 2), name: one('string', 3), opType: one('string', 4),
            attribute: rep('AttributeProto', 5), docString: one('string', 6), domain: one('string', 7),
          },
        },
        AttributeProto: {
          fields: {
            name: one('string', 1), f: one('float', 2), i: one('int64', 3), s: one('bytes', 4), t: one('TensorProto', 5),
            floats: rep('float', 7), ints: rep('int64', 8), type: one('int32', 20),
          },
        },
        TensorProto: {
          fields: { dims: rep('int64', 1), dataType: one('int32', 2), name: one('string', 8), rawData: one('bytes', 9), docString: one('string', 12) },
        },
        ValueInfoProto: { fields: { name: one('string', 1), type: one('TypeProto', 2), docString: one('string', 3) } },
        TypeProto: {
          fields: { tensorType: one('TypeProtoTensor', 1) },
        },
        // TypeProto.Tensor in onnx.proto (a nested message; the name does not appear on the wire)
        TypeProtoTensor: { fields: { elemType: one('int32', 1), shape: one('TensorShapeProto', 2) } },
        TensorShapeProto: { fields: { dim: rep('TensorShapeDimension', 1) } },
        // TensorShapeProto.Dimension
        TensorShapeDimension: { fields: { dimValue: one('int64', 1), dimParam: one('string', 2) } },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(DESCRIPTOR);
const Model = root.lookupType('onnx.ModelProto');

// Plain-object forms of the messages (the camelCase field names protobufjs uses).
export interface TensorProto { name: string; dims: number[]; dataType: number; rawData: Uint8Array; docString?: string }
export interface AttributeProto {
  name: string; type: number;
  f?: number; i?: number; s?: Uint8Array; t?: TensorProto; floats?: number[]; ints?: number[];
}
export interface NodeProto { input: string[]; output: string[]; name: string; opType: string; attribute: AttributeProto[]; docString?: string }
export interface TensorShapeDimension { dimValue?: number; dimParam?: string }
export interface ValueInfoProto {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: TensorShapeDimension[] } } };
  docString?: string;
}
export interface GraphProto {
  name: string; node: NodeProto[]; initializer: TensorProto[]; input: ValueInfoProto[]; output: ValueInfoProto[]; docString?: string;
}
export interface ModelProto {
  irVersion: number; producerName: string; producerVersion: string; docString?: string;
  graph: GraphProto; opsetImport: { domain: string; version: number }[]; metadataProps: { key: string; value: string }[];
}

/** The serialized model (protobuf wire format, an .onnx file's bytes). */
export function encodeModel(model: ModelProto): Uint8Array {
  const err = Model.verify(model);
  if (err) throw new Error(`ONNX model does not fit the schema: ${err}`);
  return Model.encode(model).finish();
}

/** Reads an .onnx file's bytes back (the fields of this schema; int64 values as numbers). */
export function decodeModel(bytes: Uint8Array): ModelProto {
  return Model.toObject(Model.decode(bytes), { longs: Number, arrays: true }) as ModelProto;
}
