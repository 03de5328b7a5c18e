// Table outputs: a Markdown table (ours beside the paper's numbers), results.json, and a
// self-contained HTML report (table, per-image metrics, image grids as embedded PNGs) that
// opens offline in a browser.
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import type { MethodResult } from './evaluate.js';
import type { TableDef } from './tables.js';

export interface TableReport {
  table: string;
  title: string;
  suite: string;
  environment: string;
  conventions: string[];
  evalSet: { source: string; count: number; files: string[]; seed?: number };
  methods: (Omit<MethodResult, 'previews'> & { paper: TableDef['rows'][number]['paper'] })[];
  missing: { label: string; reason: string }[];
}

const f = (v: number | undefined, digits: number) => (v === undefined || Number.isNaN(v) ? '-' : v === Infinity ? 'inf' : v.toFixed(digits));
const fmtParams = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : `${(n / 1e3).toFixed(1)}K`);

export function markdownTable(r: TableReport): string {
  const lines = [
    `### ${r.title} (${r.suite} suite)`,
    '',
    '| method | SSIM | PSNR | IDS | LPIPS | runtime | params | paper SSIM | paper PSNR | paper IDS | paper params |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const m of r.methods) {
    lines.push(`| ${m.label} | ${f(m.mean.ssim, 3)} | ${f(m.mean.psnr, 2)} | ${f(m.mean.ids, 3)} | ${f(m.mean.lpips, 3)} | ${f(m.mean.runtime, 3)} s | ${fmtParams(m.params)} | ${m.paper.ssim} | ${m.paper.psnr} | ${m.paper.ids} | ${m.paper.params} |`);
  }
  for (const m of r.missing) lines.push(`| ${m.label} | not evaluated: ${m.reason} |||||||||`);
  lines.push('', `Columns headed "paper" are the paper's published numbers, not ours.`);
  lines.push(`Evaluation set: ${r.evalSet.count} images from ${r.evalSet.source}.`);
  for (const c of r.conventions) lines.push(`- ${c}`);
  lines.push(`- ${r.environment}`);
  const failed = r.methods.flatMap((m) => m.failed.map((x) => `${m.label}: ${x.file} (${x.reason})`));
  if (failed.length) lines.push(`- ${failed.length} image(s) could not be scored and are excluded from the means: ${failed.join('; ')}`);
  else lines.push('- every image was scored');
  return lines.join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

async function pngDataUrl(hwc: Uint8Array, size: number): Promise<string> {
  const png = await sharp(Buffer.from(hwc), { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

export async function htmlReport(r: TableReport, previews: { inputs: Uint8Array[]; methods: Uint8Array[][]; size: number }): Promise<string> {
  const md = markdownTable(r);
  const head = ['method', 'SSIM', 'PSNR', 'IDS', 'LPIPS', 'runtime (s)', 'params', 'paper SSIM', 'paper PSNR', 'paper IDS', 'paper params'];
  const rows = r.methods.map((m) => [m.label, f(m.mean.ssim, 3), f(m.mean.psnr, 2), f(m.mean.ids, 3), f(m.mean.lpips, 3), f(m.mean.runtime, 3), fmtParams(m.params), String(m.paper.ssim), String(m.paper.psnr), String(m.paper.ids), m.paper.params]);
  const table = `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((row) => `<tr>${row.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  let grid = '';
  if (previews.inputs.length) {
    const header = `<tr><th>input</th>${r.methods.map((m) => `<th>${esc(m.label)}</th>`).join('')}</tr>`;
    const body: string[] = [];
    for (let i = 0; i < previews.inputs.length; i++) {
      const cells = [await pngDataUrl(previews.inputs[i]!, previews.size), ...(await Promise.all(previews.methods.map((p) => (p[i] ? pngDataUrl(p[i]!, previews.size) : Promise.resolve('')))))];
      body.push(`<tr>${cells.map((u) => `<td>${u ? `<img src="${u}" width="${Math.max(previews.size, 96)}">` : ''}</td>`).join('')}</tr>`);
    }
    grid = `<h2>Reconstructions</h2><table class="grid">${header}${body.join('')}</table>`;
  }
  const perImage = r.methods.map((m) => `<h3>${esc(m.label)}</h3><table><thead><tr><th>image</th><th>PSNR</th><th>SSIM</th><th>LPIPS</th><th>IDS</th><th>seconds</th></tr></thead><tbody>${m.images.map((i) => `<tr><td>${esc(path.basename(i.file))}</td><td>${f(i.psnr, 2)}</td><td>${f(i.ssim, 3)}</td><td>${f(i.lpips, 3)}</td><td>${f(i.ids, 3)}</td><td>${f(i.seconds, 3)}</td></tr>`).join('')}</tbody></table>${m.failed.length ? `<p>Not scored: ${m.failed.map((x) => esc(`${x.file}: ${x.reason}`)).join('<br>')}</p>` : ''}`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}.grid img{image-rendering:pixelated;display:block}pre{background:#f7f7f7;padding:1em;overflow:auto}</style>
</head><body>
<h1>${esc(r.title)}</h1>
<p>Suite: ${esc(r.suite)}. ${esc(r.environment)}.</p>
${table}
<p>Columns headed "paper" are the paper's published numbers, not ours.</p>
<ul>${r.conventions.map((c) => `<li>${esc(c)}</li>`).join('')}</ul>
<p>Evaluation set: ${r.evalSet.count} images from ${esc(r.evalSet.source)}${r.evalSet.seed !== undefined ? ` (selection seed ${r.evalSet.seed})` : ''}.</p>
${r.missing.length ? `<p>Not evaluated: ${r.missing.map((m) => esc(`${m.label}: ${m.reason}`)).join('<br>')}</p>` : ''}
${grid}
<h2>Per-image metrics</h2>
${perImage}
<h2>Markdown</h2><pre>${esc(md)}</pre>
</body></html>
`;
}

export async function writeReports(outDir: string, r: TableReport, previews: { inputs: Uint8Array[]; methods: Uint8Array[][]; size: number }): Promise<{ markdown: string; json: string; html: string }> {
  fs.mkdirSync(outDir, { recursive: true });
  const markdown = markdownTable(r);
  const json = path.join(outDir, 'results.json');
  const html = path.join(outDir, 'report.html');
  fs.writeFileSync(json, JSON.stringify(r, (_k, v) => (v === Infinity ? 'Infinity' : v), 2));
  fs.writeFileSync(html, await htmlReport(r, previews));
  fs.writeFileSync(path.join(outDir, 'table.md'), `${markdown}\n`);
  return { markdown, json, html };
}
