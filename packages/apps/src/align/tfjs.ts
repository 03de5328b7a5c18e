// The package's own pipeline: @vladmandic/face-api's browser bundle (dist/face-api.js, TFJS 4.x with
// its pure-JavaScript CPU backend inside) run in Node without @tensorflow/tfjs-node. The bundle
// looks for Node through `process` and then needs Node's util module, which the browser bundle
// stubs out, so it is evaluated with a `process` of its own (it then sees neither a browser nor
// Node), and TFJS gets a minimal platform (no fetch: the weights are read from the package's model/
// folder here). Used as the reference the engine port (nets.ts) is checked against, and as the
// `tfjs` backend of `sgi align`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import { createRequire } from 'node:module';
import { faceApiModelDir } from './nets.js';
import type { Point, RgbImage } from './ffhq.js';

type FaceApi = any;

let loaded: Promise<FaceApi> | null = null;

async function loadBundle(): Promise<FaceApi> {
  const require = createRequire(import.meta.url);
  const dir = path.dirname(require.resolve('@vladmandic/face-api/package.json'));
  const code = fs.readFileSync(path.join(dir, 'dist', 'face-api.js'), 'utf8');
  const fa = new Function('require', 'process', `${code}\n;return faceapi;`)(require, { env: {}, versions: {}, platform: process.platform }) as FaceApi;
  const tf = fa.tf;
  const noFetch = () => { throw new Error('face alignment (tfjs): no network access; weights are read from disk'); };
  tf.env().setPlatform('sgi-node', {
    fetch: noFetch,
    now: () => performance.now(),
    encode: (s: string) => new TextEncoder().encode(s),
    decode: (b: Uint8Array, enc: string) => new TextDecoder(enc).decode(b),
    isTypedArray: (a: unknown) => util.types.isTypedArray(a),
    setTimeoutCustom: (f: () => void, ms: number) => setTimeout(f, ms),
  });
  class NoMedia {}
  const none = (what: string) => () => { throw new Error(`face alignment (tfjs): ${what} is not available; pass image tensors`); };
  fa.env.setEnv({
    Canvas: NoMedia, CanvasRenderingContext2D: NoMedia, Image: NoMedia, ImageData: NoMedia, Video: NoMedia,
    createCanvasElement: none('canvas'), createImageElement: none('image elements'), createVideoElement: none('video'),
    fetch: noFetch, readFile: none('readFile'),
  });
  if (!(await tf.setBackend('cpu'))) throw new Error('face alignment (tfjs): the TFJS CPU backend did not initialise');
  await tf.ready();
  const modelDir = faceApiModelDir();
  const load = (net: any, name: string) => {
    const groups = JSON.parse(fs.readFileSync(path.join(modelDir, `${name}-weights_manifest.json`), 'utf8')) as { paths: string[]; weights: unknown[] }[];
    const map: Record<string, unknown> = {};
    for (const g of groups) {
      const buf = Buffer.concat(g.paths.map((p) => fs.readFileSync(path.join(modelDir, p))));
      Object.assign(map, tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length), g.weights));
    }
    net.loadFromWeightMap(map);
  };
  load(fa.nets.tinyFaceDetector, 'tiny_face_detector_model');
  load(fa.nets.ssdMobilenetv1, 'ssd_mobilenetv1_model');
  load(fa.nets.faceLandmark68Net, 'face_landmark_68_model');
  return fa;
}

/** The face-api module (loaded once per process). */
export function faceApi(): Promise<FaceApi> {
  loaded ??= loadBundle().catch((e: unknown) => {
    loaded = null;
    throw e;
  });
  return loaded;
}

export interface TfjsFace {
  box: { x: number; y: number; width: number; height: number };
  score: number;
  landmarks: Point[];
}

/** Faces with 68 landmarks by the package's own detectAllFaces(...).withFaceLandmarks(). */
export async function detectWithTfjs(img: RgbImage, opts: { detector?: 'tiny' | 'ssd'; minScore?: number; inputSize?: number } = {}): Promise<TfjsFace[]> {
  const fa = await faceApi();
  const tf = fa.tf;
  const minScore = opts.minScore ?? 0.5;
  const options = opts.detector === 'ssd'
    ? new fa.SsdMobilenetv1Options({ minConfidence: minScore })
    : new fa.TinyFaceDetectorOptions({ inputSize: opts.inputSize ?? 416, scoreThreshold: minScore });
  const input = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
  try {
    const results = await fa.detectAllFaces(input, options).withFaceLandmarks();
    return results.map((r: any) => ({
      box: { x: r.detection.box.x, y: r.detection.box.y, width: r.detection.box.width, height: r.detection.box.height },
      score: r.detection.score,
      landmarks: r.landmarks.positions.map((p: { x: number; y: number }) => [p.x, p.y] as Point),
    }));
  } finally {
    input.dispose();
  }
}
