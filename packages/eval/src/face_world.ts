// The built-in face world, measured: how faithfully the face generator renders held-out faces,
// how well the trained encoder stages invert them, and whether moving an inverted face along an
// editing direction changes that attribute (as a small attribute classifier sees it) while the
// other attributes stay. Also draws the README's picture: input | stage 1 | stage 2 | an edit.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Scope, Tensor, meanImageScores, noGrad, ops, readNpy } from '@sgi/core';
import { ATTRIBUTES, FACE_CODE_DIM, encodeFaces, faceLabels, sampleFaces, type Attribute } from '@sgi/faces';
import { FACE_EVAL_OFFSET, FACE_SEEDS, buildExperiment, heldOutFaces, loadConfig, runCheckpoint, runDirFor, writeImageGrid, type Config } from '@sgi/experiment';
import { loadAttributeNet, predictAttributes, type FaceAttributeNet } from './face_attributes.js';
import type { LpipsFn } from './evaluate.js';

export interface FaceWorldOptions {
  /** Configs of the inversion stages to measure, first stage first (e.g. tiny stage 1 and 2). */
  stageConfigs: string[];
  runsRoot: string;
  /** Folder of the editing directions (<attribute>.npy). */
  directions: string;
  /** The attribute classifier's weights. */
  attributes: string;
  /** Held-out faces measured (after the first 4096 held-out seeds, which validation uses). */
  count: number;
  /** Edit strengths, in units of each direction's separation (directions.json). */
  strength: number;
  lpips?: LpipsFn;
  outDir: string;
  log: (line: string) => void;
}

export interface EditResult {
  attribute: Attribute;
  /** Faces edited (those whose inversion the classifier reads as the original label). */
  edited: number;
  /** Fraction whose predicted attribute flipped. */
  flipped: number;
  /** Fraction of the other attributes' predictions left unchanged. */
  othersKept: number;
}

export interface FaceWorldReport {
  count: number;
  generator: { psnr: number; ssim: number; lpips?: number };
  stages: { config: string; checkpoint: string; psnr: number; ssim: number; lpips?: number }[];
  edits: EditResult[];
  picture: string;
}

/** W+ edit: code + strength * direction (direction [nLatent, D] broadcast over the batch). */
export function editCodes(codes: Tensor, direction: Tensor, strength: number): Tensor {
  return ops.add(codes, ops.scale(direction, strength));
}

/** Reads an editing direction and checks its shape against the generator's W+. */
export function readDirection(file: string, nLatent: number, D: number): Tensor {
  const d = readNpy(file);
  if (d.shape.length !== 2 || d.shape[0] !== nLatent || d.shape[1] !== D) {
    throw new Error(`${file}: direction of shape [${d.shape.join(', ')}], but the generator's W+ is [${nLatent}, ${D}]`);
  }
  return Tensor.fromArray(Float32Array.from(d.data), [nLatent, D]);
}

