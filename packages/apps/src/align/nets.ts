// Two networks of @vladmandic/face-api run on our engine with the package's own TFJS weights
// (model/*-weights_manifest.json + .bin shards, uint8-quantised):
//
// TinyFaceDetector (a Tiny-YOLOv2 with depthwise-separable convolutions, one class, 5 anchors):
//   input S x S (S a multiple of 32) RGB 0..255, minus mean RGB [117.001, 114.697, 97.404], / 255
//   conv0 3x3 'valid' + bias, leaky ReLU (slope 0.1); maxpool 2x2/2 'same'
//   conv1..conv5: zero pad 1, depthwise 3x3 + pointwise 1x1 + bias, leaky ReLU; each but the last
//   followed by maxpool 2x2/2 'same', the last by maxpool 2x2/1 'same'
//   conv8 1x1 + bias -> S/32 x S/32 cells x 5 anchors x (tx, ty, tw, th, score)
//   box centre (col + sigmoid(tx), row + sigmoid(ty)) / cells, size anchor * exp(tw, th) / cells,
//   score sigmoid; non-maximum suppression at IoU 0.4.
// FaceLandmark68Net (four dense blocks of separable convolutions and a linear layer):
//   input 112 x 112 RGB 0..255, minus mean RGB [122.782, 117.001, 104.298], / 255
//   dense block: c0 = relu(conv0 stride 2 'same') (a plain 3x3 conv in the first block, separable
//   in the others); c1 = sep(c0); c2 = sep(relu(c0 + c1)); c3 = sep(relu(c0 + c1 + c2));
//   out = relu(c0 + c1 + c2 + c3)   (sep: depthwise 3x3 + pointwise 1x1 + bias, 'same')
//   32, 64, 128, 256 channels (56, 28, 14, 7 px); avgpool 7x7; fc 256 -> 136 = 68 (x, y) in [0, 1]
//   of the (square) input.
// TF's 'same' padding of a stride-2 3x3 convolution on an even input is one row/column at the
// bottom/right only; inputs are padded to a square and resized with TF's legacy bilinear resize
// (source = destination * in / out), as the package does.
import * as path from 'node:path';
import { Scope, Tensor, noGrad, ops, type Device } from '@sgi/core';
import { faceApiModelDir as faceApiPackageModelDir, readTfjsWeights } from '@sgi/losses';
import type { RgbImage } from './ffhq.js';

/** The folder of @vladmandic/face-api's weights. */
export function faceApiModelDir(): string {
  return faceApiPackageModelDir('face alignment', 'its model/ folder holds the detector and landmark weights');
}

/** A TFJS weights manifest (name e.g. 'tiny_face_detector_model') as float32 arrays with their TFJS shapes. */
export function readTfjsModel(name: string, dir = faceApiModelDir()): Map<string, { shape: number[]; data: Float32Array }> {
  return readTfjsWeights(path.join(dir, `${name}-weights_manifest.json`));
}

/** TFJS weights on the engine: HWIO filters as OIHW, depthwise [kh, kw, C, 1] as [C, 1, kh, kw]. */
class Weights {
  private readonly tensors = new Map<string, Tensor>();
  constructor(private readonly host: Map<string, { shape: number[]; data: Float32Array }>, private readonly device: Device, private readonly what: string) {}

  private raw(name: string) {
    const w = this.host.get(name);
    if (!w) throw new Error(`${this.what}: weight ${name} is missing`);
    return w;
  }

  private make(name: string, shape: number[], data: Float32Array): Tensor {
    const t = Tensor.fromArray(data, shape, this.device);
    t.persistent = true;
    this.tensors.set(name, t);
    return t;
  }

