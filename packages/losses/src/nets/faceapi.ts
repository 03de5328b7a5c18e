// The face-recognition network of @vladmandic/face-api (a dlib-style ResNet-34 variant with a
// 128-d descriptor), re-implemented with our ops and loaded from the package's TFJS weights
// (model/face_recognition_model-weights_manifest.json + .bin shard, uint8-quantised).
// Architecture (from the package's faceRecognitionNet sources):
//   input 150x150 RGB in 0..255, minus mean RGB [122.782, 117.001, 104.298], divided by 255
//   conv32_down: conv 7x7 stride 2 'valid' + bias, scale layer (x * w + b), ReLU
//   maxpool 3x3 stride 2 'valid'
//   residual blocks: conv1 = conv3x3 'same' + bias, scale, ReLU; conv2 = the same without ReLU;
//     out = relu(conv2(conv1(x)) + x)
//   residualDown blocks: conv1 = conv3x3 stride 2 'valid'; shortcut = avgpool 2x2 stride 2
//     'valid', zero-padded in channels when they double; when the conv output is one pixel
//     smaller than the pooled shortcut it gets a zero row (bottom) and column (right)
//   stages: 32ch x3 (35x35), 64ch down+3 (17x17), 128ch down+2 (8x8), 256ch down+2 (4x4),
//     conv256_down_out (2x2); global mean; descriptor = mean @ fc (256x128, no bias)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { Module, Tensor, nn, ops, Rng, halfToFloat, type HostTensor } from '@sgi/core';

export const FACEAPI_INPUT_SIZE = 150;
export const FACEAPI_MEAN_RGB = [122.782, 117.001, 104.298] as const;

/** x * weights + biases per channel (face-api's "scale layer"). */
export class ScaleLayer extends Module {
  readonly weights: Tensor;
  readonly biases: Tensor;
  constructor(channels: number) {
    super();
    this.weights = this.param('weights', Tensor.ones([channels]));
    this.biases = this.param('biases', Tensor.zeros([channels]));
  }
  forward(x: Tensor): Tensor {
    const c = this.weights.shape[0]!;
    return ops.add(ops.mul(x, ops.reshape(this.weights, [1, c, 1, 1])), ops.reshape(this.biases, [1, c, 1, 1]));
  }
}

export class FaceApiConvLayer extends Module {
  readonly conv: nn.Conv2d;
  readonly scale: ScaleLayer;
  constructor(inC: number, outC: number, kernel: number, readonly stride: number, readonly samePadding: boolean, readonly relu: boolean, rng: Rng) {
    super();
    this.conv = this.child('conv', new nn.Conv2d(inC, outC, kernel, { stride, padding: samePadding ? (kernel - 1) / 2 : 0, rng }));
    this.scale = this.child('scale', new ScaleLayer(outC));
  }
  forward(x: Tensor): Tensor {
    const y = this.scale.forward(this.conv.forward(x));
    return this.relu ? ops.relu(y) : y;
  }
}

export class FaceApiResidual extends Module {
  readonly conv1: FaceApiConvLayer;
  readonly conv2: FaceApiConvLayer;
  constructor(inC: number, outC: number, readonly down: boolean, rng: Rng) {
    super();
    // 'same' padding for stride 1; the down-sampling conv is 'valid' with stride 2
    this.conv1 = this.child('conv1', new FaceApiConvLayer(inC, outC, 3, down ? 2 : 1, !down, true, rng));
    this.conv2 = this.child('conv2', new FaceApiConvLayer(outC, outC, 3, 1, true, false, rng));
  }
  forward(x: Tensor): Tensor {
    let out = this.conv2.forward(this.conv1.forward(x));
    if (!this.down) return ops.relu(ops.add(out, x));
    let pooled = ops.avgPool2d(x, { kernel: 2, stride: 2, padding: 0 });
    const [b, c, h, w] = out.shape as [number, number, number, number];
    if (pooled.shape[2] !== h || pooled.shape[3] !== w) {
      out = ops.cat([out, Tensor.zeros([b, c, 1, w], x.device)], 2);
      out = ops.cat([out, Tensor.zeros([b, c, h + 1, 1], x.device)], 3);
      if (pooled.shape[2] !== h + 1 || pooled.shape[3] !== w + 1) {
        throw new Error(`FaceRecognitionNet: shortcut ${pooled.shape.join('x')} and residual ${out.shape.join('x')} cannot be matched`);
      }
    }
    if (pooled.shape[1] !== c) pooled = ops.cat([pooled, Tensor.zeros(pooled.shape, x.device)], 1);
    return ops.relu(ops.add(pooled, out));
  }
}

