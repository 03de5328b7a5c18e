// Image files for alignment (8-bit RGB in and out, CHW conversion for the encoder), aligning the
// detected faces of a photo, and the JSON record written per aligned face (enough to paste back).
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { alignFace, invertAffine, type Affine, type Point, type RgbImage, type WarpOptions } from './ffhq.js';
import type { DetectedFace, FaceLandmarker } from './detect.js';

/** Reads any image sharp decodes as 8-bit RGB (EXIF orientation applied, transparency on white). */
export async function readRgb(file: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(file).rotate().flatten({ background: '#ffffff' }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    throw new Error(`cannot read image ${file}: ${(e as Error).message}`);
  }
}

export async function writePng(file: string, img: RgbImage): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toFile(file);
}

/** 8-bit RGB (HWC) to CHW floats in [-1, 1] (the encoder's input), resized with sharp when sizes differ. */
export async function rgbToChw(img: RgbImage, size: number): Promise<Float32Array> {
  let data = img.data;
  if (img.width !== size || img.height !== size) {
    const buf = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 3 } })
      .resize(size, size, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
    data = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  }
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = data[i * 3 + c]! / 127.5 - 1;
  return out;
}

/** CHW floats in [-1, 1] to 8-bit RGB (rounded). */
export function chwToRgb(data: Float32Array, size: number, offset = 0): RgbImage {
  const plane = size * size;
  const out = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round(Math.min(1, Math.max(0, (data[offset + c * plane + i]! + 1) / 2)) * 255);
  }
  return { width: size, height: size, data: out };
}

export interface FaceAlignment {
  /** Rank by size in the photo (0: the largest face). */
  index: number;
  face: DetectedFace;
  size: number;
  quad: [Point, Point, Point, Point];
  /** photo -> aligned pixels. */
  matrix: Affine;
  image: RgbImage;
}

/** Aligns detected faces (largest first) of a photo to size x size: the first, or every one with allFaces. */
export function alignFaces(photo: RgbImage, faces: DetectedFace[], opts: { size: number; allFaces?: boolean } & WarpOptions): FaceAlignment[] {
  const chosen = opts.allFaces ? faces : faces.slice(0, 1);
  return chosen.map((face, index) => {
    const a = alignFace(photo, face.landmarks, opts.size, opts);
    return { index, face, size: opts.size, quad: a.quad.quad, matrix: a.matrix, image: a.image };
  });
}

/** Detects the faces of a photo and aligns the largest (or every one with allFaces) to size x size. */
export async function alignPhoto(photo: RgbImage, landmarker: FaceLandmarker, opts: { size: number; allFaces?: boolean } & WarpOptions): Promise<FaceAlignment[]> {
  return alignFaces(photo, await landmarker.detect(photo), opts);
}

/** The JSON `sgi align` writes next to each aligned PNG: enough to paste a result back. */
export interface AlignmentRecord {
  source: string;
  sourceSize: { width: number; height: number };
  face: number;
  size: number;
  backend: string;
  score: number;
  box: { x: number; y: number; width: number; height: number };
  landmarks: Point[];
  /** Top-left, bottom-left, bottom-right, top-right of the aligned image, in photo pixels. */
  quad: Point[];
  /** photo -> aligned pixels as a 3x3 matrix (last row 0 0 1); pixel centres at integer coordinates. */
  matrix: number[][];
  /** aligned -> photo pixels. */
  inverse: number[][];
  convention: string;
}

const to3x3 = (m: Affine): number[][] => [[m[0], m[1], m[2]], [m[3], m[4], m[5]], [0, 0, 1]];

export function alignmentRecord(source: string, photo: RgbImage, a: FaceAlignment, backend: string): AlignmentRecord {
  return {
    source,
    sourceSize: { width: photo.width, height: photo.height },
    face: a.index,
    size: a.size,
    backend,
    score: a.face.score,
    box: a.face.box,
    landmarks: a.face.landmarks,
    quad: a.quad,
    matrix: to3x3(a.matrix),
    inverse: to3x3(invertAffine(a.matrix)),
    convention: 'pixel centres at integer coordinates; [x\', y\', 1] = matrix [x, y, 1] maps photo pixels to aligned pixels (FFHQ quad, as the FFHQ dataset script)',
  };
}

/** A record as JSON text: one line per field (points and matrix rows stay on one line). */
export function formatAlignmentRecord(r: AlignmentRecord): string {
  return `{\n${Object.entries(r).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n')}\n}\n`;
}

/** The photo -> aligned map of a record (checked). */
export function recordMatrix(r: AlignmentRecord): Affine {
  const m = r.matrix;
  if (!Array.isArray(m) || m.length < 2 || m.slice(0, 2).some((row) => !Array.isArray(row) || row.length !== 3 || row.some((v) => !Number.isFinite(v)))) {
    throw new Error('alignment record: matrix must be a 3x3 (or 2x3) array of numbers');
  }
  return [m[0]![0]!, m[0]![1]!, m[0]![2]!, m[1]![0]!, m[1]![1]!, m[1]![2]!];
}
