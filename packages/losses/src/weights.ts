// Pretrained weights of the loss networks: default file names, where users obtain them, and
// loading by path. A missing file is an error that names the file, the loss and the source;
// random weights are used only when the caller opts in explicitly (randomInit).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTensors, type Module, type HostTensor } from '@sgi/core';

export interface WeightSource {
  /** Default file name (looked up in the weights directory). */
  file: string;
  /** The loss that needs it. */
  loss: string;
  /** What the file is and where to obtain it. */
  source: string;
}

export const WEIGHT_SOURCES = {
  alexnet: {
    file: 'alexnet-owt-7be5be79.pth',
    loss: 'LPIPS',
    source: "torchvision's ImageNet AlexNet checkpoint (torchvision.models.alexnet(pretrained=True) downloads alexnet-owt-7be5be79.pth; only the features.* tensors are used)",
  },
  lpipsLinear: {
    file: 'lpips_alex_v0.1.pth',
    loss: 'LPIPS',
    source: "the LPIPS v0.1 linear layers for AlexNet (alex.pth in the PerceptualSimilarity / lpips package, lpips/weights/v0.1/alex.pth; a copy ships with this repository as pretrained/lpips_alex_v0.1.pth)",
  },
  arcface: {
    file: 'model_ir_se50.pth',
    loss: 'ID (ArcFace IR-SE-50)',
    source: "the IR-SE-50 ArcFace model of TreB1eN's InsightFace_Pytorch (model_ir_se50.pth, linked from the pSp and E2Style READMEs under 'Pretrained Models'); or use the ID network 'faceapi', whose weights ship with npm",
  },
  parsing: {
    file: 'parsing.pth',
    loss: 'parsing',
    source: "the CelebAMask-HQ face-parsing UNet used by E2Style (pretrained_models/parsing.pth, linked from the E2Style README under 'Pretrained Models')",
  },
} as const satisfies Record<string, WeightSource>;

export type WeightKey = keyof typeof WEIGHT_SOURCES;

export interface MissingWeight {
  file: string;
  key: WeightKey;
}

function describeMissing({ file, key }: MissingWeight): string {
  const s = WEIGHT_SOURCES[key];
  return `${s.loss} loss: weight file ${file} not found. It is ${s.source}. ` +
    `Download it and give its path in the loss config (or put it in the weights directory as ${s.file}: ` +
    `the repository's pretrained/ folder by default, SGI_WEIGHTS_DIR when set)`;
}

/** One or more loss weight files are missing; the message names each file, its loss and its source. */
export class MissingWeightsError extends Error {
  readonly missing: MissingWeight[];
  constructor(missing: MissingWeight | MissingWeight[]) {
    const list = Array.isArray(missing) ? missing : [missing];
    super(
      `${list.map(describeMissing).join('.\n')}. ` +
      `Otherwise disable the term (weight 0), or set randomInit: true to run with random weights (logged as such).`,
    );
    this.missing = list;
  }
  get file(): string { return this.missing[0]!.file; }
  get key(): WeightKey { return this.missing[0]!.key; }
}

/**
 * The repository's pretrained/ folder: found by walking up from this module's folder to the
 * workspace root (the folder holding nx.json); undefined outside the repository.
 */
export function repositoryWeightsDir(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'nx.json'))) return path.join(dir, 'pretrained');
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Directory searched for default file names: SGI_WEIGHTS_DIR, else the repository's pretrained/ (./pretrained outside it). */
export function defaultWeightsDir(): string {
  return path.resolve(process.env.SGI_WEIGHTS_DIR || (repositoryWeightsDir() ?? 'pretrained'));
}

/** The configured path, or the default file name in the weights directory. */
export function resolveWeightPath(key: WeightKey, configured: string | undefined, weightsDir = defaultWeightsDir()): string {
  return configured ? path.resolve(configured) : path.join(weightsDir, WEIGHT_SOURCES[key].file);
}

/**
 * Whether a network can be loaded from file: true if the file exists, false when it is missing
 * and random weights are allowed; throws MissingWeightsError otherwise. Call before building
 * the (large) network so a missing file fails fast.
 */
export function checkWeightFile(key: WeightKey, file: string, randomInit: boolean | undefined): boolean {
  if (fs.existsSync(file)) return true;
  if (randomInit) return false;
  throw new MissingWeightsError({ file, key });
}

/** Reads a checkpoint (.pt/.pth zip or legacy pickle, .npy, .safetensors) or throws MissingWeightsError. */
export function readWeights(key: WeightKey, file: string): Map<string, HostTensor> {
  if (!fs.existsSync(file)) throw new MissingWeightsError({ file, key });
  const { tensors } = loadTensors(file);
  return stripPrefixes(tensors);
}

/** Removes a 'module.' (DataParallel) prefix when every key has it. */
function stripPrefixes(m: Map<string, HostTensor>): Map<string, HostTensor> {
  const keys = [...m.keys()];
  if (keys.length && keys.every((k) => k.startsWith('module.'))) {
    return new Map(keys.map((k) => [k.slice('module.'.length), m.get(k)!]));
  }
  return m;
}

/** The entries whose names start with prefix, with the prefix removed (or kept, with keep). */
export function subset(m: Map<string, HostTensor>, prefix: string, keep = false): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [k, v] of m) if (k.startsWith(prefix)) out.set(keep ? k : k.slice(prefix.length), v);
  return out;
}

/** Loads a state dict strictly, naming the file in errors. */
export function loadInto(module: Module, state: Map<string, HostTensor>, file: string): void {
  module.loadStateDict(state, { strict: true, context: file });
}
