// The engine side of `sgi serve`: one Inverter, the faces inverted so far (kept by id, the newest
// `maxFaces`), the editing directions that fit the generator, and the applications on them (edit,
// interpolation, style mixing, face swap, a random face of the built-in world). Every method that
// touches the engine is called from the server's one worker, never twice at once.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Scope, Tensor, meanImageScores, noGrad, readNpy, serializeNpy } from '@sgi/core';
import { DEFAULT_WEIGHTS_DIR, FACE_SEEDS, renderedFaces, workspaceRoot } from '@sgi/experiment';
import type { Inverter } from '../inverter.js';
import { checkCodeShape } from '../inverter.js';
import { directionInfo, faceDirectionsDir } from '../edit.js';
import { mixCodes, mixLayerIndex } from '../mix.js';
import { faceMask, pasteFace } from '../swap.js';
import { FaceLandmarker, type FaceLandmarkerOptions } from '../align/detect.js';
import { alignFaces, rgbToChw } from '../align/faces.js';
import type { RgbImage } from '../align/ffhq.js';
import { HttpError } from './http.js';

/** LPIPS of two [-1, 1] CHW images [3, S, S] (the CLI passes one in; @sgi/apps does not depend on @sgi/eval). */
export interface ServeLpips {
  distance(target: Float32Array, output: Float32Array, size: number): number;
  /** Shown on the page next to the LPIPS values (e.g. which weights are random). */
  note?: string;
}

export interface SessionOptions {
  /** Folders of extra direction files (<name>.npy, separation from <name>.json or directions.json beside them). */
  directionDirs?: string[];
  /** Workspace root, for pretrained/ (default: the workspace around the current folder). */
  root?: string;
  lpips?: ServeLpips;
  /** Faces kept for later requests (default 64); older ones are forgotten. */
  maxFaces?: number;
  /** Options of the face detector (photo configs). */
  landmarker?: FaceLandmarkerOptions;
}

export interface StageScore {
  stage: number;
  psnr: number;
  ssim: number;
  /** null when no LPIPS function was given (or it failed). */
  lpips: number | null;
}

export interface ServeFace {
  id: string;
  /** What the face is, for the page: the file name, "random face 3", "swap a -> b". */
  label: string;
  /** How the input was made: aligned FFHQ-style, taken as it is, rendered, pasted. */
  how: string;
  /** The encoder's input [3, S, S] in [-1, 1]. */
  input: Float32Array;
  /** W+ code [nLatent * styleDim]. */
  code: Float32Array;
  /** Reconstruction after each stage, [3, S, S] each. */
  stages: Float32Array[];
  scores: StageScore[];
  seconds: number;
}

export interface ServeDirection {
  name: string;
  file: string;
  data: Float32Array;
  /** The projection gap between faces with and without the attribute (W units), when known. */
  separation?: number;
  /** W units of one slider step of 1: the separation when known, else 1. */
  scale: number;
  unit: 'separation' | 'W';
}

/** What the page shows about the model and the limits. */
export interface ServeInfo {
  config: string;
  checkpoint: string;
  size: number;
  nLatent: number;
  styleDim: number;
  stages: number;
  /** 'faces': the built-in face world (data.kind facesjs), inputs taken as they are; 'photos': aligned FFHQ-style. */
  domain: 'faces' | 'photos';
  domainNote: string;
  directions: { name: string; unit: 'separation' | 'W'; separation: number | null; file: string }[];
  skippedDirections: { file: string; reason: string }[];
  strengthRange: [number, number];
  mix: { nLatent: number; defaultLayer: number; reason: string };
  randomFaces: boolean;
  lpips: { available: boolean; note: string | null };
  /** What the networks were built with random weights for (the config says so), if anything. */
  randomInit: string[];
}

/** Slider strengths are in [-STRENGTH_LIMIT, STRENGTH_LIMIT] units of each direction. */
export const STRENGTH_LIMIT = 3;

