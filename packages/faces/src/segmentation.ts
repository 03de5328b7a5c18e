// Segmentation label maps of world faces: every part of the face drawn in a flat class colour,
// pixel-aligned with renderFace (same SVG geometry, same crop), so restoration and translation
// tasks (segmentation -> face) have exact paired data.
//
// Which top-level groups of facesjs's SVG belong to which feature is found by experiment, not by
// knowing how facesjs lays its document out: the face is drawn once as it is, then with features'
// ids set to 'none' (on deep copies); the groups that disappear (longest common subsequence of the
// two group lists) are those features'. The reference (featureGroupsByRemoval) removes one feature
// per drawing; featureGroups removes several per drawing, by codes, and checks its answer.
// facesjs draws deterministically from the face object (display() takes no random numbers), but
// drawing mutates the face it is given (a hat turns many hair styles into 'short' in place, and a
// second drawing of that object then leaves the hair out), so every drawing here is of a fresh
// deep copy. Features interact in one
// place (hats change the hair): removing the hat then also "removes" the hair group, because the
// hair is drawn differently; a group claimed by several features goes to the one whose removal
// takes away the fewest groups (the hair, which removes only itself). Cost: 1 + 5-6 facesjs
// drawings per face (1 + ~11 for faces whose hat changes the hair), see README.md.
//
// Colours: every fill and stroke inside a feature's groups (attributes and style properties,
// inherited or not, gradients included) becomes its class colour; fill="none" stays none, and
// paints that are almost transparent in the render (opacity x colour alpha x gradient stop alpha
// below MIN_PART_ALPHA: a 5% mouth shadow, a 0-20% head shave tint) are left out, since they do not
// change what the pixel shows. The result is rasterised without anti-aliasing
// (shape-rendering="crispEdges") at K x the size and every output pixel takes the class covering
// most of its K x K block.
import sharp from 'sharp';
import { faceToSvgString, type FaceConfig } from 'facesjs';
import type { WorldFace } from './sample.js';
import { FACE_CROP } from './render.js';

export interface FaceClass {
  index: number;
  name: string;
  /** RGB, 0-255. */
  colour: readonly [number, number, number];
  /** facesjs features drawn in this class. */
  features: readonly string[];
}

/** The label classes, index = label value. Distinct saturated colours (background white). */
export const FACE_CLASSES: readonly FaceClass[] = [
  { index: 0, name: 'background', colour: [255, 255, 255], features: [] },
  { index: 1, name: 'neck/clothes', colour: [0, 90, 255], features: ['body', 'jersey'] },
  { index: 2, name: 'ears', colour: [255, 150, 0], features: ['ear'] },
  { index: 3, name: 'skin', colour: [255, 210, 0], features: ['head', 'eyeLine', 'smileLine', 'miscLine'] },
  { index: 4, name: 'facial hair', colour: [140, 0, 255], features: ['facialHair'] },
  { index: 5, name: 'eyes', colour: [0, 230, 255], features: ['eye'] },
  { index: 6, name: 'eyebrows', colour: [255, 0, 200], features: ['eyebrow'] },
  { index: 7, name: 'mouth', colour: [255, 0, 0], features: ['mouth'] },
  { index: 8, name: 'nose', colour: [0, 200, 0], features: ['nose'] },
  { index: 9, name: 'hair', colour: [120, 60, 0], features: ['hair', 'hairBg'] },
  { index: 10, name: 'glasses', colour: [0, 0, 160], features: ['glasses'] },
  { index: 11, name: 'accessories', colour: [0, 130, 110], features: ['accessories'] },
];

/** Class index of each facesjs feature. */
export const FEATURE_CLASS: Readonly<Record<string, number>> = Object.fromEntries(
  FACE_CLASSES.flatMap((c) => c.features.map((f) => [f, c.index])),
);

/** Paints whose largest alpha in the render is below this are tints, not parts, and are left out. */
export const MIN_PART_ALPHA = 0.2;

