import { describe, it, expect, beforeAll } from 'vitest';
import { noGrad, ops, Tensor } from '@sgi/core';
import {
  FaceRecognitionNet, IDLoss, defaultFaceApiManifest, faceCrop, loadFaceRecognitionNet, readTfjsWeights,
} from '@sgi/losses';
import { loadFaceApiOracle } from './faceapi_oracle.js';
import { faceImageFiles, loadFace } from './images.js';

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i]! * b[i]!; na += a[i]! ** 2; nb += b[i]! ** 2; }
  return dot / Math.sqrt(na * nb);
}

describe('face-api face recognition network (TFJS weights from npm)', () => {
  let net: FaceRecognitionNet;
  beforeAll(() => { net = loadFaceRecognitionNet(); });

  it('loads every tensor of the package manifest', () => {
    const raw = readTfjsWeights(defaultFaceApiManifest());
    let total = 0;
    for (const t of raw.values()) total += t.data.length;
    expect(net.numParameters()).toBe(total);
    expect(raw.get('fc')!.shape).toEqual([256, 128]);
    expect(net.fc.weight.shape).toEqual([128, 256]);
  });

  it('gives the same descriptors as the package itself (TFJS CPU backend) on real faces', async () => {
    const files = faceImageFiles().slice(0, 2);
    expect(files.length).toBe(2);
    const oracle = await loadFaceApiOracle();
    for (const file of files) {
      const img = await loadFace(file);
      const crop = faceCrop(img, 150); // [-1, 1]
      const ours = noGrad(() => net.forward(FaceRecognitionNet.preprocess(crop))).toArray();
      const chw = crop.toArray();
      const nhwc = new Float32Array(150 * 150 * 3);
      for (let y = 0; y < 150; y++) for (let x = 0; x < 150; x++) for (let c = 0; c < 3; c++) {
        nhwc[(y * 150 + x) * 3 + c] = (chw[c * 150 * 150 + y * 150 + x]! + 1) * 127.5;
      }
      const [ref] = await oracle.describe(nhwc, 1);
      let maxDiff = 0, maxRef = 0;
      for (let i = 0; i < 128; i++) { maxDiff = Math.max(maxDiff, Math.abs(ours[i]! - ref![i]!)); maxRef = Math.max(maxRef, Math.abs(ref![i]!)); }
      expect(maxDiff / Math.max(1, maxRef), `${file}: descriptor difference ${maxDiff}`).toBeLessThan(1e-3);
    }
  });

  it('rates flips and crops of one face as more similar than different people', async () => {
    const files = faceImageFiles().slice(0, 6);
    expect(files.length).toBeGreaterThanOrEqual(4);
    const id = new IDLoss({ network: 'faceapi' });
    const plain = await Promise.all(files.map((f) => loadFace(f)));
    const flip = await Promise.all(files.map((f) => loadFace(f, 'flip')));
    const crop = await Promise.all(files.map((f) => loadFace(f, 'crop')));
    const emb = (ts: Tensor[]) => {
      const e = noGrad(() => id.embed(ops.cat(ts, 0))).toArray();
      return ts.map((_, i) => e.subarray(i * 128, (i + 1) * 128));
    };
    const [ep, ef, ec] = [emb(plain), emb(flip), emb(crop)];
    const same: number[] = [], diff: number[] = [];
    for (let i = 0; i < files.length; i++) {
      same.push(cosine(ep[i]!, ef[i]!), cosine(ep[i]!, ec[i]!));
      for (let j = i + 1; j < files.length; j++) diff.push(cosine(ep[i]!, ep[j]!), cosine(ef[i]!, ec[j]!));
    }
    const minSame = Math.min(...same), maxDiff = Math.max(...diff);
    expect(minSame, `same-face cosines ${same.map((v) => v.toFixed(3)).join(' ')}; different ${diff.map((v) => v.toFixed(3)).join(' ')}`).toBeGreaterThan(maxDiff);
    // the metric helper agrees
    const s = id.similarity(ops.cat(plain.slice(0, 2), 0), ops.cat(flip.slice(0, 2), 0));
    expect(s[0]).toBeCloseTo(same[0]!, 4);
  });

  it('works as the ID network of the multi-layer loss (gradients reach the reconstruction)', async () => {
    const files = faceImageFiles();
    const x = await loadFace(files[0]!);
    const yHat = (await loadFace(files[0]!, 'crop')).requireGrad();
    const multi = new IDLoss({ network: 'faceapi', variant: 'multi' });
    const loss = multi.forward(yHat, x);
    expect(loss.item()).toBeGreaterThan(0);
    expect(loss.item()).toBeLessThan(5);
    loss.backward();
    const g = yHat.grad!.toArray();
    expect(g.some((v) => v !== 0)).toBe(true);
    expect(g.every(Number.isFinite)).toBe(true);
    for (const p of multi.faceapi!.parameters()) expect(p.grad).toBeNull();
    expect(multi.forward(x, x).item()).toBeLessThan(1e-5);
  });
});