export class ServeSession {
  readonly faceWorld: boolean;
  readonly directions: ServeDirection[] = [];
  readonly skippedDirections: { file: string; reason: string }[] = [];
  private readonly faces = new Map<string, ServeFace>();
  private readonly prefix = randomBytes(3).toString('hex');
  private count = 0;
  private randomCount = 0;
  private landmarker: FaceLandmarker | null = null;
  private lpipsNote: string | null;
  private lpips: ServeLpips | undefined;
  private readonly maxFaces: number;

  constructor(readonly inv: Inverter, readonly configFile: string, private readonly opts: SessionOptions = {}) {
    this.faceWorld = inv.config.data.kind === 'facesjs';
    this.lpips = opts.lpips;
    this.lpipsNote = opts.lpips?.note ?? null;
    this.maxFaces = opts.maxFaces ?? 64;
    const root = opts.root ?? workspaceRoot();
    const dirs = [this.faceWorld ? faceDirectionsDir(root) : path.join(root, DEFAULT_WEIGHTS_DIR, 'editing'), ...(opts.directionDirs ?? [])];
    for (const dir of dirs) this.addDirections(dir);
  }

  /** Reads every <name>.npy of a folder that fits the generator's W+; notes the others. */
  private addDirections(dir: string): void {
    if (!fs.existsSync(dir)) {
      if (this.opts.directionDirs?.includes(dir)) throw new Error(`directions folder not found: ${dir}`);
      return;
    }
    for (const f of fs.readdirSync(dir).filter((n) => n.toLowerCase().endsWith('.npy')).sort()) {
      const file = path.join(dir, f);
      try {
        const t = readNpy(file);
        checkCodeShape(f, t.shape, this.inv.nLatent, this.inv.styleDim);
        const info = directionInfo(file);
        let name = f.slice(0, -4);
        if (this.directions.some((d) => d.name === name)) name = `${name} (${path.basename(dir)})`;
        const known = info.separation !== undefined && Number.isFinite(info.separation) && info.separation > 0;
        this.directions.push({ name, file, data: Float32Array.from(t.data), separation: known ? info.separation : undefined, scale: known ? info.separation! : 1, unit: known ? 'separation' : 'W' });
      } catch (e) {
        this.skippedDirections.push({ file, reason: (e as Error).message });
      }
    }
  }

  info(): ServeInfo {
    const inv = this.inv;
    const mix = mixLayerIndex(inv.nLatent);
    return {
      config: this.configFile,
      checkpoint: inv.checkpoint,
      size: inv.size,
      nLatent: inv.nLatent,
      styleDim: inv.styleDim,
      stages: inv.config.stages,
      domain: this.faceWorld ? 'faces' : 'photos',
      domainNote: this.faceWorld
        ? `'${inv.config.name}' works on the built-in face world's own ${inv.size} px faces (data.kind facesjs): uploads are taken as they are (scaled to ${inv.size}x${inv.size}), not searched for a face or aligned.`
        : `'${inv.config.name}' works on photos: the largest face of an upload is found and aligned FFHQ-style to ${inv.size}x${inv.size} before it is inverted.`,
      directions: this.directions.map((d) => ({ name: d.name, unit: d.unit, separation: d.separation ?? null, file: d.file })),
      skippedDirections: this.skippedDirections,
      strengthRange: [-STRENGTH_LIMIT, STRENGTH_LIMIT],
      mix: { nLatent: inv.nLatent, defaultLayer: mix.index, reason: mix.reason.replace(/--from/g, 'layer') },
      randomFaces: this.faceWorld,
      lpips: { available: this.lpips !== undefined, note: this.lpipsNote },
      randomInit: [...inv.exp.randomInit],
    };
  }