// ---------------------------------------------------------------------------------------------
// A small reader for the SVG facesjs writes (elements, attributes, no text): enough to split the
// root's children and to rewrite paints, and loud about anything it does not understand.

const TAG = /<[^>]*>/g;

interface Tag {
  raw: string;
  name: string;
  closing: boolean;
  selfClosing: boolean;
  attrs: [string, string][];
}

function parseTag(raw: string): Tag {
  if (raw.startsWith('<!--')) return { raw, name: '!--', closing: false, selfClosing: true, attrs: [] };
  if (raw.startsWith('<!') || raw.startsWith('<?')) throw new Error(`face SVG: unexpected markup ${raw.slice(0, 40)}`);
  const m = /^<(\/?)([A-Za-z][\w:.-]*)([\s\S]*?)(\/?)>$/.exec(raw);
  if (!m) throw new Error(`face SVG: unreadable tag ${raw.slice(0, 60)}`);
  const attrs: [string, string][] = [];
  const rest = m[3]!;
  const ATTR = /\s*([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/gy;
  let a: RegExpExecArray | null;
  let end = 0;
  while ((a = ATTR.exec(rest))) {
    attrs.push([a[1]!, a[2] ?? a[3] ?? '']);
    end = ATTR.lastIndex;
  }
  if (rest.slice(end).trim() !== '') throw new Error(`face SVG: unreadable attributes in ${raw.slice(0, 60)}`);
  return { raw, name: m[2]!, closing: m[1] === '/', selfClosing: m[4] === '/', attrs };
}

function tokens(xml: string): (Tag | string)[] {
  const out: (Tag | string)[] = [];
  let last = 0;
  for (const m of xml.matchAll(TAG)) {
    const text = xml.slice(last, m.index);
    if (text.trim() !== '') throw new Error(`face SVG: unexpected text ${text.trim().slice(0, 40)}`);
    out.push(text, parseTag(m[0]));
    last = m.index! + m[0].length;
  }
  if (xml.slice(last).trim() !== '') throw new Error('face SVG: text after the last tag');
  return out;
}

/**
 * The root element's opening tag and its child elements, as written. Only tag boundaries are read
 * (this runs once per drawing); the paint rewriting reads the elements themselves.
 */
export function splitSvg(svg: string): { open: string; children: string[] } {
  const text = svg.trim();
  const TAGS = /<(\/?)([A-Za-z!?][^\s/>]*)[^>]*?(\/?)>/g;
  const first = TAGS.exec(text);
  if (!first || first.index !== 0 || first[2] !== 'svg' || first[1] || first[3]) throw new Error('face SVG: no <svg> root');
  const children: string[] = [];
  let depth = 0;
  let start = -1;
  let m: RegExpExecArray | null;
  let end = -1;
  while ((m = TAGS.exec(text))) {
    if (m[2]!.startsWith('!') || m[2]!.startsWith('?')) {
      if (!m[0].startsWith('<!--')) throw new Error(`face SVG: unexpected markup ${m[0].slice(0, 40)}`);
      continue;
    }
    if (depth === 0 && m[1]) {
      if (m[2] !== 'svg') throw new Error('face SVG: unbalanced tags');
      end = m.index;
      break;
    }
    if (depth === 0) start = m.index;
    if (m[1]) depth--;
    else if (!m[3]) depth++;
    if (depth === 0) children.push(text.slice(start, m.index + m[0].length));
  }
  if (end < 0 || text.slice(end).trim() !== '</svg>') throw new Error('face SVG: root not closed');
  return { open: first[0], children };
}

// ---------------------------------------------------------------------------------------------
// Paints.

const NAMED: Record<string, [number, number, number]> = {
  black: [0, 0, 0], white: [255, 255, 255], red: [255, 0, 0], lime: [0, 255, 0], green: [0, 128, 0], blue: [0, 0, 255],
  yellow: [255, 255, 0], cyan: [0, 255, 255], aqua: [0, 255, 255], magenta: [255, 0, 255], fuchsia: [255, 0, 255],
  gray: [128, 128, 128], grey: [128, 128, 128], silver: [192, 192, 192], maroon: [128, 0, 0], olive: [128, 128, 0],
  purple: [128, 0, 128], teal: [0, 128, 128], navy: [0, 0, 128], orange: [255, 165, 0],
};

/** An SVG colour as RGBA (0-255, alpha 0-1); undefined when it is not a colour librsvg reads. */
export function parseColour(value: string): [number, number, number, number] | undefined {
  const v = value.trim().toLowerCase();
  if (v === 'transparent') return [0, 0, 0, 0];
  if (NAMED[v]) return [...NAMED[v]!, 1];
  let m = /^#([0-9a-f]{3,8})$/.exec(v);
  if (m) {
    const h = m[1]!;
    if (h.length === 3 || h.length === 4) {
      const d = [...h].map((c) => parseInt(c + c, 16));
      return [d[0]!, d[1]!, d[2]!, h.length === 4 ? d[3]! / 255 : 1];
    }
    if (h.length === 6 || h.length === 8) {
      const d = [0, 2, 4, 6].map((i) => parseInt(h.slice(i, i + 2), 16));
      return [d[0]!, d[1]!, d[2]!, h.length === 8 ? d[3]! / 255 : 1];
    }
    return undefined;
  }
  m = /^rgba?\(([^)]*)\)$/.exec(v);
  if (m) {
    const parts = m[1]!.split(/\s*[,/]\s*|\s+/).filter((s) => s !== '');
    if (parts.length !== 3 && parts.length !== 4) return undefined;
    const num = (s: string, scale: number) => (s.endsWith('%') ? (Number(s.slice(0, -1)) / 100) * scale : Number(s));
    const c = parts.map((s, i) => num(s, i < 3 ? 255 : 1));
    if (c.some((x) => !Number.isFinite(x))) return undefined;
    return [c[0]!, c[1]!, c[2]!, c.length === 4 ? Math.min(1, Math.max(0, c[3]!)) : 1];
  }
  return undefined;
}

/** A paint as read: none, a colour (with alpha) or a gradient (with its largest alpha). */
export type Paint = { kind: 'none' } | { kind: 'colour'; rgba: [number, number, number, number] } | { kind: 'gradient'; id: string; maxAlpha: number };

/** What rewritePaints tells its callback about one element. */
export interface PaintedElement {
  tag: string;
  fill: Paint;
  stroke: Paint;
  /** Largest alpha each paint can have in the render (group and element opacity included). */
  fillAlpha: number;
  strokeAlpha: number;
  /** Stroke width in the element's user units (inherited; 1 where nothing sets it). */
  strokeWidth: number;
}

const PAINT_PROPS = ['fill', 'stroke', 'opacity', 'fill-opacity', 'stroke-opacity', 'mix-blend-mode', 'display', 'color', 'stroke-width'];
/** Read for the callback but kept as written unless the callback sets them. */
const KEPT_PROPS = new Set(['display', 'stroke-width']);
const SHAPES = new Set(['path', 'circle', 'ellipse', 'rect', 'line', 'polyline', 'polygon', 'g', 'use', 'svg']);

function styleProps(style: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const decl of (style ?? '').split(';')) {
    const i = decl.indexOf(':');
    if (i > 0) out.set(decl.slice(0, i).trim().toLowerCase(), decl.slice(i + 1).trim());
  }
  return out;
}