export async function faceWorldReport(o: FaceWorldOptions): Promise<FaceWorldReport> {
  const configs = o.stageConfigs.map((f) => loadConfig(f));
  const last = configs[configs.length - 1]!;
  if (last.generator.input !== 'facesjs') throw new Error(`${o.stageConfigs.at(-1)}: not a face-world config (generator.input must be facesjs)`);
  const size = last.encoder.inputSize;
  const x = Tensor.fromArray(await heldOutFaces(o.count, size, FACE_EVAL_OFFSET), [o.count, 3, size, size]);
  x.persistent = true;
  const scope = new Scope();
  let picture: { columns: Float32Array[] } = { columns: [] };
  let partial: Omit<FaceWorldReport, 'picture'>;
  try {
    partial = scope.run(() => {
      // the generator drawing the held-out faces from their codes
      const exps = configs.map((c, i) => {
        const ck = runCheckpoint(runDirFor(c, o.runsRoot));
        if (!ck) throw new Error(`no checkpoint for ${c.name}: train it first (npx nx run exp-tiny-stage${i + 1}:train)`);
        return { c, ck, exp: buildExperiment(c, { runsRoot: o.runsRoot, checkpoint: ck, device: 'cpu' }) /* a 64 px world: the CPU */ };
      });
      const { exp } = exps[exps.length - 1]!;
      const G = exp.generator;
      const codes = Tensor.fromArray(encodeFaces(sampleFaces(FACE_SEEDS.heldOut + FACE_EVAL_OFFSET, o.count)), [o.count, FACE_CODE_DIM]);
      const drawn = noGrad(() => {
        const w = G.mapping(codes);
        const wPlus = ops.expand(ops.reshape(w, [o.count, 1, G.styleDim]), [o.count, G.nLatent, G.styleDim]);
        return exp.model.facePool(G.synthesis(wPlus, { noise: 'stored' }));
      });
      const generator = score(x, drawn, o.lpips);
      o.log(`generator (${last.generator.size}x${last.generator.size}) on ${o.count} held-out faces: PSNR ${generator.psnr.toFixed(2)} dB, SSIM ${generator.ssim.toFixed(3)}${generator.lpips !== undefined ? `, LPIPS ${generator.lpips.toFixed(3)}` : ''}`);
      // each stage's inversion
      const stages: FaceWorldReport['stages'] = [];
      const recon: Tensor[] = [];
      let finalCodes: Tensor | null = null;
      for (const { c, ck, exp: e } of exps) {
        e.model.eval();
        const r = noGrad(() => e.model.forward(x, { withImages: true }));
        const y = r.images[r.images.length - 1]!;
        recon.push(y);
        finalCodes = r.codes[r.codes.length - 1]!;
        const s = score(x, y, o.lpips);
        stages.push({ config: c.name, checkpoint: ck, ...s });
        o.log(`${c.name} (${c.stages} stage(s)): PSNR ${s.psnr.toFixed(2)} dB, SSIM ${s.ssim.toFixed(3)}${s.lpips !== undefined ? `, LPIPS ${s.lpips.toFixed(3)}` : ''}`);
      }
      // edits of the final inversion, read by the attribute classifier
      const { net } = loadAttributeNet(o.attributes);
      const before = predictAttributes(net, recon[recon.length - 1]!);
      const separations = readSeparations(o.directions);
      const edits: EditResult[] = [];
      let glassesEdit: Tensor | null = null;
      for (const attr of ATTRIBUTES) {
        const file = path.join(o.directions, `${attr}.npy`);
        if (!fs.existsSync(file) || !separations[attr]) continue;
        const dir = readDirection(file, G.nLatent, G.styleDim);
        const k = ATTRIBUTES.indexOf(attr);
        // add the attribute to faces read without it, remove it from faces read with it
        const sign = Float32Array.from({ length: o.count }, (_, i) => (before[i * ATTRIBUTES.length + k]! > 0.5 ? -1 : 1));
        const steps = Tensor.fromArray(sign.map((s) => s * o.strength * separations[attr]!), [o.count, 1, 1]);
        const edited = noGrad(() => exp.model.facePool(G.synthesis(ops.add(finalCodes!, ops.mul(steps, dir)), { noise: 'stored' })));
        const after = predictAttributes(net, edited);
        edits.push(measureEdit(attr, before, after, o.count));
        if (attr === 'glasses') glassesEdit = edited;
        const e = edits[edits.length - 1]!;
        o.log(`edit ${attr} (strength ${o.strength} x ${separations[attr]!.toFixed(2)}): flipped ${(100 * e.flipped).toFixed(0)}% of ${e.edited} faces, other attributes kept ${(100 * e.othersKept).toFixed(0)}%`);
      }
      // the picture's columns: input | stage 1 | ... | stage n | glasses edit
      picture = { columns: [x, ...recon, ...(glassesEdit ? [glassesEdit] : [])].map((t) => t.toArray()) };
      return { count: o.count, generator, stages, edits };
    });
  } finally {
    scope.dispose();
    x.persistent = false;
    x.release();
  }
  const rows = Math.min(6, o.count);
  const plane = 3 * size * size;
  const grid = [];
  for (let i = 0; i < rows; i++) for (const col of picture.columns) grid.push({ data: col, offset: i * plane });
  const file = path.join(o.outDir, 'face-world.png');
  await writeImageGrid(file, grid, size, picture.columns.length);
  const report: FaceWorldReport = { ...partial, picture: file };
  fs.writeFileSync(path.join(o.outDir, 'face-world.json'), `${JSON.stringify({ ...report, attributesClassifier: o.attributes, directions: o.directions, strength: o.strength }, null, 2)}\n`);
  return report;
}

function score(a: Tensor, b: Tensor, lpips?: LpipsFn): { psnr: number; ssim: number; lpips?: number } {
  const s = meanImageScores(a, b);
  return { ...s, lpips: lpips ? ops.mean(lpips(b, a)).item() : undefined };
}

/** Each direction's separation (directions.json beside the .npy files). */
function readSeparations(dir: string): Partial<Record<Attribute, number>> {
  const file = path.join(dir, 'directions.json');
  if (!fs.existsSync(file)) throw new Error(`${file} not found: the directions folder must hold directions.json (written with the directions by sgi train --export)`);
  const j = JSON.parse(fs.readFileSync(file, 'utf8')) as { directions: Record<string, { separation: number }> };
  return Object.fromEntries(Object.entries(j.directions).map(([k, v]) => [k, v.separation]));
}

/** How an edit changed the classifier's reading of `attr`, and how many other readings it kept. */
export function measureEdit(attr: Attribute, before: Float32Array, after: Float32Array, count: number): EditResult {
  const A = ATTRIBUTES.length, k = ATTRIBUTES.indexOf(attr);
  let flipped = 0, kept = 0, others = 0;
  for (let i = 0; i < count; i++) {
    if ((before[i * A + k]! > 0.5) !== (after[i * A + k]! > 0.5)) flipped++;
    for (let j = 0; j < A; j++) {
      if (j === k) continue;
      others++;
      if ((before[i * A + j]! > 0.5) === (after[i * A + j]! > 0.5)) kept++;
    }
  }
  return { attribute: attr, edited: count, flipped: flipped / count, othersKept: kept / Math.max(1, others) };
}

export type { FaceAttributeNet, Config };