  /** A [kh, kw, in, out] filter (conv or pointwise) as [out, in, kh, kw]. */
  filter(name: string): Tensor {
    const { shape: [kh, kw, ci, co], data } = this.raw(name) as { shape: [number, number, number, number]; data: Float32Array };
    const out = new Float32Array(data.length);
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) {
      out[((o * ci + i) * kh + y) * kw + x] = data[((y * kw + x) * ci + i) * co + o]!;
    }
    return this.make(name, [co, ci, kh, kw], out);
  }

  /** A [kh, kw, C, 1] depthwise filter as [C, 1, kh, kw] (a grouped convolution). */
  depthwise(name: string): Tensor {
    const { shape: [kh, kw, c], data } = this.raw(name) as { shape: [number, number, number, number]; data: Float32Array };
    const out = new Float32Array(data.length);
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < c; i++) out[(i * kh + y) * kw + x] = data[(y * kw + x) * c + i]!;
    return this.make(name, [c, 1, kh, kw], out);
  }

  vector(name: string): Tensor {
    const w = this.raw(name);
    return this.make(name, [w.data.length], w.data);
  }

  /** A [in, out] matrix as [out, in]. */
  matrix(name: string): Tensor {
    const { shape: [ci, co], data } = this.raw(name) as { shape: [number, number]; data: Float32Array };
    const out = new Float32Array(data.length);
    for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) out[o * ci + i] = data[i * co + o]!;
    return this.make(name, [co, ci], out);
  }

  release(): void {
    for (const t of this.tensors.values()) t.release();
    this.tensors.clear();
  }
}

interface Separable { depthwise: Tensor; pointwise: Tensor; bias: Tensor }

function separable(w: Weights, prefix: string): Separable {
  return { depthwise: w.depthwise(`${prefix}/depthwise_filter`), pointwise: w.filter(`${prefix}/pointwise_filter`), bias: w.vector(`${prefix}/bias`) };
}

/** Zero rows at the bottom and columns at the right ('same' padding of a stride-2 3x3 conv on an even input). */
function padBottomRight(x: Tensor, n: number, value = 0): Tensor {
  const [b, c, h, wd] = x.shape as [number, number, number, number];
  const rows = ops.cat([x, Tensor.full([b, c, n, wd], value, x.device)], 2);
  return ops.cat([rows, Tensor.full([b, c, h + n, n], value, x.device)], 3);
}

/** TF 'same' geometry of a 3x3 convolution: symmetric pad 1 at stride 1; bottom/right pad at stride 2. */
function sameInput(x: Tensor, stride: number): { x: Tensor; padding: number } {
  if (stride === 1) return { x, padding: 1 };
  const h = x.shape[2]!;
  const out = Math.ceil(h / stride);
  const total = Math.max(0, (out - 1) * stride + 3 - h);
  const before = Math.floor(total / 2), after = total - before;
  if (before !== 0) throw new Error(`separable conv: unsupported 'same' padding for input ${h} at stride ${stride}`);
  return { x: after ? padBottomRight(x, after) : x, padding: 0 };
}

function sepConv(x: Tensor, p: Separable, stride: number, samePad: boolean): Tensor {
  const c = x.shape[1]!;
  let padding = 0;
  if (samePad) ({ x, padding } = sameInput(x, stride));
  const d = ops.conv2d(x, p.depthwise, null, { stride, padding, groups: c });
  return ops.conv2d(d, p.pointwise, p.bias);
}

/** TF's maxPool 2x2 'same' (stride 2: PyTorch's ceil mode; stride 1: one padding row/column at the end). */
function maxPoolSame(x: Tensor, stride: number): Tensor {
  if (stride === 2) return ops.maxPool2d(x, { kernel: 2, stride: 2, ceilMode: true });
  return ops.maxPool2d(padBottomRight(x, 1, -3.4e38), { kernel: 2, stride: 1 });
}

/**
 * An RGB image (0..255) zero-padded to a square (at the end, or centred as the package's
 * padToSquare: round(diff / 2) after, the rest before) and resized to size x size with TF's legacy
 * bilinear resize; returns [3, size, size] minus the mean, / 255, and the padding before (x, y).
 */