/** Largest alpha of each gradient (stop-color alpha x stop-opacity) defined in `xml`, by id. */
function gradientAlphas(xml: string): Map<string, number> {
  const out = new Map<string, number>();
  let id: string | undefined;
  for (const t of tokens(xml)) {
    if (typeof t === 'string') continue;
    if (/gradient$/i.test(t.name)) {
      if (t.closing) id = undefined;
      else {
        const gid = t.attrs.find(([k]) => k === 'id')?.[1];
        if (gid !== undefined && !out.has(gid)) out.set(gid, 0);
        id = t.selfClosing ? undefined : gid;
      }
    } else if (t.name === 'stop' && id !== undefined && !t.closing) {
      const props = new Map(t.attrs);
      for (const [k, v] of styleProps(props.get('style'))) props.set(k, v);
      const c = parseColour(props.get('stop-color') ?? 'black');
      const o = Number(props.get('stop-opacity') ?? 1);
      out.set(id, Math.max(out.get(id)!, (c?.[3] ?? 1) * (Number.isFinite(o) ? o : 1)));
    }
  }
  return out;
}

function readPaint(value: string | undefined, gradients: Map<string, number>, currentColour: Paint): Paint | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === 'none') return { kind: 'none' };
  if (v === 'currentColor') return currentColour;
  const url = /^url\(\s*['"]?#([^'")\s]+)['"]?\s*\)\s*(.*)$/.exec(v);
  if (url) {
    const a = gradients.get(url[1]!);
    if (a !== undefined) return { kind: 'gradient', id: url[1]!, maxAlpha: a };
    return url[2] ? readPaint(url[2], gradients, currentColour) ?? { kind: 'none' } : { kind: 'none' };
  }
  const c = parseColour(v);
  return c ? { kind: 'colour', rgba: c } : undefined; // an unreadable value is ignored, as CSS does
}

