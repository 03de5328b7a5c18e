// `sgi align` as a function: every image of a list is searched for faces; the largest (or every)
// face is aligned FFHQ-style and written as <name>.png + <name>.json (<name>_face<k>.* with
// allFaces). Images without a face, and unreadable ones, are reported and skipped.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FaceLandmarker, type FaceLandmarkerOptions } from './detect.js';
import { alignFaces, alignmentRecord, formatAlignmentRecord, readRgb, writePng } from './faces.js';

export interface AlignRunOptions extends FaceLandmarkerOptions {
  /** Side of the aligned images (default 1024). */
  size?: number;
  allFaces?: boolean;
  /** Called with one line per event (written, skipped). */
  log?: (line: string) => void;
}

export interface AlignRunResult {
  /** Files written: the PNG and JSON of every aligned face. */
  written: { image: string; json: string; source: string; face: number }[];
  /** Images in which no face was found. */
  noFace: string[];
  /** Images that could not be read, with the reason. */
  unreadable: { file: string; error: string }[];
  /** Seconds spent on detection + landmarks per image read. */
  detectSeconds: number[];
  backend: string;
}

export async function runAlign(files: string[], outDir: string, opts: AlignRunOptions = {}): Promise<AlignRunResult> {
  const size = opts.size ?? 1024;
  if (!(Number.isInteger(size) && size >= 8 && size <= 8192)) throw new Error(`align: --size must be an integer in [8, 8192], got ${size}`);
  const log = opts.log ?? (() => {});
  const landmarker = new FaceLandmarker(opts);
  const result: AlignRunResult = { written: [], noFace: [], unreadable: [], detectSeconds: [], backend: `${landmarker.backend} (${landmarker.detector} detector + face_landmark_68)` };
  try {
    fs.mkdirSync(outDir, { recursive: true });
    const used = new Set<string>();
    for (const file of files) {
      let photo;
      try {
        photo = await readRgb(file);
      } catch (e) {
        result.unreadable.push({ file, error: (e as Error).message });
        log(`skipped ${file}: ${(e as Error).message}`);
        continue;
      }
      const t0 = performance.now();
      const faces = await landmarker.detect(photo);
      result.detectSeconds.push((performance.now() - t0) / 1000);
      if (faces.length === 0) {
        result.noFace.push(file);
        log(`no face found in ${file}: skipped`);
        continue;
      }
      let base = path.basename(file).replace(/\.[^.]+$/, '');
      // two inputs with one name (a.png, a.jpg) do not overwrite each other
      for (let k = 2; used.has(base); k++) base = `${path.basename(file).replace(/\.[^.]+$/, '')}-${k}`;
      used.add(base);
      const aligned = alignFaces(photo, faces, { size, allFaces: opts.allFaces });
      for (const a of aligned) {
        const stem = opts.allFaces ? `${base}_face${a.index}` : base;
        const image = path.join(outDir, `${stem}.png`), json = path.join(outDir, `${stem}.json`);
        await writePng(image, a.image);
        fs.writeFileSync(json, formatAlignmentRecord(alignmentRecord(file, photo, a, landmarker.backend)));
        result.written.push({ image, json, source: file, face: a.index });
        log(`${file}: face ${a.index} (score ${a.face.score.toFixed(2)}) -> ${image}`);
      }
      if (!opts.allFaces && faces.length > 1) log(`${file}: ${faces.length} faces found, aligned the largest (--all-faces aligns every one)`);
    }
  } finally {
    landmarker.release();
  }
  return result;
}
