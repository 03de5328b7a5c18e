// Face detection and 68 landmarks with the networks and weights inside @vladmandic/face-api:
// tiny_face_detector (boxes) then face_landmark_68 (landmarks in each box), on one of two backends:
//   'engine' (default): our port of both networks (nets.ts) on @sgi/core's kernels;
//   'tfjs': the package's own pipeline on its bundled TFJS CPU backend (tfjs.ts), also offering
//           the ssd_mobilenetv1 detector.
// Faces come back largest first; landmarks and boxes are in image pixels (pixel centres at integers).
import type { Device } from '@sgi/core';
import { applyAffine, ffhqQuad, imageToAligned, invertAffine, warpAffine, type Point, type RgbImage } from './ffhq.js';
import { FaceLandmark68Net, TinyFaceDetectorNet, nonMaxSuppression, type RawBox } from './nets.js';
import { detectWithTfjs } from './tfjs.js';

export type FaceBackend = 'engine' | 'tfjs';
export type FaceDetectorKind = 'tiny' | 'ssd';
/** The tiny detector's input sizes pooled by default. */
export const DEFAULT_INPUT_SIZES: readonly number[] = [416, 224];
/** IoU above which two detections (of one or several input sizes) are one face (the package's own value). */
const NMS_IOU = 0.4;
export const FACE_BACKENDS: readonly FaceBackend[] = ['engine', 'tfjs'];

export interface DetectedFace {
  /** The detector's box (image pixels). */
  box: { x: number; y: number; width: number; height: number };
  /** Detector confidence in (0, 1). */
  score: number;
  /** 68 landmarks (iBUG 300-W order), image pixels. */
  landmarks: Point[];
}

export interface FaceLandmarkerOptions {
  backend?: FaceBackend;
  /** 'tiny' (tiny_face_detector, default) or 'ssd' (ssd_mobilenetv1, tfjs backend only). */
  detector?: FaceDetectorKind;
  /** Minimum detector score (default 0.5). */
  minScore?: number;
  /**
   * Tiny-detector input size(s), multiples of 32 (default [416, 224]): the detections of every size
   * are pooled and merged by non-maximum suppression. The tiny detector misses some faces that fill
   * the picture (already aligned crops) at 416 and finds them at 224, and the other way round for
   * small faces in large photos.
   */
  inputSize?: number | number[];
  /** Engine device (default cpu). */
  device?: Device;
  /**
   * Second pass (default true): the photo is turned and scaled so that the face found first is
   * upright in the middle of a 512 px crop, the face is detected and landmarked again there, and
   * the landmarks are mapped back. The landmark network is most accurate on upright faces, so this
   * makes the alignment of tilted faces agree with that of upright ones.
   */
  refine?: boolean;
}

/** Side of the upright crop of the second pass; the FFHQ quad covers its middle half. */
const REFINE_SIZE = 512;

/** Crops a box (clipped to the image, corners floored as the package does) out of an image. */
export function cropBox(img: RgbImage, box: { x: number; y: number; width: number; height: number }): { crop: RgbImage; x: number; y: number } | null {
  const x = Math.max(0, box.x), y = Math.max(0, box.y);
  const w = Math.floor(Math.min(box.x + box.width - x, img.width - x)), h = Math.floor(Math.min(box.y + box.height - y, img.height - y));
  const x0 = Math.floor(x), y0 = Math.floor(y);
  if (w <= 0 || h <= 0 || x0 >= img.width || y0 >= img.height) return null;
  const cw = Math.min(w, img.width - x0), ch = Math.min(h, img.height - y0);
  const data = new Uint8Array(cw * ch * 3);
  for (let r = 0; r < ch; r++) data.set(img.data.subarray(((y0 + r) * img.width + x0) * 3, ((y0 + r) * img.width + x0 + cw) * 3), r * cw * 3);
  return { crop: { width: cw, height: ch, data }, x: x0, y: y0 };
}

export class FaceLandmarker {
  readonly backend: FaceBackend;
  readonly detector: FaceDetectorKind;
  private readonly minScore: number;
  private readonly inputSizes: number[];
  private readonly refine: boolean;
  private nets: { det: TinyFaceDetectorNet; lm: FaceLandmark68Net } | null = null;