/** Block names in execution order, with (input channels, output channels, down-sampling). */
const BLOCKS: [string, number, number, boolean][] = [
  ['conv32_1', 32, 32, false], ['conv32_2', 32, 32, false], ['conv32_3', 32, 32, false],
  ['conv64_down', 32, 64, true], ['conv64_1', 64, 64, false], ['conv64_2', 64, 64, false], ['conv64_3', 64, 64, false],
  ['conv128_down', 64, 128, true], ['conv128_1', 128, 128, false], ['conv128_2', 128, 128, false],
  ['conv256_down', 128, 256, true], ['conv256_1', 256, 256, false], ['conv256_2', 256, 256, false],
  ['conv256_down_out', 256, 256, true],
];
/** Blocks after which a resolution stage ends (35, 17, 8, 4 pixels). */
const STAGE_ENDS = ['conv32_3', 'conv64_3', 'conv128_2', 'conv256_2'];

export interface FaceApiOutputs {
  /** Feature maps at the end of the 32/64/128/256-channel stages. */
  stages: Tensor[];
  /** The 128-d face descriptor (not normalised; face-api compares descriptors by Euclidean distance). */
  descriptor: Tensor;
}

export class FaceRecognitionNet extends Module {
  readonly conv32Down: FaceApiConvLayer;
  readonly blocks: [string, FaceApiResidual][] = [];
  readonly fc: nn.Linear;
  constructor(rng: Rng = new Rng(0)) {
    super();
    this.conv32Down = this.child('conv32_down', new FaceApiConvLayer(3, 32, 7, 2, false, true, rng));
    for (const [name, inC, outC, down] of BLOCKS) this.blocks.push([name, this.child(name, new FaceApiResidual(inC, outC, down, rng))]);
    this.fc = this.child('fc', new nn.Linear(256, 128, { bias: false, rng }));
  }

  /** Input: normalised 150x150 images (see preprocess). */
  forwardAll(x: Tensor): FaceApiOutputs {
    if (x.ndim !== 4 || x.shape[1] !== 3 || x.shape[2] !== FACEAPI_INPUT_SIZE || x.shape[3] !== FACEAPI_INPUT_SIZE) {
      throw new Error(`FaceRecognitionNet: expected input [B, 3, 150, 150], got [${x.shape.join(', ')}]`);
    }
    let h = this.conv32Down.forward(x);
    h = ops.maxPool2d(h, { kernel: 3, stride: 2, padding: 0 });
    const stages: Tensor[] = [];
    for (const [name, block] of this.blocks) {
      h = block.forward(h);
      if (STAGE_ENDS.includes(name)) stages.push(h);
    }
    const pooled = ops.mean(h, [2, 3]);
    return { stages, descriptor: this.fc.forward(pooled) };
  }

  forward(x: Tensor): Tensor {
    return this.forwardAll(x).descriptor;
  }

  /**
   * Images in [-1, 1] (RGB, already cropped to the face and resized to 150) to the network's
   * input: (255 * (x + 1) / 2 - meanRGB) / 255 = 0.5 x + 0.5 - meanRGB / 255.
   */
  static preprocess(x: Tensor): Tensor {
    const offset = Tensor.fromArray(FACEAPI_MEAN_RGB.map((m) => 0.5 - m / 255), [1, 3, 1, 1], x.device);
    return ops.add(ops.scale(x, 0.5), offset);
  }

  /** Loads TFJS weights (see readTfjsWeights) into this network. */
  loadTfjs(weights: Map<string, HostTensor>, context = 'face-api face_recognition_model'): void {
    this.loadStateDict(tfjsToStateDict(weights), { context });
  }
}

/**
 * The model/ folder of the npm package @vladmandic/face-api (its TFJS networks and weights). A
 * missing package is an error that says who needed it (`who`) and what it ships (`ships`).
 */
export function faceApiModelDir(who = 'face-api networks', ships = 'its model/ folder holds the TFJS weights'): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('@vladmandic/face-api/package.json');
  } catch {
    throw new Error(`${who}: the npm package @vladmandic/face-api is not installed (run \`npm install\` in the repository root); ${ships}`);
  }
  return path.join(path.dirname(pkg), 'model');
}

