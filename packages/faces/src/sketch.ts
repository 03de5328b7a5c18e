// Sketches of world faces: a black-on-white line drawing of the same face, aligned with renderFace.
//
// Method: the face's own vector drawing turned into line art, rather than edges found in pixels.
// Every shape of facesjs's SVG keeps its geometry; fills become white (so later parts hide the
// lines of earlier ones, as in the render's painter's order), outlines stay black, solid black ink
// (pupils, mouth openings, facesjs's black details) stays black, and coloured shapes drawn without
// an outline (hair, beards, eyebrows, clothes stripes) get a black outline of their own. Why this
// and not edges of the segmentation map: the lines are exactly the drawing's (interior strokes
// such as smile and eye lines, the mouth's lips, hair strands are kept, which no class boundary
// has), they are resolution-independent, and they are drawn with the same anti-aliasing as the
// render. Translucent fills (glasses lenses, blush, freckles, the shaved-hair gradients) are
// see-through, strokes the render barely shows (alpha below MIN_PART_ALPHA) are left out, white details
// (eye glints) stay white. Line widths are kept at least about one output pixel wide, so the
// sketch still reads at 64 px.
import type { FaceConfig } from 'facesjs';
import type { WorldFace } from './sample.js';
import { FACE_CROP, rasterise } from './render.js';
import { cropFaceSvg, drawFace, MIN_PART_ALPHA, rewritePaints, splitSvg, type Paint } from './segmentation.js';

/** Fills at least this opaque are drawn (white, or black ink); the rest are see-through. */
const OPAQUE = 0.9;

function isInk(p: Paint): boolean {
  return p.kind === 'colour' && p.rgba[0] === 0 && p.rgba[1] === 0 && p.rgba[2] === 0;
}

function isWhite(p: Paint): boolean {
  return p.kind === 'colour' && p.rgba[0] >= 230 && p.rgba[1] >= 230 && p.rgba[2] >= 230;
}

/**
 * The face as a line-drawing SVG (cropped like faceSvg). `minWidth` is the thinnest line in
 * facesjs units (FACE_CROP.side units span the picture): thinner strokes are widened to it, and
 * outlines added to shapes drawn without one are this wide.
 */
export function faceSketchSvg(face: FaceConfig, minWidth = 3): string {
  const svg = drawFace(face);
  const { open, children } = splitSvg(svg);
  const body = children.map((xml) =>
    rewritePaints(
      xml,
      (e): Record<string, string> => {
        // Translucent fills (glasses lenses, blush, freckles, shaved-hair tints) are see-through: left out.
        const fill = e.fillAlpha < OPAQUE ? 'none' : isInk(e.fill) ? '#000' : '#fff';
        if (e.strokeAlpha >= MIN_PART_ALPHA) {
          const line: Record<string, string> = { fill, stroke: isWhite(e.stroke) ? '#fff' : '#000' };
          if (e.tag !== 'g') line['stroke-width'] = String(Math.max(e.strokeWidth, minWidth));
          if (e.strokeAlpha < 1) line['stroke-opacity'] = e.strokeAlpha.toFixed(3); // faint lines stay faint
          return line;
        }
        // No visible outline: coloured shapes get one; white ones (glints) and ink ones need none.
        if (e.tag !== 'g' && fill === '#fff' && !isWhite(e.fill)) return { fill, stroke: '#000', 'stroke-width': String(minWidth), 'stroke-linejoin': 'round' };
        return { fill, stroke: 'none' };
      },
      svg,
    ),
  );
  return cropFaceSvg(`${open}\n${body.join('\n')}\n</svg>`);
}

/** The face's sketch at size x size: gray 8-bit, 255 background, dark lines, aligned with renderFace. */
export async function renderSketch(f: WorldFace, size: number): Promise<Uint8Array> {
  // One output pixel in facesjs units, at least 2 (large sketches keep their fine lines).
  const minWidth = Math.max(2, FACE_CROP.side / size);
  const rgb = await rasterise(faceSketchSvg(f.face, minWidth), size);
  const out = new Uint8Array(size * size);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(0.299 * rgb[i * 3]! + 0.587 * rgb[i * 3 + 1]! + 0.114 * rgb[i * 3 + 2]!);
  return out;
}