  constructor(opts: FaceLandmarkerOptions = {}) {
    this.backend = opts.backend ?? 'engine';
    this.detector = opts.detector ?? 'tiny';
    this.minScore = opts.minScore ?? 0.5;
    this.refine = opts.refine ?? true;
    this.inputSizes = opts.inputSize === undefined ? [...DEFAULT_INPUT_SIZES] : Array.isArray(opts.inputSize) ? opts.inputSize : [opts.inputSize];
    if (!FACE_BACKENDS.includes(this.backend)) throw new Error(`face detection: unknown backend '${this.backend}' (engine | tfjs)`);
    if (this.detector !== 'tiny' && this.detector !== 'ssd') throw new Error(`face detection: unknown detector '${this.detector}' (tiny | ssd)`);
    if (this.detector === 'ssd' && this.backend !== 'tfjs') throw new Error('face detection: the ssd detector runs on the tfjs backend only (use --backend tfjs, or the tiny detector)');
    if (!(this.minScore > 0 && this.minScore < 1)) throw new Error(`face detection: the minimum score must be in (0, 1), got ${this.minScore}`);
    if (this.inputSizes.length === 0 || this.inputSizes.some((n) => !(Number.isInteger(n) && n >= 32 && n % 32 === 0))) {
      throw new Error(`face detection: detector input sizes must be multiples of 32, got ${this.inputSizes.join(', ')}`);
    }
    if (this.backend === 'engine') this.nets = { det: new TinyFaceDetectorNet(opts.device ?? 'cpu'), lm: new FaceLandmark68Net(opts.device ?? 'cpu') };
  }

  /** Every face found, largest box first. */
  async detect(img: RgbImage): Promise<DetectedFace[]> {
    if (img.data.length !== img.width * img.height * 3) throw new Error(`face detection: image has ${img.data.length} bytes, expected ${img.width}x${img.height}x3`);
    const faces = await this.detectOnce(img);
    if (this.refine) {
      for (const f of faces) {
        const better = await this.refineLandmarks(img, f.landmarks);
        if (better) f.landmarks = better;
      }
    }
    return faces.sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
  }

  /** One pass of detection and landmarks (detections of every input size merged). */
  private async detectOnce(img: RgbImage): Promise<DetectedFace[]> {
    if (this.nets) {
      const all: RawBox[] = [];
      for (const inputSize of this.inputSizes) all.push(...this.nets.det.detect(img, { inputSize, minScore: this.minScore }));
      const faces: DetectedFace[] = [];
      for (const b of nonMaxSuppression(all, NMS_IOU)) {
        const c = cropBox(img, b);
        if (!c) continue;
        const lm = this.nets.lm.landmarks(c.crop).map(([x, y]) => [x + c.x, y + c.y] as Point);
        faces.push({ box: { x: b.x, y: b.y, width: b.width, height: b.height }, score: b.score, landmarks: lm });
      }
      return faces;
    }
    const all: DetectedFace[] = [];
    for (const inputSize of this.detector === 'ssd' ? [0] : this.inputSizes) all.push(...await detectWithTfjs(img, { detector: this.detector, minScore: this.minScore, inputSize }));
    return nonMaxSuppression(all.map((f) => ({ ...f.box, score: f.score, face: f })), NMS_IOU).map((b) => b.face);
  }

  /**
   * Landmarks again in an upright crop around a face (its FFHQ quad doubled, REFINE_SIZE px), mapped
   * back to the photo; null when the crop shows no face where the first pass put it.
   */
  private async refineLandmarks(img: RgbImage, landmarks: Point[]): Promise<Point[] | null> {
    const q = ffhqQuad(landmarks);
    const [c, x, y] = [q.center, q.x, q.y];
    const wide: Point[] = [[-1, -1], [-1, 1], [1, 1], [1, -1]].map(([i, j]) => [c[0] + 2 * (i! * x[0] + j! * y[0]), c[1] + 2 * (i! * x[1] + j! * y[1])] as Point);
    const toCrop = imageToAligned(wide, REFINE_SIZE);
    const crop = warpAffine(img, invertAffine(toCrop), REFINE_SIZE, REFINE_SIZE, { padding: 'zero' });
    const found = await this.detectOnce(crop);
    // the face of the first pass has its quad centred in the crop, half the crop's side
    let best: Point[] | null = null, bestDist = Infinity;
    for (const f of found) {
      const fq = ffhqQuad(f.landmarks);
      const dist = Math.hypot(fq.center[0] - (REFINE_SIZE - 1) / 2, fq.center[1] - (REFINE_SIZE - 1) / 2);
      const ratio = fq.qsize / (REFINE_SIZE / 2);
      if (dist < 0.15 * REFINE_SIZE && ratio > 0.6 && ratio < 1.6 && dist < bestDist) { best = f.landmarks; bestDist = dist; }
    }
    if (!best) return null;
    const back = invertAffine(toCrop);
    return best.map((p) => applyAffine(back, p));
  }

  release(): void {
    this.nets?.det.release();
    this.nets?.lm.release();
    this.nets = null;
  }
}
