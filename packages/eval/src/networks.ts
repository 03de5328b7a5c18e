// The networks the evaluation uses: the identity network of the IDS metric (the npm face-api
// model by default, ArcFace or CurricularFace weights by path) and LPIPS (AlexNet v0.1).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ops, type Tensor } from '@sgi/core';
import { IDLoss, LPIPS } from '@sgi/losses';
import type { IdentityNetwork, LpipsFn } from './evaluate.js';

export function createIdentityNetwork(opts: { network: 'faceapi' | 'arcface' | 'curricularface'; checkpoint?: string }): IdentityNetwork {
  if (opts.network === 'curricularface') {
    throw new Error('CurricularFace (IR-101) is not supported yet: use --id-network faceapi (default) or arcface --id-checkpoint model_ir_se50.pth');
  }
  if (opts.network === 'arcface' && !opts.checkpoint) {
    throw new Error('--id-network arcface needs --id-checkpoint <model_ir_se50.pth> (TreB1eN IR-SE-50 weights)');
  }
  const id = new IDLoss({ network: opts.network, variant: 'single', checkpoint: opts.checkpoint });
  return {
    name: opts.network === 'faceapi' ? 'face-api (npm @vladmandic/face-api, 128-d)' : `ArcFace IR-SE-50 (${opts.checkpoint})`,
    embed: (x: Tensor) => id.embed(x),
  };
}

/** The LPIPS v0.1 linear layers shipped beside the project (../shared/weights) when present. */
function defaultLinear(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidate = path.resolve(here, '../../../../shared/weights/lpips_alex_v0.1.pth');
  return fs.existsSync(candidate) ? candidate : undefined;
}

export function createLpipsMetric(opts: { alexnet?: string; linear?: string }): { distance: LpipsFn; note?: string } {
  const lpips = new LPIPS({ alexnet: opts.alexnet, linear: opts.linear ?? defaultLinear(), randomInit: true });
  const note = lpips.randomInitialised.length ? `LPIPS uses random weights for: ${lpips.randomInitialised.join(', ')} (pass --lpips-alexnet for the real AlexNet)` : undefined;
  return { distance: (a, b) => ops.mean(lpips.distance(a, b)), note };
}