function paintAlpha(p: Paint): number {
  return p.kind === 'none' ? 0 : p.kind === 'colour' ? p.rgba[3] : p.maxAlpha;
}

function num(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v.trim().endsWith('%') ? Number(v.trim().slice(0, -1)) / 100 : v);
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : undefined;
}

/**
 * Rewrites the paints of every element in `xml` (a fragment of a facesjs SVG): opacity, blend
 * modes and every fill/stroke attribute or style property are removed and replaced by the
 * attributes `paint` returns for the element (each also removed from its style). Elements inside
 * <defs> are left alone. `gradientSource` is where url(#id) paints are looked up (the document).
 */
export function rewritePaints(xml: string, paint: (e: PaintedElement) => Record<string, string>, gradientSource = xml): string {
  const gradients = gradientAlphas(gradientSource);
  interface State { opacity: number; fill: Paint; stroke: Paint; fillOpacity: number; strokeOpacity: number; colour: Paint; strokeWidth: number }
  const black: Paint = { kind: 'colour', rgba: [0, 0, 0, 1] };
  const stack: State[] = [{ opacity: 1, fill: black, stroke: { kind: 'none' }, fillOpacity: 1, strokeOpacity: 1, colour: black, strokeWidth: 1 }];
  let defs = 0;
  let out = '';
  for (const t of tokens(xml)) {
    if (typeof t === 'string') {
      out += t;
      continue;
    }
    if (t.closing) {
      if (t.name === 'defs') defs--;
      if (defs === 0 && t.name !== 'defs') stack.pop();
      out += t.raw;
      continue;
    }
    if (defs > 0 || t.name === 'defs' || t.name === '!--') {
      if (t.name === 'defs' && !t.selfClosing) defs++;
      out += t.raw;
      continue;
    }
    const parent = stack[stack.length - 1]!;
    const attrs = new Map(t.attrs);
    const props = new Map<string, string>();
    for (const k of PAINT_PROPS) if (attrs.has(k)) props.set(k, attrs.get(k)!);
    const style = styleProps(attrs.get('style'));
    for (const [k, v] of style) if (PAINT_PROPS.includes(k)) props.set(k, v); // style wins over attributes
    const colour = readPaint(props.get('color'), gradients, parent.colour) ?? parent.colour;
    const fill = readPaint(props.get('fill'), gradients, colour) ?? parent.fill;
    const stroke = readPaint(props.get('stroke'), gradients, colour) ?? parent.stroke;
    const fillOpacity = num(props.get('fill-opacity')) ?? parent.fillOpacity;
    const strokeOpacity = num(props.get('stroke-opacity')) ?? parent.strokeOpacity;
    const opacity = parent.opacity * (num(props.get('opacity')) ?? 1) * (props.get('display')?.trim() === 'none' ? 0 : 1);
    const sw = Number.parseFloat(props.get('stroke-width') ?? '');
    const strokeWidth = Number.isFinite(sw) && sw >= 0 ? sw : parent.strokeWidth;
    const state: State = { opacity, fill, stroke, fillOpacity, strokeOpacity, colour, strokeWidth };
    if (!t.selfClosing) stack.push(state);
    if (!SHAPES.has(t.name)) {
      out += t.raw;
      continue;
    }
    const set = paint({
      tag: t.name,
      fill,
      stroke,
      fillAlpha: paintAlpha(fill) * fillOpacity * opacity,
      strokeAlpha: paintAlpha(stroke) * strokeOpacity * opacity,
      strokeWidth,
    });
    const drop = new Set([...PAINT_PROPS.filter((k) => !KEPT_PROPS.has(k)), ...Object.keys(set)]);
    const keptStyle = [...style].filter(([k]) => !drop.has(k)).map(([k, v]) => `${k}:${v}`).join(';');
    const kept = t.attrs.filter(([k]) => !drop.has(k) && k !== 'style');
    if (keptStyle) kept.push(['style', keptStyle]);
    for (const [k, v] of Object.entries(set)) kept.push([k, v]);
    out += `<${t.name}${kept.map(([k, v]) => ` ${k}="${v.replace(/"/g, '&quot;')}"`).join('')}${t.selfClosing ? '/' : ''}>`;
  }
  return out;
}

