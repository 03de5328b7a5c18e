// The face world: seeded faces, their codes and labels, and the paired pictures of one face
// (render, segmentation label map, sketch) that must agree pixel for pixel.
import { describe, it, expect } from 'vitest';
import {
  sampleFace,
  sampleFaces,
  WORLD_PROBABILITIES,
  GLASSES,
  encodeFace,
  FACE_CODE_DIM,
  FACE_CODE_LAYOUT,
  CATEGORICAL_PARTS,
  faceLabels,
  luminance,
  renderFace,
  FACE_CLASSES,
  FEATURE_CLASS,
  featureGroups,
  featureGroupsByRemoval,
  drawFace,
  faceSegmentationSvg,
  splitSvg,
  renderSegmentation,
  segmentationColours,
  renderSketch,
  type WorldFace,
} from '../src/index.js';

const SIZE = 64;

/** Luminance (0-255) of pixel i of an RGB HWC image. */
const lum = (img: Uint8Array, i: number) => 0.299 * img[i * 3]! + 0.587 * img[i * 3 + 1]! + 0.114 * img[i * 3 + 2]!;
const isWhite = (img: Uint8Array, i: number) => img[i * 3]! >= 250 && img[i * 3 + 1]! >= 250 && img[i * 3 + 2]! >= 250;
const corners = (size: number) => [0, size - 1, (size - 1) * size, size * size - 1];

/** A seed in [0, 2000) whose face satisfies `pred`. */
function seedWhere(pred: (f: WorldFace) => boolean): number {
  for (let s = 0; s < 2000; s++) if (pred(sampleFace(s))) return s;
  throw new Error('no such face among the first 2000 seeds');
}

/** A face whose hat changes how its hair is drawn: without the hat, more than the hat's group changes. */
function hatHairSeed(): number {
  return seedWhere((f) => {
    if (f.face.accessories.id === 'none') return false;
    const full = splitSvg(drawFace(structuredClone(f.face))).children;
    const bare = new Set(splitSvg(drawFace({ ...structuredClone(f.face), accessories: { id: 'none' } })).children);
    return full.filter((g) => !bare.has(g)).length > 1;
  });
}

describe('sampleFace', () => {
  it('is deterministic: the same seed gives the same face and the same render bytes; other seeds differ', async () => {
    for (const seed of [0, 1, 12345, 2 ** 30 + 7]) expect(JSON.stringify(sampleFace(seed))).toBe(JSON.stringify(sampleFace(seed)));
    const faces = sampleFaces(100, 50).map((f) => JSON.stringify(f.face));
    expect(new Set(faces).size).toBe(50);
    const a = await renderFace(sampleFace(42), SIZE);
    const b = await renderFace(sampleFace(42), SIZE);
    const c = await renderFace(sampleFace(43), SIZE);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
  });

  it('draws the world attributes at WORLD_PROBABILITIES (2000 faces, within 0.04)', () => {
    const faces = sampleFaces(0, 2000);
    const rate = (p: (f: WorldFace) => boolean) => faces.filter(p).length / faces.length;
    expect(Math.abs(rate((f) => f.gender === 'female') - WORLD_PROBABILITIES.female)).toBeLessThan(0.04);
    expect(Math.abs(rate((f) => f.face.glasses.id !== 'none') - WORLD_PROBABILITIES.glasses)).toBeLessThan(0.04);
    const facialHair = (1 - WORLD_PROBABILITIES.female) * WORLD_PROBABILITIES.maleFacialHair; // 0.25: men only
    expect(Math.abs(rate((f) => f.face.facialHair.id !== 'none') - facialHair)).toBeLessThan(0.04);
    expect(rate((f) => f.gender === 'female' && f.face.facialHair.id !== 'none')).toBe(0);
    expect(Math.abs(rate((f) => f.face.accessories.id !== 'none') - WORLD_PROBABILITIES.accessories)).toBeLessThan(0.04);
    expect(faces.every((f) => f.face.glasses.id === 'none' || (GLASSES as readonly string[]).includes(f.face.glasses.id))).toBe(true);
  });
});

describe('encodeFace', () => {
  it('has FACE_CODE_DIM = the layout sum, contiguous slots, one-hot parts and bounded values', () => {
    expect(FACE_CODE_DIM).toBe(FACE_CODE_LAYOUT.reduce((n, s) => n + s.size, 0));
    let offset = 0;
    for (const slot of FACE_CODE_LAYOUT) {
      expect(slot.offset).toBe(offset);
      offset += slot.size;
    }
    const categorical = new Set<string>(CATEGORICAL_PARTS);
    for (const f of sampleFaces(500, 300)) {
      const code = encodeFace(f.face);
      expect(code.length).toBe(FACE_CODE_DIM);
      for (const slot of FACE_CODE_LAYOUT) {
        const v = [...code.subarray(slot.offset, slot.offset + slot.size)];
        if (categorical.has(slot.name)) {
          expect(v.filter((x) => x === 1).length, slot.name).toBe(1);
          expect(v.every((x) => x === 0 || x === 1), slot.name).toBe(true);
        } else {
          expect(v[0]!, slot.name).toBeGreaterThanOrEqual(-1.5);
          expect(v[0]!, slot.name).toBeLessThanOrEqual(1.5);
        }
      }
    }
  });

  it('refuses an id it does not know, naming the part', () => {
    const f = sampleFace(3);
    f.face.eyebrow.id = 'unibrow-9000';
    expect(() => encodeFace(f.face)).toThrow(/eyebrow.*unibrow-9000/);
  });
});

