// `sgi serve` in a real browser: the built CLI (dist/main.js) serves the micro config as a child
// process, and Playwright drives Debian's Chromium (/usr/bin/chromium, installed by .ci/run; no
// browser download): upload a face and see its reconstruction appear, move an edit slider and see
// the image change, upload a text file and see the error on the page, while the server stays up.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { writeNpy } from '@sgi/core';
import { microFaces, microInversion, tempDir } from '../../apps/test/micro.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = path.join(repo, 'packages/cli/dist/main.js');
const CHROMIUM = '/usr/bin/chromium';
const N = 8, D = 16;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts `sgi serve` and resolves with the URL it prints. */
function startServe(args: string[], env: Record<string, string>): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  if (!fs.existsSync(cli)) throw new Error(`${cli} not found: the CLI is not built (run \`npx tsc -b packages/cli\`, or \`npm test\`, which builds first)`);
  const child = spawn(process.execPath, [cli, 'serve', ...args], { cwd: repo, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sgi serve printed no URL within 90 s:\n${out}`)), 90_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /open (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sgi serve exited with ${code} before serving:\n${out}`));
    });
  });
}

describe('sgi serve in a browser (Chromium through Playwright)', () => {
  let dir: string;
  let faces: string[];
  let serve: { child: ChildProcess; url: string; output: () => string };
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y --no-install-recommends chromium; .ci/run does)`);
    dir = tempDir('cli-serve');
    const { config } = microInversion(dir);
    faces = await microFaces(dir, 2);
    const dirs = path.join(dir, 'directions');
    fs.mkdirSync(dirs);
    writeNpy(path.join(dirs, 'tilt.npy'), { shape: [N, D], data: new Float32Array(N * D).map((_, i) => Math.sin(0.7 * i + 1)) });
    fs.writeFileSync(path.join(dirs, 'tilt.json'), JSON.stringify({ separation: 0.5 }));
    const port = await freePort();
    serve = await startServe(['--config', config, '--port', String(port), '--directions', dirs, '--no-lpips'], { SGI_RUNS_DIR: path.join(dir, 'runs') });
    expect(serve.url).toBe(`http://127.0.0.1:${port}/`);
    const profile = fs.mkdtempSync(path.join(dir, 'chromium-profile-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
      viewport: { width: 1200, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    // nothing may leave for another host
    await page.route(/^(?!http:\/\/127\.0\.0\.1:)/, (route) => route.abort());
  });

  afterAll(async () => {
    await context?.close();
    if (serve?.child.exitCode === null) {
      const exited = new Promise((r) => serve.child.once('exit', r));
      serve.child.kill('SIGTERM');
      await exited;
    }
  });

  it('upload a face, move a slider, upload a text file: images, edits and the error on the page; the server stays up', async () => {
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(serve.url);
    await page.locator('#app').waitFor({ state: 'visible' });
    await expect.poll(() => page.locator('#meta').textContent()).toMatch(/W\+ \[8, 16\]/);
    expect(await page.locator('#domain').textContent()).toMatch(/taken as they are/);
    expect(await page.locator('#random').isVisible()).toBe(true);

    // upload a face: the input and a reconstruction per stage appear, with their scores
    await page.locator('#file').setInputFiles(faces[0]!);
    await page.locator('#stages img.stage').nth(1).waitFor({ state: 'visible' });
    const sizes = await page.locator('#stages img').evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth));
    expect(sizes).toEqual([32, 32, 32]);
    expect(await page.locator('#scores tbody tr').count()).toBe(2);
    expect(await page.locator('#stages figcaption').nth(1).textContent()).toMatch(/stage 1: PSNR \d+\.\d+ dB, SSIM -?\d\.\d{3}/);
    expect(await page.locator('#download').getAttribute('href')).toMatch(/^\/api\/faces\/[^/]+\/code\.npy$/);

    // move the edit slider: the edited image changes
    const before = await page.locator('#edit-img').getAttribute('src');
    expect(before).toBe(await page.locator('#stages img.stage').nth(1).getAttribute('src'));
    await page.locator('#sliders input[type=range]').first().evaluate((r: HTMLInputElement) => {
      r.value = '2';
      r.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.waitForFunction((b) => document.getElementById('edit-img')!.getAttribute('src') !== b, before);
    expect(await page.locator('#sliders output').first().textContent()).toBe('2');

    // a text file: a clear message on the page
    const txt = path.join(dir, 'notes.txt');
    fs.writeFileSync(txt, 'these are notes, not a face\n');
    await page.locator('#file').setInputFiles(txt);
    await page.locator('#error').waitFor({ state: 'visible' });
    expect(await page.locator('#error').textContent()).toMatch(/not an image/);
    await page.screenshot({ path: path.join(dir, 'serve-error.png'), fullPage: true });

    // the server still serves: a second face, and the two-face tools come up
    await page.locator('#file').setInputFiles(faces[1]!);
    await expect.poll(() => page.locator('#gallery .thumb').count()).toBe(2);
    await page.locator('#error').waitFor({ state: 'hidden' });
    await page.locator('#pair').waitFor({ state: 'visible' });
    await page.waitForFunction(() => (document.getElementById('interp-img') as HTMLImageElement).naturalWidth === 32);
    await page.waitForFunction(() => (document.getElementById('mix-img') as HTMLImageElement).naturalWidth === 32);
    await page.screenshot({ path: path.join(dir, 'serve.png'), fullPage: true });
    const health = await fetch(serve.url + 'api/health');
    expect(health.status).toBe(200);
    expect(serve.child.exitCode).toBeNull();
    expect(requests.filter((u) => !u.startsWith(serve.url) && !u.startsWith('data:'))).toEqual([]);
    expect(serve.output()).toMatch(/POST \/api\/invert\?name=notes\.txt 415/);
  });
});