export function netInput(img: RgbImage, size: number, mean: readonly number[], centre: boolean): { data: Float32Array; padX: number; padY: number; side: number } {
  const { width: W, height: H, data } = img;
  const side = Math.max(W, H);
  const diff = Math.abs(W - H);
  const before = centre ? diff - Math.round(diff / 2) : 0;
  const padX = W < H ? before : 0, padY = H < W ? before : 0;
  const out = new Float32Array(3 * size * size);
  const scale = side / size;
  const px = (x: number, y: number, c: number): number => {
    const ix = x - padX, iy = y - padY;
    return ix < 0 || iy < 0 || ix >= W || iy >= H ? 0 : data[(iy * W + ix) * 3 + c]!;
  };
  for (let v = 0; v < size; v++) {
    const sy = v * scale;
    const y0 = Math.floor(sy), y1 = Math.min(y0 + 1, side - 1), fy = sy - y0;
    for (let u = 0; u < size; u++) {
      const sx = u * scale;
      const x0 = Math.floor(sx), x1 = Math.min(x0 + 1, side - 1), fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const top = px(x0, y0, c) + (px(x1, y0, c) - px(x0, y0, c)) * fx;
        const bot = px(x0, y1, c) + (px(x1, y1, c) - px(x0, y1, c)) * fx;
        out[c * size * size + v * size + u] = (top + (bot - top) * fy - mean[c]!) / 255;
      }
    }
  }
  return { data: out, padX, padY, side };
}

export interface RawBox { x: number; y: number; width: number; height: number; score: number }

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