/** Where the npm package keeps the recognition network's weights. */
export function defaultFaceApiManifest(): string {
  return path.join(faceApiModelDir('face-api ID network', 'it ships model/face_recognition_model-weights_manifest.json'), 'face_recognition_model-weights_manifest.json');
}

interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

/** Reads a TFJS weights manifest and its binary shards into float32 host tensors (TFJS names and layouts). */
export function readTfjsWeights(manifestPath: string): Map<string, HostTensor> {
  if (!fs.existsSync(manifestPath)) throw new Error(`${manifestPath}: TFJS weights manifest not found`);
  const groups = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as { paths: string[]; weights: TfjsWeightSpec[] }[];
  if (!Array.isArray(groups)) throw new Error(`${manifestPath}: not a TFJS weights manifest (expected a JSON array of groups)`);
  const out = new Map<string, HostTensor>();
  for (const group of groups) {
    const buf = Buffer.concat(group.paths.map((p) => {
      const file = path.join(path.dirname(manifestPath), p);
      if (!fs.existsSync(file)) throw new Error(`${manifestPath}: weight shard ${file} not found`);
      return fs.readFileSync(file);
    }));
    let offset = 0;
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const q = w.quantization;
      const bytesPer = q ? (q.dtype === 'uint8' ? 1 : 2) : (w.dtype === 'float32' || w.dtype === 'int32' ? 4 : 0);
      if (!bytesPer) throw new Error(`${manifestPath}: weight ${w.name} has unsupported dtype ${w.dtype}`);
      if (offset + n * bytesPer > buf.length) throw new Error(`${manifestPath}: weight ${w.name} lies beyond the end of the shards (truncated)`);
      const data = new Float32Array(n);
      const view = new DataView(buf.buffer, buf.byteOffset + offset, n * bytesPer);
      if (q) {
        const scale = q.scale ?? 1, min = q.min ?? 0;
        if (q.dtype === 'uint8') for (let i = 0; i < n; i++) data[i] = view.getUint8(i) * scale + min;
        else if (q.dtype === 'uint16') for (let i = 0; i < n; i++) data[i] = view.getUint16(i * 2, true) * scale + min;
        else if (q.dtype === 'float16') for (let i = 0; i < n; i++) data[i] = halfToFloat(view.getUint16(i * 2, true));
        else throw new Error(`${manifestPath}: weight ${w.name} has unsupported quantization ${q.dtype}`);
      } else if (w.dtype === 'float32') {
        for (let i = 0; i < n; i++) data[i] = view.getFloat32(i * 4, true);
      } else {
        for (let i = 0; i < n; i++) data[i] = view.getInt32(i * 4, true);
      }
      out.set(w.name, { dtype: 'F32', shape: w.shape, data });
      offset += n * bytesPer;
    }
    if (offset !== buf.length) throw new Error(`${manifestPath}: ${buf.length - offset} bytes of the shards are not described by the manifest`);
  }
  return out;
}

/** Transposes a row-major tensor (any rank) by a permutation, on the host. */
function permuteHost(t: HostTensor, perm: number[]): HostTensor {
  const shape = perm.map((p) => t.shape[p]!);
  const inStrides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(t.data.length);
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += idx[d]! * inStrides[perm[d]!]!;
    out[o] = t.data[src]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return { dtype: t.dtype, shape, data: out };
}

/** TFJS names/layouts (HWIO filters, [in, out] fc) to our dotted names (OIHW, [out, in]). */
export function tfjsToStateDict(weights: Map<string, HostTensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of weights) {
    if (name === 'fc') { out.set('fc.weight', permuteHost(t, [1, 0])); continue; }
    const parts = name.split('/');
    const leaf = parts.pop()!;
    const prefix = parts.join('.');
    if (leaf === 'filters') out.set(`${prefix}.weight`, permuteHost(t, [3, 2, 0, 1]));
    else if (leaf === 'bias') out.set(`${prefix}.bias`, t);
    else out.set(`${prefix}.${leaf}`, t); // scale/weights, scale/biases
  }
  return out;
}

/** A FaceRecognitionNet with the package's weights (eval mode, frozen). */
export function loadFaceRecognitionNet(manifestPath = defaultFaceApiManifest()): FaceRecognitionNet {
  const net = new FaceRecognitionNet();
  net.loadTfjs(readTfjsWeights(manifestPath), `face-api weights ${manifestPath}`);
  return net.eval().freeze();
}
