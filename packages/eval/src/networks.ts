// The networks the evaluation uses: the identity network of the IDS metric (the npm face-api
// model by default, ArcFace or CurricularFace weights by path) and LPIPS (AlexNet v0.1).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ops, type Tensor } from '@sgi/core';
import { CURRICULARFACE_IR101, IDLoss, LPIPS, WEIGHT_SOURCES, repositoryWeightsDir } from '@sgi/losses';
import type { IdentityNetwork, LpipsFn } from './evaluate.js';

export function createIdentityNetwork(opts: { network: 'faceapi' | 'arcface' | 'curricularface'; checkpoint?: string }): IdentityNetwork {
  if (opts.network !== 'faceapi' && !opts.checkpoint) {
    const file = opts.network === 'arcface' ? 'model_ir_se50.pth (TreB1eN IR-SE-50)' : 'CurricularFace_Backbone.pth (IR-101)';
    throw new Error(`--id-network ${opts.network} needs --id-checkpoint <${file}>`);
  }
  const id = opts.network === 'curricularface'
    ? new IDLoss({ network: 'arcface', arcface: CURRICULARFACE_IR101, variant: 'single', checkpoint: opts.checkpoint })
    : new IDLoss({ network: opts.network, variant: 'single', checkpoint: opts.checkpoint });
  const names = { faceapi: 'face-api (npm @vladmandic/face-api, 128-d)', arcface: `ArcFace IR-SE-50 (${opts.checkpoint})`, curricularface: `CurricularFace IR-101 (${opts.checkpoint})` };
  return { name: names[opts.network], embed: (x: Tensor) => id.embed(x) };
}

/**
 * The LPIPS v0.1 linear layers that ship with the repository (pretrained/lpips_alex_v0.1.pth; the
 * repository root is found by walking up to nx.json). Undefined outside the repository or when
 * the file is missing: LPIPS then looks in its default weights directory (SGI_WEIGHTS_DIR).
 */
export function shippedLpipsLinear(): string | undefined {
  const dir = repositoryWeightsDir();
  const file = dir && path.join(dir, WEIGHT_SOURCES.lpipsLinear.file);
  return file && fs.existsSync(file) ? file : undefined;
}

export function createLpipsMetric(opts: { alexnet?: string; linear?: string }): { distance: LpipsFn; note?: string } {
  const lpips = new LPIPS({ alexnet: opts.alexnet, linear: opts.linear ?? shippedLpipsLinear(), randomInit: true });
  const hints: string[] = [];
  if (lpips.randomInitialised.includes('lpips.alexnet')) hints.push('pass --lpips-alexnet for the real AlexNet');
  if (lpips.randomInitialised.includes('lpips.linear')) hints.push(`the real linear layers ship as pretrained/${WEIGHT_SOURCES.lpipsLinear.file}`);
  const note = lpips.randomInitialised.length ? `LPIPS uses random weights for: ${lpips.randomInitialised.join(', ')} (${hints.join('; ')})` : undefined;
  return { distance: (a, b) => ops.mean(lpips.distance(a, b)), note };
}
