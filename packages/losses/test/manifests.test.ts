// The full-size networks have exactly the parameter names and shapes of the real checkpoints
// (fixtures/manifests.json), so model_ir_se50.pth, parsing.pth and torchvision's AlexNet load strictly.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Module } from '@sgi/core';
import { AlexNetFeatures, ArcFace, ARCFACE_IRSE50, ParsingUNet, PARSING_UNET_DEFAULT } from '@sgi/losses';
import { fixturesDir } from '../../core/test/helpers.js';

const manifests = JSON.parse(fs.readFileSync(path.join(fixturesDir(), 'manifests.json'), 'utf8')) as Record<string, { params: number; tensors: Record<string, number[]> }>;
const entry = (prefix: string) => {
  const key = Object.keys(manifests).find((k) => k.startsWith(prefix));
  if (!key) throw new Error(`manifests.json has no entry starting with '${prefix}'`);
  return manifests[key]!;
};

function expectLayout(m: Module, tensors: Record<string, number[]>): void {
  const ours = new Map([...m.stateDict()].map(([k, t]) => [k, [...t.shape]]));
  const theirs = Object.keys(tensors);
  expect([...ours.keys()].filter((k) => !(k in tensors)), 'names not in the checkpoint').toEqual([]);
  expect(theirs.filter((k) => !ours.has(k)), 'checkpoint names we lack').toEqual([]);
  for (const k of theirs) {
    const want = tensors[k]!;
    const got = ours.get(k)!;
    // 0-d buffers (num_batches_tracked) may be [] or [1]
    if (want.length === 0) expect(got.reduce((a, b) => a * b, 1), k).toBe(1);
    else expect(got, k).toEqual(want);
  }
  // and the state dict loads strictly from a checkpoint of that layout
  const state = new Map(theirs.map((k) => [k, { shape: tensors[k]!, data: new Float32Array(tensors[k]!.reduce((a, b) => a * b, 1)) }]));
  expect(() => m.loadStateDict(state, { strict: true })).not.toThrow();
}

describe('real checkpoint layouts', () => {
  it('ArcFace IR-SE-50 (model_ir_se50.pth)', () => {
    const net = new ArcFace(ARCFACE_IRSE50);
    expectLayout(net, entry('arcface_ir_se50').tensors);
    expect(net.numParameters()).toBeGreaterThan(43e6);
    net.release();
  });
  it('parsing UNet at feature_scale 4', () => {
    const net = new ParsingUNet(PARSING_UNET_DEFAULT);
    expect(net.filters).toEqual([16, 32, 64, 128, 256]);
    expectLayout(net, entry('face_parsing_unet').tensors);
  });
  it('AlexNet features (torchvision)', () => {
    const net = new AlexNetFeatures();
    expectLayout(net, entry('alexnet_features').tensors);
    expect(net.numParameters()).toBe(entry('alexnet_features').params);
  });
});