  /** A face kept by the server, or 404. */
  face(id: unknown, what = 'face'): ServeFace {
    if (typeof id !== 'string' || id.length === 0) throw new HttpError(400, `${what}: give the id of an uploaded face`);
    const f = this.faces.get(id);
    if (!f) throw new HttpError(404, `${what} '${id}' is not held by the server (it keeps the newest ${this.maxFaces} faces, and forgets all when restarted): upload it again`);
    // most recently used last
    this.faces.delete(id);
    this.faces.set(id, f);
    return f;
  }

  /** Inverts an uploaded photo: aligned FFHQ-style for photo configs (unless `align` is false), as it is for the face world. */
  async invertUpload(rgb: RgbImage, label: string, opts: { align?: boolean } = {}): Promise<ServeFace> {
    const S = this.inv.size;
    let how: string;
    let input: Float32Array;
    if (this.faceWorld || opts.align === false) {
      input = await rgbToChw(rgb, S);
      const scaled = rgb.width === S && rgb.height === S ? `${S}x${S}, the encoder's size` : `${rgb.width}x${rgb.height} scaled to ${S}x${S}`;
      how = `taken as it is (${scaled}; ${this.faceWorld ? 'face-world configs are not aligned' : 'alignment turned off'})`;
    } else {
      this.landmarker ??= new FaceLandmarker(this.opts.landmarker);
      const found = await this.landmarker.detect(rgb);
      if (found.length === 0) throw new HttpError(422, `no face found in ${label} (${rgb.width}x${rgb.height}): upload a photo with a clearly visible, roughly frontal face, or turn alignment off for an already aligned crop`);
      const [a] = alignFaces(rgb, found, { size: S });
      input = await rgbToChw(a!.image, S);
      how = `aligned FFHQ-style (largest of ${found.length} face${found.length > 1 ? 's' : ''}, detector score ${a!.face.score.toFixed(2)})`;
    }
    return this.invert(input, label, how);
  }

  /** A new held-out face of the built-in world (seeds FACE_SEEDS.demo + a counter), inverted. */
  async randomFace(): Promise<ServeFace> {
    if (!this.faceWorld) throw new HttpError(400, `random faces come from the built-in face world; '${this.inv.config.name}' is not a face-world config (data.kind facesjs)`);
    const k = this.randomCount++;
    const input = await renderedFaces(FACE_SEEDS.demo + k, 1, this.inv.size);
    return this.invert(input, `random face ${k + 1}`, `rendered by the face world (held-out seed FACE_SEEDS.demo + ${k})`);
  }

  /** Inverts one image [3, S, S] and keeps the result. */
  invert(input: Float32Array, label: string, how: string): ServeFace {
    const S = this.inv.size;
    const t0 = performance.now();
    const r = this.inv.invert(input);
    const seconds = (performance.now() - t0) / 1000;
    const stages = r.stages.map((s) => s.slice(0, 3 * S * S));
    const face: ServeFace = { id: `${this.prefix}-${++this.count}`, label, how, input, code: r.codes, stages, scores: stages.map((s, i) => this.score(input, s, i + 1)), seconds };
    this.faces.set(face.id, face);
    while (this.faces.size > this.maxFaces) this.faces.delete(this.faces.keys().next().value!);
    return face;
  }

  private score(target: Float32Array, output: Float32Array, stage: number): StageScore {
    const S = this.inv.size;
    const scope = new Scope();
    let s: { psnr: number; ssim: number };
    try {
      s = scope.run(() => noGrad(() => meanImageScores(Tensor.fromArray(target, [1, 3, S, S]), Tensor.fromArray(output, [1, 3, S, S]))));
    } finally {
      scope.dispose();
    }
    let lpips: number | null = null;
    if (this.lpips) {
      try {
        lpips = this.lpips.distance(target, output, S);
      } catch (e) {
        this.lpipsNote = `LPIPS turned off: ${(e as Error).message}`;
        this.lpips = undefined;
      }
    }
    return { stage, psnr: s.psnr, ssim: s.ssim, lpips };
  }

