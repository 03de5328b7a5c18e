// An ONNX graph under construction: named inputs and outputs (a string dimension is symbolic, e.g.
// 'batch'), initializers (float32 or int64, shared by name) and nodes whose outputs get fresh
// value names. `encode` turns it into an .onnx file's bytes (opset 17).
import { AttributeType, DataType, IR_VERSION, OPSET, encodeModel, type AttributeProto, type NodeProto, type TensorProto, type ValueInfoProto } from './schema.js';

/** A dimension: a fixed size or a symbolic name (the batch). */
export type Dim = number | string;

/** A node attribute with its ONNX type made explicit (ONNX tells ints from floats). */
export type Attr = { int: number } | { ints: readonly number[] } | { float: number } | { floats: readonly number[] } | { str: string };
export const int = (v: number): Attr => ({ int: v });
export const ints = (v: readonly number[]): Attr => ({ ints: v });
export const float = (v: number): Attr => ({ float: v });

function attribute(name: string, a: Attr): AttributeProto {
  if ('int' in a) return { name, type: AttributeType.INT, i: a.int };
  if ('ints' in a) return { name, type: AttributeType.INTS, ints: [...a.ints] };
  if ('float' in a) return { name, type: AttributeType.FLOAT, f: a.float };
  if ('floats' in a) return { name, type: AttributeType.FLOATS, floats: [...a.floats] };
  return { name, type: AttributeType.STRING, s: new TextEncoder().encode(a.str) };
}

function valueInfo(name: string, dims: readonly Dim[], elemType: number = DataType.FLOAT): ValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

const bytesOf = (a: Float32Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const numel = (dims: readonly number[]) => dims.reduce((n, d) => n * d, 1);

export interface EncodeOptions {
  producerVersion?: string;
  doc?: string;
  /** Free-form key/value pairs stored in the model (metadata_props). */
  metadata?: Record<string, string>;
}

export class OnnxGraph {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers = new Map<string, TensorProto>();
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();

  constructor(readonly name: string) {}

  /** A value name not used yet, from a readable base. */
  fresh(base: string): string {
    let n = this.counters.get(base) ?? 0;
    let name = n === 0 ? base : `${base}_${n}`;
    while (this.used.has(name)) name = `${base}_${++n}`;
    this.counters.set(base, n + 1);
    this.used.add(name);
    return name;
  }

  /** Declares a float graph input. */
  input(name: string, dims: readonly Dim[]): string {
    if (this.used.has(name)) throw new Error(`OnnxGraph ${this.name}: the input name '${name}' is taken`);
    this.used.add(name);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  /** Makes `value` a graph output called `name` (through an Identity when the names differ). */
  output(value: string, name: string, dims: readonly Dim[]): void {
    if (value !== name) {
      if (this.used.has(name)) throw new Error(`OnnxGraph ${this.name}: the output name '${name}' is taken`);
      this.used.add(name);
      this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: `${name}/Identity`, attribute: [] });
    }
    this.outputs.push(valueInfo(name, dims));
  }

  /**
   * A float32 initializer (the graph keeps `data`). The same name given twice must hold the same
   * shape: graphs that reuse a network (the generator in the chained inversion) store its weights once.
   */
  constant(name: string, data: Float32Array, dims: readonly number[]): string {
    if (data.length !== numel(dims)) throw new Error(`OnnxGraph ${this.name}: initializer '${name}' has ${data.length} values for shape [${dims.join(', ')}]`);
    const have = this.initializers.get(name);
    if (have) {
      if (have.dims.join() !== dims.join() || have.dataType !== DataType.FLOAT) {
        throw new Error(`OnnxGraph ${this.name}: initializer '${name}' given twice with shapes [${have.dims.join(', ')}] and [${dims.join(', ')}]`);
      }
      return name;
    }
    if (this.used.has(name)) throw new Error(`OnnxGraph ${this.name}: the initializer name '${name}' is taken by a value`);
    this.used.add(name);
    // kept, not copied (a paper encoder's weights are 340 MB): pass an array nothing else writes to
    this.initializers.set(name, { name, dims: [...dims], dataType: DataType.FLOAT, rawData: bytesOf(data) });
    return name;
  }

  /** An int64 initializer (shapes, axes, indices), one per distinct value list. */
  int64s(values: readonly number[], scalar = false): string {
    const name = `const_i64${scalar ? 's' : ''}_${values.join('_').replace(/-/g, 'm')}`;
    if (!this.initializers.has(name)) {
      this.used.add(name);
      const data = BigInt64Array.from(values.map((v) => BigInt(v)));
      this.initializers.set(name, { name, dims: scalar ? [] : [values.length], dataType: DataType.INT64, rawData: bytesOf(data) });
    }
    return name;
  }

  /** A scalar float initializer (shared per value). */
  scalar(value: number): string {
    const name = `const_f32_${String(value).replace(/[^0-9a-zA-Z]/g, '_')}`;
    if (!this.initializers.has(name)) {
      this.used.add(name);
      this.initializers.set(name, { name, dims: [], dataType: DataType.FLOAT, rawData: bytesOf(Float32Array.of(value)) });
    }
    return name;
  }

  /** Adds a node with one output; returns the output's value name (`base` names it, default the op). */
  op(opType: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, base?: string): string {
    for (const i of inputs) if (i !== '' && !this.used.has(i)) throw new Error(`OnnxGraph ${this.name}: ${opType} reads '${i}', which nothing defines`);
    const out = this.fresh(base ?? opType.toLowerCase());
    this.nodes.push({ opType, input: [...inputs], output: [out], name: out, attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
    return out;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The .onnx bytes: IR version 8, default-domain opset 17. */
  encode(opts: EncodeOptions = {}): Uint8Array {
    if (!this.outputs.length) throw new Error(`OnnxGraph ${this.name}: no outputs`);
    return encodeModel({
      irVersion: IR_VERSION,
      producerName: 'sgi',
      producerVersion: opts.producerVersion ?? '0.1.0',
      docString: opts.doc,
      opsetImport: [{ domain: '', version: OPSET }],
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: [...this.initializers.values()],
        input: this.inputs,
        output: this.outputs,
      },
    });
  }
}