describe('faceLabels', () => {
  it('agrees with the face description', () => {
    for (const f of sampleFaces(2000, 300)) {
      const l = faceLabels(f);
      expect(l.glasses).toBe(f.face.glasses.id !== 'none' ? 1 : 0);
      expect(l.facialHair).toBe(f.face.facialHair.id !== 'none' ? 1 : 0);
      expect(l.female).toBe(f.gender === 'female' ? 1 : 0);
      expect(l.hat).toBe(/hat/.test(f.face.accessories.id) ? 1 : 0);
      expect(l.lightHair).toBe(luminance(f.face.hair.color) > 0.35 ? 1 : 0);
      expect(l.darkSkin).toBe(luminance(f.face.body.color) < 0.5 ? 1 : 0);
      expect(l.hairLightness).toBeCloseTo(luminance(f.face.hair.color), 12);
    }
  });
});

describe('drawing and the feature of each SVG group', () => {
  it('facesjs draws deterministically (no randomness) and drawFace leaves the face as it was', async () => {
    // A hat makes facesjs rewrite the hair id of the face it draws: drawFace must draw a copy.
    const seed = hatHairSeed();
    const f = sampleFace(seed);
    const before = JSON.stringify(f);
    const a = drawFace(f.face);
    const saved = Math.random;
    Math.random = () => 0.5;
    let b: string;
    try {
      b = drawFace(f.face);
    } finally {
      Math.random = saved;
    }
    expect(b).toBe(a);
    expect(drawFace(f.face)).toBe(a);
    expect(JSON.stringify(f)).toBe(before);
    faceSegmentationSvg(f.face);
    await renderSegmentation(f, 16);
    await renderSketch(f, 16);
    expect(JSON.stringify(f)).toBe(before);
  });

  it('finds which feature drew each group: paired features twice, absent ones never, hats with hair', () => {
    const hatHair = hatHairSeed();
    expect(/hat/.test(sampleFace(hatHair).face.accessories.id)).toBe(true);
    const seeds = [0, 1, 2, 3, 4, 5, hatHair];
    for (const seed of seeds) {
      const { face } = sampleFace(seed);
      const { groups } = featureGroups(face);
      const count = (feature: string) => groups.filter((g) => g.feature === feature).length;
      for (const paired of ['ear', 'eye', 'eyebrow']) expect(count(paired), `${seed} ${paired}`).toBe(2);
      for (const single of ['head', 'mouth', 'nose', 'body', 'jersey']) expect(count(single), `${seed} ${single}`).toBe(1);
      for (const [name, part] of Object.entries(face)) {
        if (part && typeof part === 'object' && 'id' in part && part.id === 'none') expect(count(name), `${seed} ${name}`).toBe(0);
      }
      if (face.glasses.id !== 'none') expect(count('glasses')).toBe(1);
      if (face.accessories.id !== 'none') expect(count('accessories')).toBe(1);
      if (seed === hatHair) expect(count('hair'), `${seed}: the hat's hair belongs to the hair`).toBe(1);
      for (const g of groups) expect(FEATURE_CLASS[g.feature], g.feature).toBeDefined();
      // The coded removals give what removing one feature at a time gives.
      expect(featureGroupsByRemoval(face).groups.map((g) => g.feature), `seed ${seed}`).toEqual(groups.map((g) => g.feature));
    }
  });
});