/** The SVG document cropped to FACE_CROP, exactly as faceSvg in render.ts crops it. */
export function cropFaceSvg(svg: string): string {
  const cropped = svg.replace(/viewBox="0 0 400 600"/, `viewBox="${FACE_CROP.x} ${FACE_CROP.y} ${FACE_CROP.side} ${FACE_CROP.side}"`);
  if (cropped === svg) throw new Error('facesjs SVG without the expected viewBox="0 0 400 600" (facesjs version changed?)');
  return cropped.replace(/width="100%" height="100%"/, 'width="400" height="400"');
}

/** facesjs's drawing of a deep copy of the face (facesjs changes the face it draws). */
export function drawFace(face: FaceConfig): string {
  return faceToSvgString(structuredClone(face));
}

/** The features of a face that facesjs draws (those with an id other than 'none'). */
function drawnFeatures(face: FaceConfig): string[] {
  return Object.entries(face)
    .filter(([, v]) => v !== null && typeof v === 'object' && typeof (v as { id?: unknown }).id === 'string' && (v as { id: string }).id !== 'none')
    .map(([k]) => k);
}

/** The face drawn (on a deep copy) with the given features' ids set to 'none': its top-level elements. */
function drawWithout(face: FaceConfig, removed: readonly string[]): string[] {
  const copy = structuredClone(face) as unknown as Record<string, { id: string }>;
  for (const f of removed) copy[f]!.id = 'none';
  return splitSvg(faceToSvgString(copy as unknown as FaceConfig)).children;
}

/** Indices of `a` not in a longest common subsequence of `a` and `b`. */
function dropped(a: readonly string[], b: readonly string[]): number[] {
  const n = a.length;
  const m = b.length;
  const L = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i]![j] = a[i] === b[j] ? L[i + 1]![j + 1]! + 1 : Math.max(L[i + 1]![j]!, L[i]![j + 1]!);
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < n) {
    if (j < m && a[i] === b[j]) {
      i++;
      j++;
    } else if (j < m && L[i]![j + 1]! > L[i + 1]![j]!) j++;
    else out.push(i++);
  }
  return out;
}

