// Test-only oracle: the @vladmandic/face-api package's own FaceRecognitionNet running on its
// bundled TensorFlow.js CPU backend. The ESM bundle targets browsers; it is loaded with Node's
// version hidden (so it does not pick its Node platform, which needs a real `util`) and given a
// minimal platform shim.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

export interface FaceApiOracle {
  /** Descriptors [B][128] of NHWC float images (0..255), B x 150 x 150 x 3. */
  describe(nhwc: Float32Array, batch: number): Promise<Float32Array[]>;
}

export async function loadFaceApiOracle(): Promise<FaceApiOracle> {
  const require = createRequire(import.meta.url);
  const root = path.dirname(require.resolve('@vladmandic/face-api/package.json'));
  const versions = process.versions;
  Object.defineProperty(process, 'versions', { value: { ...versions, node: undefined }, configurable: true });
  let faceapi: any;
  try {
    faceapi = await import(pathToFileURL(path.join(root, 'dist', 'face-api.esm.js')).href);
  } finally {
    Object.defineProperty(process, 'versions', { value: versions, configurable: true });
  }
  const tf = faceapi.tf;
  tf.env().setPlatform('sgi-test-shim', {
    fetch: globalThis.fetch,
    now: () => performance.now(),
    encode: (s: string) => new TextEncoder().encode(s),
    decode: (b: Uint8Array, e: string) => new TextDecoder(e).decode(b),
    isTypedArray: (a: unknown) => ArrayBuffer.isView(a) && !(a instanceof DataView),
    setTimeoutCustom: (fn: () => void, t: number) => setTimeout(fn, t),
  });
  await tf.setBackend('cpu');
  await tf.ready();
  faceapi.env.setEnv(faceapi.env.createNodejsEnv());
  const dir = path.join(root, 'model');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'face_recognition_model-weights_manifest.json'), 'utf8'));
  const buf = Buffer.concat(manifest[0].paths.map((p: string) => fs.readFileSync(path.join(dir, p))));
  const weightMap = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), manifest[0].weights);
  const net = new faceapi.FaceRecognitionNet();
  net.loadFromWeightMap(weightMap);
  return {
    async describe(nhwc, batch) {
      const out: Float32Array[] = [];
      for (let b = 0; b < batch; b++) {
        const per = 150 * 150 * 3;
        const t = tf.tensor4d(nhwc.subarray(b * per, (b + 1) * per), [1, 150, 150, 3]);
        const d = await net.forward(t);
        out.push(Float32Array.from(await d.data()));
        t.dispose();
        d.dispose();
      }
      return out;
    },
  };
}