  /** The W+ code of a face + the sum of strength x scale x direction; all strengths 0 give the code itself (bit-identical). */
  editedCode(id: unknown, strengths: unknown): Float32Array {
    const face = this.face(id);
    if (typeof strengths !== 'object' || strengths === null || Array.isArray(strengths)) throw new HttpError(400, 'strengths: give an object {direction name: strength}');
    const out = face.code.slice();
    for (const [name, v] of Object.entries(strengths as Record<string, unknown>)) {
      const d = this.directions.find((x) => x.name === name);
      if (!d) throw new HttpError(400, `unknown direction '${name}' (known: ${this.directions.map((x) => x.name).join(', ') || 'none'})`);
      if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > STRENGTH_LIMIT) throw new HttpError(400, `strength of '${name}' must be a number in [-${STRENGTH_LIMIT}, ${STRENGTH_LIMIT}], got ${JSON.stringify(v)}`);
      if (v === 0) continue;
      const k = v * d.scale;
      for (let i = 0; i < out.length; i++) out[i] = out[i]! + k * d.data[i]!;
    }
    return out;
  }

  /** The edited face [3, S, S]. */
  edit(id: unknown, strengths: unknown): { code: Float32Array; image: Float32Array } {
    const code = this.editedCode(id, strengths);
    return { code, image: this.inv.synthesize(code) };
  }

  /** lambda B + (1 - lambda) A; lambda 0 and 1 give A's and B's codes exactly. */
  interpolate(a: unknown, b: unknown, lambda: unknown): { code: Float32Array; image: Float32Array } {
    const A = this.face(a, 'face A').code, B = this.face(b, 'face B').code;
    if (typeof lambda !== 'number' || !Number.isFinite(lambda) || lambda < 0 || lambda > 1) throw new HttpError(400, `lambda must be a number in [0, 1], got ${JSON.stringify(lambda)}`);
    let code: Float32Array;
    if (lambda === 0) code = A.slice();
    else if (lambda === 1) code = B.slice();
    else {
      code = new Float32Array(A.length);
      for (let i = 0; i < A.length; i++) code[i] = lambda * B[i]! + (1 - lambda) * A[i]!;
    }
    return { code, image: this.inv.synthesize(code) };
  }

  /** The content face's code with layers [layer, nLatent) taken from the style face's. */
  mix(content: unknown, style: unknown, layer: unknown): { code: Float32Array; image: Float32Array } {
    const c = this.face(content, 'content face').code, s = this.face(style, 'style face').code;
    const n = this.inv.nLatent;
    if (typeof layer !== 'number' || !Number.isInteger(layer) || layer < 0 || layer > n) throw new HttpError(400, `layer must be an integer in 0..${n} (this generator has ${n} latents), got ${JSON.stringify(layer)}`);
    const shape = this.inv.codeShape;
    const code = mixCodes({ shape, data: c }, { shape, data: s }, layer, this.inv);
    return { code, image: this.inv.synthesize(code) };
  }

  /** The source's inner face pasted onto the target and inverted; kept as a new face. */
  swap(source: unknown, target: unknown): { face: ServeFace; pasted: Float32Array; mask: Float32Array } {
    const src = this.face(source, 'source face'), tgt = this.face(target, 'target face');
    const mask = faceMask(this.inv.size);
    const pasted = pasteFace(src.input, tgt.input, mask);
    const face = this.invert(pasted, `swap: ${src.label} onto ${tgt.label}`, "the source's inner face pasted onto the target through a soft mask, then inverted");
    return { face, pasted, mask };
  }

  /** A W+ code as .npy bytes [nLatent, styleDim]. */
  npy(code: Float32Array): Buffer {
    return serializeNpy({ shape: this.inv.codeShape, data: code });
  }

  release(): void {
    this.landmarker?.release();
    this.landmarker = null;
    this.faces.clear();
  }
}