/** A face's SVG split into its root tag and top-level groups, each with the feature that drew it. */
export interface FeatureGroups {
  svg: string;
  open: string;
  groups: { xml: string; feature: string }[];
}

/**
 * The reference method: one drawing per drawn feature with only that feature removed. A group
 * claimed by several removals (a hat changes how the hair is drawn, so removing the hat "removes"
 * the hair group too) goes to the feature whose removal takes away the fewest groups.
 */
export function featureGroupsByRemoval(face: FaceConfig): FeatureGroups {
  const svg = drawFace(face);
  const { open, children } = splitSvg(svg);
  const claims = children.map(() => [] as string[]);
  const claimed = new Map<string, number>();
  for (const feature of drawnFeatures(face)) {
    const gone = dropped(children, drawWithout(face, [feature]));
    claimed.set(feature, gone.length);
    for (const i of gone) claims[i]!.push(feature);
  }
  const groups = children.map((xml, i) => {
    const c = claims[i]!;
    if (c.length === 0) throw new Error(`face SVG group ${i} belongs to no feature: ${xml.slice(0, 80)}`);
    const fewest = Math.min(...c.map((f) => claimed.get(f)!));
    const best = c.filter((f) => claimed.get(f) === fewest);
    if (best.length !== 1) throw new Error(`face SVG group ${i} claimed equally by ${best.join(', ')}`);
    return { xml, feature: best[0]! };
  });
  return { svg, open, groups };
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
}

/** `count` distinct subsets of {0..bits-1} of one size (none contains another), and `bits`. */
function removalCodes(count: number): { bits: number; codes: number[] } {
  let bits = 1;
  while (binomial(bits, Math.max(1, bits >> 1)) < count) bits++;
  const weight = Math.max(1, bits >> 1);
  const codes: number[] = [];
  for (let c = 0; c < 1 << bits && codes.length < count; c++) {
    let w = 0;
    for (let b = c; b; b &= b - 1) w++;
    if (w === weight) codes.push(c);
  }
  return { bits, codes };
}

/**
 * Which top-level groups of the face's SVG each feature drew. Features are removed in groups:
 * feature k gets a code (a set of drawings, all codes the same size so none contains another) and
 * drawing j leaves out the features whose code holds j; a group's feature is the one whose code is
 * the set of drawings the group is missing from. With ~11 drawn features this takes 6 drawings
 * instead of 11. The answer is then checked: each drawing must be exactly the full drawing less
 * the groups of the features it left out. Where features interact (a hat changes the hair) the
 * check fails and the face is done one feature at a time (featureGroupsByRemoval).
 */
export function featureGroups(face: FaceConfig): FeatureGroups {
  const svg = drawFace(face);
  const { open, children } = splitSvg(svg);
  const drawn = drawnFeatures(face);
  const { bits, codes } = removalCodes(drawn.length);
  const byCode = new Map(codes.map((c, k) => [c, drawn[k]!]));
  const missing = new Int32Array(children.length);
  const drawings: string[][] = [];
  for (let j = 0; j < bits; j++) {
    const d = drawWithout(face, drawn.filter((_, k) => (codes[k]! >> j) & 1));
    drawings.push(d);
    for (const i of dropped(children, d)) missing[i]! |= 1 << j;
  }
  const owners = children.map((_, i) => byCode.get(missing[i]!));
  const consistent =
    owners.every((o) => o !== undefined) &&
    drawings.every((d, j) => {
      const expected = children.filter((_, i) => !((missing[i]! >> j) & 1));
      return expected.length === d.length && expected.every((g, i) => g === d[i]);
    });
  if (!consistent) return featureGroupsByRemoval(face);
  return { svg, open, groups: children.map((xml, i) => ({ xml, feature: owners[i]! })) };
}