function iou(a: RawBox, b: RawBox): number {
  const w = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const h = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/** Greedy non-maximum suppression, best score first. */
export function nonMaxSuppression<T extends RawBox>(boxes: T[], iouThreshold: number): T[] {
  const order = [...boxes].sort((a, b) => b.score - a.score);
  const keep: T[] = [];
  for (const b of order) if (keep.every((k) => iou(k, b) <= iouThreshold)) keep.push(b);
  return keep;
}

export const TINY_FACE_MEAN_RGB = [117.001, 114.697, 97.404] as const;
export const TINY_FACE_ANCHORS: readonly [number, number][] = [[1.603231, 2.094468], [6.041143, 7.080126], [2.882459, 3.518061], [4.266906, 5.178857], [9.041765, 10.66308]];
export const LANDMARK_MEAN_RGB = [122.782, 117.001, 104.298] as const;

export class TinyFaceDetectorNet {
  private readonly w: Weights;
  private readonly conv0: { filters: Tensor; bias: Tensor };
  private readonly seps: Separable[];
  private readonly conv8: { filters: Tensor; bias: Tensor };

  constructor(readonly device: Device = 'cpu', dir?: string) {
    this.w = new Weights(readTfjsModel('tiny_face_detector_model', dir), device, 'tiny_face_detector_model');
    this.conv0 = { filters: this.w.filter('conv0/filters'), bias: this.w.vector('conv0/bias') };
    this.seps = [1, 2, 3, 4, 5].map((i) => separable(this.w, `conv${i}`));
    this.conv8 = { filters: this.w.filter('conv8/filters'), bias: this.w.vector('conv8/bias') };
  }

  /** Faces in an image (boxes in image pixels), best first, after non-maximum suppression. */
  detect(img: RgbImage, opts: { inputSize?: number; minScore?: number } = {}): RawBox[] {
    const size = opts.inputSize ?? 416;
    const minScore = opts.minScore ?? 0.5;
    if (size % 32 !== 0) throw new Error(`tiny face detector: input size must be a multiple of 32, got ${size}`);
    const { data } = netInput(img, size, TINY_FACE_MEAN_RGB, false);
    const out = this.raw(data, size);
    const cells = size / 32;
    const side = Math.max(img.width, img.height);
    // the image fills round(W * size / side) x round(H * size / side) of the input; the package's
    // box coordinates are relative to that region
    const fillW = Math.round((img.width * size) / side), fillH = Math.round((img.height * size) / side);
    const cx = size / fillW, cy = size / fillH;
    const boxes: RawBox[] = [];
    const plane = cells * cells;
    for (let a = 0; a < 5; a++) {
      for (let row = 0; row < cells; row++) {
        for (let col = 0; col < cells; col++) {
          const at = (k: number) => out[(a * 5 + k) * plane + row * cells + col]!;
          const score = sigmoid(at(4));
          if (score <= minScore) continue;
          const ctX = ((col + sigmoid(at(0))) / cells) * cx, ctY = ((row + sigmoid(at(1))) / cells) * cy;
          const bw = ((Math.exp(at(2)) * TINY_FACE_ANCHORS[a]![0]) / cells) * cx, bh = ((Math.exp(at(3)) * TINY_FACE_ANCHORS[a]![1]) / cells) * cy;
          boxes.push({ x: (ctX - bw / 2) * img.width, y: (ctY - bh / 2) * img.height, width: bw * img.width, height: bh * img.height, score });
        }
      }
    }
    return nonMaxSuppression(boxes, 0.4);
  }

  private raw(input: Float32Array, size: number): Float32Array {
    const scope = new Scope();
    try {
      return scope.run(() => noGrad(() => {
        let h = Tensor.fromArray(input, [1, 3, size, size], this.device);
        h = ops.leakyRelu(ops.conv2d(h, this.conv0.filters, this.conv0.bias), 0.1);
        h = maxPoolSame(h, 2);
        for (let i = 0; i < 5; i++) {
          h = ops.leakyRelu(sepConv(h, this.seps[i]!, 1, true), 0.1);
          h = maxPoolSame(h, i < 4 ? 2 : 1);
        }
        return ops.conv2d(h, this.conv8.filters, this.conv8.bias).toArray();
      }));
    } finally {
      scope.dispose();
    }
  }

  release(): void {
    this.w.release();
  }
}

export class FaceLandmark68Net {
  private readonly w: Weights;
  private readonly first: { filters: Tensor; bias: Tensor };
  private readonly blocks: Separable[][];
  private readonly fc: { weight: Tensor; bias: Tensor };

  constructor(readonly device: Device = 'cpu', dir?: string) {
    this.w = new Weights(readTfjsModel('face_landmark_68_model', dir), device, 'face_landmark_68_model');
    this.first = { filters: this.w.filter('dense0/conv0/filters'), bias: this.w.vector('dense0/conv0/bias') };
    this.blocks = [0, 1, 2, 3].map((b) => [0, 1, 2, 3].filter((i) => b > 0 || i > 0).map((i) => separable(this.w, `dense${b}/conv${i}`)));
    this.fc = { weight: this.w.matrix('fc/weights'), bias: this.w.vector('fc/bias') };
  }

  /**
   * 68 landmarks of a face crop, in the crop's pixels (the crop is padded to a centred square and
   * resized to 112 as the package does).
   */
  landmarks(crop: RgbImage): [number, number][] {
    const { data, padX, padY, side } = netInput(crop, 112, LANDMARK_MEAN_RGB, true);
    const out = this.raw(data);
    const pts: [number, number][] = [];
    for (let i = 0; i < 68; i++) pts.push([out[2 * i]! * side - padX, out[2 * i + 1]! * side - padY]);
    return pts;
  }

  /** The network's 136 outputs (x, y in [0, 1] of the input) for a prepared input [3, 112, 112]. */
  raw(input: Float32Array): Float32Array {
    const scope = new Scope();
    try {
      return scope.run(() => noGrad(() => {
        let h = Tensor.fromArray(input, [1, 3, 112, 112], this.device);
        for (let b = 0; b < 4; b++) {
          const seps = this.blocks[b]!;
          let c0: Tensor;
          if (b === 0) {
            const s = sameInput(h, 2);
            c0 = ops.relu(ops.conv2d(s.x, this.first.filters, this.first.bias, { stride: 2, padding: s.padding }));
          } else {
            c0 = ops.relu(sepConv(h, seps[0]!, 2, true));
          }
          const rest = b === 0 ? seps : seps.slice(1);
          const c1 = sepConv(c0, rest[0]!, 1, true);
          const c2 = sepConv(ops.relu(ops.add(c0, c1)), rest[1]!, 1, true);
          const s012 = ops.add(ops.add(c0, c1), c2);
          const c3 = sepConv(ops.relu(s012), rest[2]!, 1, true);
          h = ops.relu(ops.add(s012, c3));
        }
        const pooled = ops.reshape(ops.avgPool2d(h, { kernel: 7, stride: 2 }), [1, 256]);
        return ops.linear(pooled, this.fc.weight, this.fc.bias).toArray();
      }));
    } finally {
      scope.dispose();
    }
  }

  release(): void {
    this.w.release();
  }
}
