import { describe, it, expect } from 'vitest';
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { Tensor } from '@sgi/core';
import { createLoss, MissingWeightsError, IDLoss, ParseLoss, LPIPS, DEFAULT_LOSS_WEIGHTS } from '@sgi/losses';
import { repoFile, randTensor } from '../../core/test/helpers.js';

const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-no-weights-'));
const lpipsLinear = repoFile('pretrained/lpips_alex_v0.1.pth');

describe('missing weight files', () => {
  it('name the file, the loss and where to get it', () => {
    const file = path.join(empty, 'model_ir_se50.pth');
    let err: unknown;
    try { new IDLoss({ checkpoint: file }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(MissingWeightsError);
    const msg = (err as Error).message;
    expect(msg).toContain(file);
    expect(msg).toMatch(/^ID \(ArcFace IR-SE-50\) loss/);
    expect(msg).toContain('InsightFace_Pytorch');
    expect(msg).toMatch(/randomInit/);
    expect(() => new ParseLoss({ weightsDir: empty })).toThrow(/parsing loss: weight file .*parsing\.pth not found.*E2Style/);
    expect(() => new LPIPS({ weightsDir: empty })).toThrow(/LPIPS loss: weight file .*alexnet-owt-7be5be79\.pth not found.*torchvision/);
  });

  it('the combined loss reports every missing file unless the term is disabled or randomInit is set', () => {
    let err: MissingWeightsError | undefined;
    try { createLoss({ weightsDir: empty }); } catch (e) { err = e as MissingWeightsError; }
    expect(err).toBeInstanceOf(MissingWeightsError);
    // every missing file at once, each with its loss and source
    expect(err!.missing.map((m) => path.basename(m.file))).toEqual(['alexnet-owt-7be5be79.pth', 'lpips_alex_v0.1.pth', 'model_ir_se50.pth', 'parsing.pth']);
    expect(err!.message.split('\n').length).toBe(4);
    expect(err!.message).toMatch(/LPIPS loss: .*\n.*LPIPS loss: .*\n.*ID \(ArcFace IR-SE-50\) loss: .*\n.*parsing loss: /);
    // face-api needs no file
    expect(() => createLoss({ weightsDir: empty, lpips: 0, parsing: 0, id: { weight: 0.5, network: 'faceapi' } })).not.toThrow();
    const onlyL2 = createLoss({ weightsDir: empty, lpips: 0, id: 0, parsing: 0 });
    expect(onlyL2.randomInitialised).toEqual([]);
    expect(onlyL2.describe()).toBe('l2 1');
    const rnd = createLoss({ weightsDir: empty, lpips: 0, id: 0, parsing: { weight: 1 }, randomInit: true });
    expect(rnd.randomInitialised).toEqual(['parsing.unet']);
    expect(rnd.describe()).toMatch(/RANDOM WEIGHTS: parsing\.unet/);
  });
});

describe('combined loss', () => {
  it('has the paper defaults', () => {
    expect(DEFAULT_LOSS_WEIGHTS).toEqual({ l2: 1, lpips: 0.8, id: 0.5, parsing: 1 });
  });

  it('sums the weighted terms, logs each and passes gradients to the reconstruction only', () => {
    const loss = createLoss({
      weightsDir: empty,
      lpips: { weight: 0.8, linear: lpipsLinear },
      id: { weight: 0.5, variant: 'multi', network: 'faceapi' },
      parsing: 1,
      randomInit: true,
    });
    expect(loss.randomInitialised).toEqual(['lpips.alexnet', 'parsing.unet']);
    const x = randTensor([1, 3, 256, 256], 3).requireGrad(false);
    const yHat = randTensor([1, 3, 256, 256], 4);
    const { total, terms } = loss.forward(yHat, x);
    expect(Object.keys(terms).sort()).toEqual(['id', 'l2', 'lpips', 'parsing', 'total']);
    const expected = terms.l2! + 0.8 * terms.lpips! + 0.5 * terms.id! + terms.parsing!;
    expect(total.item()).toBeCloseTo(expected, 4);
    expect(terms.total).toBeCloseTo(expected, 4);
    total.backward();
    expect(yHat.grad).not.toBeNull();
    expect(yHat.grad!.toArray().every(Number.isFinite)).toBe(true);
    expect(x.grad).toBeNull();
    for (const net of [loss.lpips!.net, loss.lpips!.lin, loss.id!.faceapi!, loss.parsing!.net]) {
      expect(net.training).toBe(false);
      for (const p of net.parameters()) expect(p.grad).toBeNull();
    }
    loss.release();
  });

  it('the single-layer ArcFace variant and term switches', () => {
    const loss = createLoss({ weightsDir: empty, l2: 0, lpips: 0, parsing: 0, id: { weight: 1, variant: 'single' }, randomInit: true });
    expect(loss.describe()).toBe('id(single,arcface) 1 [RANDOM WEIGHTS: id.arcface]');
    const x = randTensor([1, 3, 256, 256], 5).requireGrad(false);
    const { terms } = loss.forward(x, x);
    expect(Object.keys(terms).sort()).toEqual(['id', 'total']);
    expect(Math.abs(terms.id!)).toBeLessThan(1e-5);
    expect(() => createLoss({ l2: -1, lpips: 0, id: 0, parsing: 0 })).toThrow(/>= 0/);
    const none = createLoss({ l2: 0, lpips: 0, id: 0, parsing: 0 });
    expect(none.forward(x, x).total).toBeInstanceOf(Tensor);
  });
});