function hex([r, g, b]: readonly [number, number, number]): string {
  return '#' + [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
}

/** The face's label map as an SVG document (cropped like faceSvg, crisp edges, flat class colours). */
export function faceSegmentationSvg(face: FaceConfig): string {
  const { svg, open, groups } = featureGroups(face);
  const body = groups.map(({ xml, feature }) => {
    const cls = FEATURE_CLASS[feature];
    if (cls === undefined) throw new Error(`facesjs feature ${feature} has no segmentation class`);
    const colour = hex(FACE_CLASSES[cls]!.colour);
    return rewritePaints(
      xml,
      (e) => ({ fill: e.fillAlpha >= MIN_PART_ALPHA ? colour : 'none', stroke: e.strokeAlpha >= MIN_PART_ALPHA ? colour : 'none' }),
      svg,
    );
  });
  const root = open.replace(/^<svg/, '<svg shape-rendering="crispEdges"');
  return cropFaceSvg(`${root}\n${body.join('\n')}\n</svg>`);
}

const COLOUR_CLASS = new Map(FACE_CLASSES.map((c) => [(c.colour[0] << 16) | (c.colour[1] << 8) | c.colour[2], c.index]));

function nearestClass(r: number, g: number, b: number): number {
  let best = 0;
  let bestD = Infinity;
  for (const c of FACE_CLASSES) {
    const d = (c.colour[0] - r) ** 2 + (c.colour[1] - g) ** 2 + (c.colour[2] - b) ** 2;
    if (d < bestD) [best, bestD] = [c.index, d];
  }
  return best;
}

/** Rasterises a label-map SVG (400x400 user size) to size x size class indices (mode of K x K crisp samples). */
export async function rasteriseLabels(svg: string, size: number): Promise<Uint8Array> {
  const k = size <= 256 ? 4 : size <= 512 ? 2 : 1;
  const big = size * k;
  const { data, info } = await sharp(Buffer.from(svg), { density: (72 * big) / 400 })
    .resize(big, big, { fit: 'fill', kernel: 'nearest' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width !== big || info.height !== big || info.channels !== 4) throw new Error('label raster of an unexpected shape');
  const fine = new Uint8Array(big * big);
  for (let i = 0; i < fine.length; i++) {
    const p = i * 4;
    if (data[p + 3]! < 128) continue; // background
    const r = data[p]!, g = data[p + 1]!, b = data[p + 2]!;
    fine[i] = COLOUR_CLASS.get((r << 16) | (g << 8) | b) ?? nearestClass(r, g, b);
  }
  if (k === 1) return fine;
  const out = new Uint8Array(size * size);
  const counts = new Uint16Array(FACE_CLASSES.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      counts.fill(0);
      for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) counts[fine[(y * k + dy) * big + x * k + dx]!]!++;
      let best = 0;
      for (let c = 1; c < counts.length; c++) if (counts[c]! > counts[best]!) best = c;
      out[y * size + x] = best;
    }
  }
  return out;
}

/** The face's label map at size x size: one class index (FACE_CLASSES) per pixel, row-major, aligned with renderFace. */
export function renderSegmentation(f: WorldFace, size: number): Promise<Uint8Array> {
  return rasteriseLabels(faceSegmentationSvg(f.face), size);
}

/** A label map as RGB HWC 8-bit (class colours), for pictures. */
export function segmentationColours(labels: Uint8Array, size: number): Uint8Array {
  if (labels.length !== size * size) throw new Error(`labels of ${labels.length} pixels, expected ${size}x${size}`);
  const out = new Uint8Array(size * size * 3);
  for (let i = 0; i < labels.length; i++) {
    const c = FACE_CLASSES[labels[i]!];
    if (!c) throw new Error(`label ${labels[i]} at pixel ${i} is not a class`);
    out.set(c.colour, i * 3);
  }
  return out;
}
