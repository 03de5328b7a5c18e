// Attribute labels of a face, read from its description: exact, free, and the ground truth the
// editing directions are fitted to (InterFaceGAN: a linear boundary in W per binary attribute).
import type { WorldFace } from './sample.js';
import { rgb } from './encode.js';

/** Mouths that read as smiling. */
const SMILES = new Set(['smile', 'smile2', 'smile3', 'smile4', 'smile-closed']);

/** Binary attributes, in a fixed order (the label vector, the directions' file names). */
export const ATTRIBUTES = ['glasses', 'facialHair', 'lightHair', 'darkSkin', 'female', 'smile', 'hat'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];

export type FaceLabels = Record<Attribute, 0 | 1> & { skinTone: number; hairLightness: number };

/** Relative luminance (Rec. 709) of an #rrggbb colour, in [0, 1]. */
export function luminance(hex: string): number {
  const [r, g, b] = rgb(hex);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function faceLabels({ face, gender }: WorldFace): FaceLabels {
  const hairLightness = luminance(face.hair.color);
  const skinTone = luminance(face.body.color);
  const bit = (b: boolean): 0 | 1 => (b ? 1 : 0);
  return {
    glasses: bit(face.glasses.id !== 'none'),
    facialHair: bit(face.facialHair.id !== 'none'),
    lightHair: bit(hairLightness > 0.35),
    darkSkin: bit(skinTone < 0.5),
    female: bit(gender === 'female'),
    smile: bit(SMILES.has(face.mouth.id)),
    hat: bit(/hat/.test(face.accessories.id)),
    skinTone,
    hairLightness,
  };
}
