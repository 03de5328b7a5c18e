// The parameter code of a face: what the face-world generator's mapping network reads instead of
// Gaussian z. Every categorical part (hair style, eyes, mouth, ...) is one-hot over facesjs's ids,
// colours are RGB in [0, 1], sizes, angles and flips are scaled to about [-1, 1]. Fixed layout
// (FACE_CODE_LAYOUT), so a code means the same thing to every generator trained on it.
import { svgsIndex, type FaceConfig } from 'facesjs';
import type { WorldFace } from './sample.js';

/** Categorical parts, in code order, each one-hot over svgsIndex[part] ('none' included where facesjs has it). */
export const CATEGORICAL_PARTS = [
  'accessories', 'body', 'ear', 'eye', 'eyeLine', 'eyebrow', 'facialHair', 'glasses', 'hair', 'hairBg', 'head', 'jersey', 'miscLine', 'mouth', 'nose', 'smileLine',
] as const;

type Part = (typeof CATEGORICAL_PARTS)[number];

/** Ids of a part as the code enumerates them ('none' added where a part can be absent). */
function partIds(part: Part): readonly string[] {
  const ids: string[] = [...(svgsIndex as Record<string, readonly string[]>)[part]!];
  if (!ids.includes('none')) ids.push('none');
  return ids;
}

/** Continuous values, in code order, with how each is read from a face and scaled. */
const CONTINUOUS: [string, (f: FaceConfig) => number][] = [
  ['skin.r', (f) => rgb(f.body.color)[0]], ['skin.g', (f) => rgb(f.body.color)[1]], ['skin.b', (f) => rgb(f.body.color)[2]],
  ['hair.r', (f) => rgb(f.hair.color)[0]], ['hair.g', (f) => rgb(f.hair.color)[1]], ['hair.b', (f) => rgb(f.hair.color)[2]],
  ['fatness', (f) => f.fatness * 2 - 1],
  ['body.size', (f) => (f.body.size - 0.925) * 8],
  ['ear.size', (f) => (f.ear.size - 1) * 2],
  ['nose.size', (f) => (f.nose.size - 0.875) * 2.7],
  ['smileLine.size', (f) => (f.smileLine.size - 1.25)],
  ['eye.angle', (f) => (f.eye.angle - 2.5) / 12.5],
  ['eyebrow.angle', (f) => (f.eyebrow.angle - 2.5) / 17.5],
  ['head.shave', (f) => shaveAlpha(f.head.shave) * 10 - 1],
  ['hair.flip', (f) => (f.hair.flip ? 1 : -1)],
  ['mouth.flip', (f) => (f.mouth.flip ? 1 : -1)],
  ['nose.flip', (f) => (f.nose.flip ? 1 : -1)],
];

export interface CodeSlot {
  name: string;
  offset: number;
  size: number;
}

/** Where each part and value sits in the code. */
export const FACE_CODE_LAYOUT: readonly CodeSlot[] = (() => {
  const slots: CodeSlot[] = [];
  let offset = 0;
  for (const part of CATEGORICAL_PARTS) {
    const size = partIds(part).length;
    slots.push({ name: part, offset, size });
    offset += size;
  }
  for (const [name] of CONTINUOUS) slots.push({ name, offset: offset++, size: 1 });
  return slots;
})();

/** Length of a face's parameter code. */
export const FACE_CODE_DIM = FACE_CODE_LAYOUT.reduce((n, s) => n + s.size, 0);

export function rgb(hex: string): [number, number, number] {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) throw new Error(`not an #rrggbb colour: ${hex}`);
  const v = parseInt(m[1]!, 16);
  return [((v >> 16) & 255) / 255, ((v >> 8) & 255) / 255, (v & 255) / 255];
}

function shaveAlpha(rgba: string): number {
  const m = /rgba\([^)]*,\s*([\d.]+)\)/.exec(rgba);
  return m ? Number(m[1]) : 0;
}

/** The parameter code of a face ([FACE_CODE_DIM]), written into `out` at `offset` when given. */
export function encodeFace(face: FaceConfig, out = new Float32Array(FACE_CODE_DIM), offset = 0): Float32Array {
  let slot = 0;
  for (const part of CATEGORICAL_PARTS) {
    const { offset: o } = FACE_CODE_LAYOUT[slot++]!;
    const id = (face[part] as { id: string }).id;
    const k = partIds(part).indexOf(id);
    if (k < 0) throw new Error(`face part ${part} has an id this code does not know: ${id}`);
    out[offset + o + k] = 1;
  }
  for (const [, read] of CONTINUOUS) out[offset + FACE_CODE_LAYOUT[slot++]!.offset] = read(face);
  return out;
}

/** Codes of many faces as one [count, FACE_CODE_DIM] array. */
export function encodeFaces(faces: readonly WorldFace[]): Float32Array {
  const out = new Float32Array(faces.length * FACE_CODE_DIM);
  faces.forEach((f, i) => encodeFace(f.face, out, i * FACE_CODE_DIM));
  return out;
}
