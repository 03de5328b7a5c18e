// Evaluation end to end on a micro experiment: metrics per image, unreadable images counted and
// listed, and a Markdown table + results.json + an HTML report that contains every row.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { buildExperiment, listImages, loadConfig, writeCheckpoint } from '@sgi/experiment';
import { evaluateMethod, writeReports, markdownTable, TABLES, type TableReport } from '../src/index.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const faces = path.join(repo, 'data/faces'); // the sample faces that ship with the repository

describe('evaluation and reports', () => {
  it('scores a micro encoder checkpoint on real photos and writes a valid report', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sgi-eval-'));
    const file = path.join(dir, 'm.yaml');
    fs.writeFileSync(file, stringify({
      name: 'eval-micro', seed: 2,
      generator: { size: 32, styleDim: 16, nMlp: 2, channels: { 4: 16, 8: 16, 16: 8, 32: 8 }, randomInit: true, meanLatentSamples: 32 },
      encoder: { widths: [8, 8, 16], units: [1, 1, 1], pools: [3, 3, 3], inputSize: 32 },
      loss: { l2: 1, lpips: 0, id: 0, parsing: 0 },
      data: { kind: 'synthetic' },
      train: { steps: 4, batchSize: 2, logEvery: 2, valEvery: 2, valImages: 2, checkpointEvery: 2 },
      runDir: path.join(dir, 'run'),
    }));
    const c = loadConfig(file);
    // a checkpoint as a run writes it (evaluation never needs the trainer)
    const exp = buildExperiment(c, { runsRoot: dir });
    const checkpoint = path.join(dir, 'run', 'checkpoints', 'best.safetensors');
    writeCheckpoint(checkpoint, exp.model.stateDict(), new Map(), { step: 4, stage: 1, configHash: 'test', config: '{}', rng: [] });
    const imgs = path.join(dir, 'imgs');
    fs.mkdirSync(imgs);
    for (const f of fs.readdirSync(faces).slice(0, 3)) fs.copyFileSync(path.join(faces, f), path.join(imgs, f));
    fs.writeFileSync(path.join(imgs, 'zz_corrupt.jpg'), Buffer.from([0xff, 0xd8, 0x00]));
    const files = listImages(imgs);
    const res = await evaluateMethod('micro', 'm.yaml', c, checkpoint, files, { ssimWindow: 'gaussian', runsRoot: dir, timingRuns: 1, previews: 2 });
    expect(res.images.length).toBe(3);
    expect(res.failed.map((f) => path.basename(f.file))).toEqual(['zz_corrupt.jpg']);
    for (const i of res.images) {
      expect(i.psnr).toBeGreaterThan(0);
      expect(i.ssim).toBeGreaterThan(-1);
      expect(i.ssim).toBeLessThanOrEqual(1);
      expect(i.seconds).toBeGreaterThan(0);
    }
    expect(res.params).toBeGreaterThan(1000);
    expect(res.randomInit.join(' ')).toMatch(/generator/);
    const { previews, ...rest } = res;
    const report: TableReport = {
      table: 'table1', title: TABLES.table1.title, suite: 'test', environment: 'test machine', conventions: ['PSNR on 8-bit values'],
      evalSet: { source: imgs, count: files.length, files },
      methods: TABLES.table1.rows.map((row) => ({ ...rest, label: row.label, paper: row.paper })),
      missing: [{ label: 'pSp', reason: 'not trained' }],
    };
    const out = await writeReports(path.join(dir, 'report'), report, { inputs: previews, methods: [previews], size: 32 });
    const html = fs.readFileSync(out.html, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.match(/<table/g)!.length).toBe(html.match(/<\/table>/g)!.length);
    for (const row of TABLES.table1.rows) expect(html).toContain(row.label);
    expect(html).toContain('data:image/png;base64,');
    expect(html).toContain('zz_corrupt.jpg');
    const md = markdownTable(report);
    for (const row of TABLES.table1.rows) expect(md).toContain(`| ${row.label} |`);
    expect(md).toMatch(/image\(s\) could not be scored .*zz_corrupt\.jpg/);
    expect(JSON.parse(fs.readFileSync(out.json, 'utf8')).methods.length).toBe(4);
  });

  it('a missing evaluation folder is a clear error', () => {
    expect(() => listImages('/no/such/folder')).toThrow(/image folder not found: \/no\/such\/folder/);
  });
});