describe('renders, segmentation maps and sketches of one face', () => {
  it('FACE_CLASSES: index = position, 12 classes, distinct colours', () => {
    expect(FACE_CLASSES.length).toBe(12);
    FACE_CLASSES.forEach((c, i) => expect(c.index).toBe(i));
    expect(new Set(FACE_CLASSES.map((c) => c.colour.join(','))).size).toBe(FACE_CLASSES.length);
    expect(FACE_CLASSES[0]!.name).toBe('background');
    expect(FACE_CLASSES[10]!.name).toBe('glasses');
  });

  it('render: 64x64x3 bytes, white corners, not one colour', async () => {
    for (const seed of [0, 7, 99]) {
      const img = await renderFace(sampleFace(seed), SIZE);
      expect(img.length).toBe(SIZE * SIZE * 3);
      for (const i of corners(SIZE)) expect(isWhite(img, i), `seed ${seed} corner ${i}`).toBe(true);
      expect(new Set(Array.from({ length: SIZE * SIZE }, (_, i) => lum(img, i))).size).toBeGreaterThan(20);
    }
  });

  const glassesSeeds = [seedWhere((f) => f.face.glasses.id !== 'none'), seedWhere((f) => f.face.glasses.id === 'none')];
  const seeds = [...new Set([0, 1, 2, 3, 4, 5, 6, 7, ...glassesSeeds])];

  it('segmentation: class indices, background where the render is white, glasses iff the face has them', async () => {
    let withGlasses = 0;
    for (const seed of seeds) {
      const f = sampleFace(seed);
      const labels = await renderSegmentation(sampleFace(seed), SIZE);
      const img = await renderFace(sampleFace(seed), SIZE);
      expect(labels.length).toBe(SIZE * SIZE);
      expect(labels.every((c) => c < FACE_CLASSES.length)).toBe(true);
      for (const i of corners(SIZE)) expect(labels[i], `seed ${seed} corner ${i}`).toBe(0);
      // Aligned: background pixels away from any part are white in the render, and parts cover most of it.
      let bg = 0;
      let bgNotWhite = 0;
      let fgWhite = 0;
      for (let y = 1; y < SIZE - 1; y++) {
        for (let x = 1; x < SIZE - 1; x++) {
          const i = y * SIZE + x;
          const around = [i - SIZE - 1, i - SIZE, i - SIZE + 1, i - 1, i + 1, i + SIZE - 1, i + SIZE, i + SIZE + 1];
          if (labels[i] === 0 && around.every((j) => labels[j] === 0)) {
            bg++;
            if (!isWhite(img, i)) bgNotWhite++;
          }
          if (labels[i] !== 0 && isWhite(img, i) && labels[i] !== 5 && labels[i] !== 7) fgWhite++; // eye whites, teeth are white
        }
      }
      expect(bg).toBeGreaterThan(100);
      expect(bgNotWhite / bg, `seed ${seed}`).toBeLessThan(0.01);
      expect(fgWhite, `seed ${seed}`).toBeLessThan(40);
      const has = (c: number) => labels.includes(c);
      expect(has(10), `seed ${seed} glasses`).toBe(f.face.glasses.id !== 'none');
      if (f.face.glasses.id !== 'none') withGlasses++;
      for (const c of f.face.glasses.id === 'none' ? [3, 5, 7] : [3, 7]) expect(has(c), `seed ${seed} class ${FACE_CLASSES[c]!.name}`).toBe(true);
      const colours = segmentationColours(labels, SIZE);
      expect(colours.length).toBe(SIZE * SIZE * 3);
      for (let i = 0; i < labels.length; i += 97) expect([...colours.subarray(i * 3, i * 3 + 3)]).toEqual([...FACE_CLASSES[labels[i]!]!.colour]);
    }
    expect(withGlasses).toBeGreaterThan(0);
    expect(withGlasses).toBeLessThan(seeds.length);
  });

  it('segmentation labels are pure: one class colour per pixel, no blends', async () => {
    const sharp = (await import('sharp')).default;
    const { data } = await sharp(Buffer.from(faceSegmentationSvg(sampleFace(5).face)), { density: 72 * 0.32 }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const palette = new Set(FACE_CLASSES.map((c) => c.colour.join(',')));
    let partial = 0;
    let foreign = 0;
    let painted = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] !== 0 && data[i + 3] !== 255) partial++;
      if (data[i + 3] === 255) {
        painted++;
        if (!palette.has(`${data[i]},${data[i + 1]},${data[i + 2]}`)) foreign++;
      }
    }
    expect(painted).toBeGreaterThan(1000);
    expect(partial).toBe(0);
    expect(foreign).toBe(0);
  });

  it('sketch: mostly light, some dark lines, on class boundaries or dark render pixels', async () => {
    let dark = 0;
    let placed = 0;
    for (const seed of seeds) {
      const sketch = await renderSketch(sampleFace(seed), SIZE);
      const labels = await renderSegmentation(sampleFace(seed), SIZE);
      const img = await renderFace(sampleFace(seed), SIZE);
      expect(sketch.length).toBe(SIZE * SIZE);
      const light = sketch.filter((v) => v > 200).length / sketch.length;
      expect(light, `seed ${seed}`).toBeGreaterThan(0.6);
      for (const i of corners(SIZE)) expect(sketch[i]).toBe(255);
      let d = 0;
      let p = 0;
      for (let y = 0; y < SIZE; y++) {
        for (let x = 0; x < SIZE; x++) {
          const i = y * SIZE + x;
          if (sketch[i]! >= 128) continue;
          d++;
          let near = false;
          for (let dy = -1; dy <= 1 && !near; dy++) {
            for (let dx = -1; dx <= 1 && !near; dx++) {
              const yy = y + dy;
              const xx = x + dx;
              if (yy < 0 || xx < 0 || yy >= SIZE || xx >= SIZE) continue;
              const j = yy * SIZE + xx;
              near = labels[j] !== labels[i] || lum(img, j) < 100;
            }
          }
          if (near) p++;
        }
      }
      expect(d / sketch.length, `seed ${seed}: dark pixels`).toBeGreaterThan(0.03);
      expect(p / d, `seed ${seed}: lines where the face has edges`).toBeGreaterThan(0.85);
      dark += d;
      placed += p;
    }
    // The sketch of another face, or this one moved by 3 px, scores about 0.6-0.75 here.
    expect(placed / dark).toBeGreaterThan(0.95);
  });
});
