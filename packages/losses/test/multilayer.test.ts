import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ops, writeSafetensors } from '@sgi/core';
import { IDLoss, ParseLoss } from '@sgi/losses';
import { loadFixture, fixtureCases, get, toTensor, expectClose } from '../../core/test/helpers.js';
import { paramsOf } from './util.js';

describe('multi-layer ID and parsing losses', () => {
  const arc = loadFixture('arcface_small.safetensors');
  const unet = loadFixture('unet_small.safetensors');
  const f = loadFixture('multilayer_losses.safetensors');
  const am = fixtureCases(arc).model as { widths: number[]; units: number[]; embedding: number; input_size: number };
  const um = fixtureCases(unet).model as { feature_scale: number; n_classes: number };
  const unetInput = get(unet, 'input.x').shape[2]!;

  const idLoss = () => {
    const l = new IDLoss({ load: false, arcface: { widths: am.widths, units: am.units, embedding: am.embedding, inputSize: am.input_size } });
    l.arcface!.loadStateDict(paramsOf(arc), { context: 'arcface_small' });
    return l;
  };
  const parseLoss = () => {
    const l = new ParseLoss({ load: false, featureScale: um.feature_scale, classes: um.n_classes, poolTo: unetInput });
    l.net.loadStateDict(paramsOf(unet), { context: 'unet_small' });
    return l;
  };

  it('match the fixture values and d(id + parse)/d y_hat', () => {
    const id = idLoss(), parse = parseLoss();
    const x = toTensor(get(f, 'input.x'));
    const yHat = toTensor(get(f, 'input.y_hat'), true);
    const li = id.forward(yHat, x);
    const lp = parse.forward(yHat, x);
    expectClose(li.toArray(), get(f, 'id_loss').data, 1e-3, 'id_loss');
    expectClose(lp.toArray(), get(f, 'parse_loss').data, 1e-3, 'parse_loss');
    ops.add(li, lp).backward();
    expectClose(yHat.grad!, get(f, 'grad_input.y_hat'), 5e-3, 'grad y_hat');
    for (const p of [...id.arcface!.parameters(), ...parse.net.parameters()]) expect(p.grad).toBeNull();
  });

  it('are 0 for identical images; the single-layer variant uses the embedding only', () => {
    const x = toTensor(get(f, 'input.x'));
    const yHat = toTensor(get(f, 'input.y_hat'));
    const id = idLoss();
    expect(Math.abs(id.forward(x, x).item())).toBeLessThan(1e-5);
    expect(Math.abs(parseLoss().forward(x, x).item())).toBeLessThan(1e-5);
    const single = new IDLoss({ load: false, variant: 'single', arcface: id.arcface!.arcConfig });
    single.arcface!.loadStateDict(paramsOf(arc));
    const emb = (t: typeof x) => id.embed(t).toArray();
    const a = emb(yHat), b = emb(x);
    const n = yHat.shape[0]!, d = a.length / n;
    let expected = 0;
    for (let i = 0; i < n; i++) {
      let dot = 0, na = 0, nb = 0;
      for (let j = 0; j < d; j++) { dot += a[i * d + j]! * b[i * d + j]!; na += a[i * d + j]! ** 2; nb += b[i * d + j]! ** 2; }
      expected += 1 - dot / Math.sqrt(na * nb);
    }
    expect(single.forward(yHat, x).item()).toBeCloseTo(expected / n, 4);
    const sims = id.similarity(yHat, x);
    expect(sims.length).toBe(n);
  });
});

describe('loading the loss networks by path', () => {
  it('IDLoss and ParseLoss read their checkpoints (here safetensors; .pth goes through the same reader)', () => {
    const arc = loadFixture('arcface_small.safetensors');
    const unet = loadFixture('unet_small.safetensors');
    const f = loadFixture('multilayer_losses.safetensors');
    const am = fixtureCases(arc).model as { widths: number[]; units: number[]; embedding: number; input_size: number };
    const um = fixtureCases(unet).model as { feature_scale: number; n_classes: number };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-loss-ckpt-'));
    const arcFile = path.join(dir, 'arc.safetensors');
    const unetFile = path.join(dir, 'unet.safetensors');
    // DataParallel-style 'module.' prefixes are stripped
    writeSafetensors(arcFile, [...paramsOf(arc)].map(([k, v]) => [`module.${k}`, v] as [string, typeof v]));
    writeSafetensors(unetFile, paramsOf(unet));
    const id = new IDLoss({ checkpoint: arcFile, arcface: { widths: am.widths, units: am.units, embedding: am.embedding, inputSize: am.input_size } });
    const parse = new ParseLoss({ checkpoint: unetFile, featureScale: um.feature_scale, classes: um.n_classes, poolTo: get(unet, 'input.x').shape[2]! });
    expect(id.weightsFile).toBe(arcFile);
    expect(id.randomInitialised).toEqual([]);
    const x = toTensor(get(f, 'input.x'));
    const yHat = toTensor(get(f, 'input.y_hat'));
    expectClose(id.forward(yHat, x).toArray(), get(f, 'id_loss').data, 1e-3, 'id_loss');
    expectClose(parse.forward(yHat, x).toArray(), get(f, 'parse_loss').data, 1e-3, 'parse_loss');
    // a checkpoint of another layout is a clear error naming the file
    expect(() => new ParseLoss({ checkpoint: arcFile, featureScale: um.feature_scale })).toThrow(new RegExp(`${arcFile.replace(/[.]/g, '\\.')}.*missing keys`));
  });
});
