// `sgi serve`'s API on the micro config, in-process (port 0, fetch): an upload gives every stage's
// reconstruction and scores, edits at strength 0 give the reconstruction exactly, interpolation and
// mixing at their ends give the faces themselves, bad input gets a 4xx with a message while the
// server keeps serving (not an image, truncated, empty, too many bytes or pixels, no face, too many
// queued requests), and the page loads nothing from other hosts.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { parse, stringify } from 'yaml';
import { parseNpy, writeNpy } from '@sgi/core';
import { serve } from '../src/index.js';
import { microFaces, microInversion, tempDir } from './micro.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const N = 8, D = 16, S = 32;

interface FaceJson { id: string; label: string; how: string; input: string; stages: string[]; scores: { stage: number; psnr: number; ssim: number; lpips: number | null }[]; code: string; codeShape: number[] }

/** The pixels of a PNG data URL. */
async function pixels(url: string): Promise<{ width: number; height: number; data: Buffer }> {
  expect(url).toMatch(/^data:image\/png;base64,/);
  const { data, info } = await sharp(Buffer.from(url.slice(url.indexOf(',') + 1), 'base64')).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

describe('sgi serve: the API', () => {
  let dir: string;
  let server: serve.ServeServer;
  let base: string;
  let faces: string[];
  let direction: Float32Array;
  let config: string, checkpoint: string;

  const post = (route: string, body: BodyInit, headers: Record<string, string> = {}) => fetch(base + route, { method: 'POST', body, headers });
  const postJson = (route: string, body: unknown) => post(route, JSON.stringify(body), { 'Content-Type': 'application/json' });
  const upload = async (file: string): Promise<FaceJson> => {
    const r = await post(`api/invert?name=${encodeURIComponent(path.basename(file))}`, fs.readFileSync(file), { 'Content-Type': 'image/png' });
    const j = await r.json();
    expect(r.status, JSON.stringify(j)).toBe(200);
    return j as FaceJson;
  };
  const expectError = async (r: Response, status: number | number[], message: RegExp) => {
    const j = (await r.json()) as { error: string };
    expect([status].flat(), `${r.status}: ${j.error}`).toContain(r.status);
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    expect(j.error).toMatch(message);
  };
  const alive = async () => {
    const r = await fetch(base + 'api/health');
    expect(r.status).toBe(200);
    expect(((await r.json()) as { ok: boolean }).ok).toBe(true);
  };

  beforeAll(async () => {
    dir = tempDir('serve');
    ({ config, checkpoint } = microInversion(dir));
    faces = await microFaces(dir, 3);
    // a direction of the micro generator's W+ shape, with a separation beside it
    const dirs = path.join(dir, 'directions');
    fs.mkdirSync(dirs);
    direction = new Float32Array(N * D).map((_, i) => Math.sin(0.7 * i + 1));
    writeNpy(path.join(dirs, 'tilt.npy'), { shape: [N, D], data: direction });
    fs.writeFileSync(path.join(dirs, 'tilt.json'), JSON.stringify({ separation: 0.5 }));
    writeNpy(path.join(dirs, 'wrong.npy'), { shape: [N + 1, D], data: new Float32Array((N + 1) * D) });
    // a stand-in LPIPS (mean absolute difference) to check that the server passes it through
    const lpips: serve.ServeLpips = { note: 'test LPIPS', distance: (a, b) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length };
    server = await serve.startServer({ config, runsRoot: dir, port: 0, directionDirs: [dirs], lpips, root: repo });
    base = server.url;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('listens on 127.0.0.1 only, and the page loads nothing from other hosts', async () => {
    expect(server.host).toBe('127.0.0.1');
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const r = await fetch(base);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/html/);
    expect(r.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    const html = await r.text();
    expect(html).toMatch(/<script>[\s\S]*<\/script>/);
    const urls = [...html.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'<>)]*/gi)].map((m) => m[0]);
    expect(urls, 'references to other hosts').toEqual([]);
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/<link\b|@import|<script\s+src/i);
  });

  it('/api/info: the model, the face-world domain, the directions that fit W+, the limits', async () => {
    const info = (await (await fetch(base + 'api/info')).json()) as serve.ServeInfo & { limits: { maxUploadBytes: number; maxSide: number; maxQueue: number } };
    expect(info.domain).toBe('faces');
    expect(info.domainNote).toMatch(/taken as they are/);
    expect(info.randomFaces).toBe(true);
    expect([info.nLatent, info.styleDim, info.size, info.stages]).toEqual([N, D, S, 2]);
    expect(info.directions.map((d) => d.name)).toEqual(['tilt']); // the face world's [10, 64] directions and wrong.npy do not fit
    expect(info.directions[0]).toMatchObject({ unit: 'separation', separation: 0.5 });
    expect(info.skippedDirections.map((d) => path.basename(d.file))).toContain('wrong.npy');
    expect(info.skippedDirections.map((d) => path.basename(d.file))).toContain('glasses.npy');
    expect(info.limits).toEqual({ maxUploadBytes: 10_000_000, maxUpload: '10 MB', maxSide: 4096, maxQueue: 4 });
    expect(info.lpips).toEqual({ available: true, note: 'test LPIPS' });
  });

  it('an upload (raw bytes or multipart) gives the input, every stage as a PNG, PSNR/SSIM/LPIPS and the W+ code', async () => {
    const f = await upload(faces[0]!);
    expect(f.label).toBe('face0.png');
    expect(f.how).toMatch(/taken as it is/);
    expect(f.stages).toHaveLength(2);
    for (const s of [f.input, ...f.stages]) {
      const p = await pixels(s);
      expect([p.width, p.height]).toEqual([S, S]);
    }
    // the input is the uploaded face itself (32 px, no resizing)
    const original = await sharp(faces[0]!).removeAlpha().raw().toBuffer();
    expect((await pixels(f.input)).data.equals(original)).toBe(true);
    expect(f.scores.map((s) => s.stage)).toEqual([1, 2]);
    for (const s of f.scores) {
      expect(s.psnr).toBeGreaterThan(0);
      expect(s.psnr).toBeLessThanOrEqual(100);
      expect(Math.abs(s.ssim)).toBeLessThanOrEqual(1);
      expect(s.lpips).toBeGreaterThan(0);
    }
    const npy = await fetch(new URL(f.code, base));
    expect(npy.status).toBe(200);
    expect(npy.headers.get('content-disposition')).toMatch(/attachment; filename="w-plus-.*\.npy"/);
    const code = parseNpy(new Uint8Array(await npy.arrayBuffer()));
    expect(code.shape).toEqual([N, D]);
    expect(code.data.every(Number.isFinite)).toBe(true);

    const form = new FormData();
    form.append('note', 'not the file');
    form.append('image', new Blob([fs.readFileSync(faces[0]!)], { type: 'image/png' }), 'face0.png');
    const m = await post('api/invert', form);
    const mj = (await m.json()) as FaceJson;
    expect(m.status, JSON.stringify(mj)).toBe(200);
    expect(mj.stages).toEqual(f.stages);
    expect(mj.id).not.toBe(f.id);
    const again = await fetch(base + `api/faces/${f.id}`);
    expect(((await again.json()) as FaceJson).stages).toEqual(f.stages);
  });

  it('edit: strength 0 returns the reconstruction exactly; a strength moves the code by strength x separation x direction', async () => {
    const f = await upload(faces[1]!);
    const last = f.stages[f.stages.length - 1]!;
    for (const strengths of [{ tilt: 0 }, {}]) {
      const r = await postJson('api/edit', { face: f.id, strengths });
      expect(r.status).toBe(200);
      expect(((await r.json()) as { image: string }).image).toBe(last);
    }
    const moved = await postJson('api/edit', { face: f.id, strengths: { tilt: 2 } });
    expect(moved.status).toBe(200);
    expect(((await moved.json()) as { image: string }).image).not.toBe(last);
    const code = parseNpy(new Uint8Array(await (await fetch(new URL(f.code, base))).arrayBuffer())).data;
    const zero = parseNpy(new Uint8Array(await (await fetch(new URL(f.code + '?edit=' + encodeURIComponent('{"tilt":0}'), base))).arrayBuffer())).data;
    expect(Array.from(zero)).toEqual(Array.from(code));
    const edited = parseNpy(new Uint8Array(await (await fetch(new URL(f.code + '?edit=' + encodeURIComponent('{"tilt":2}'), base))).arrayBuffer())).data;
    for (let i = 0; i < code.length; i++) expect(edited[i]).toBeCloseTo(code[i]! + 2 * 0.5 * direction[i]!, 5);
    await expectError(await postJson('api/edit', { face: f.id, strengths: { tilt: 4 } }), 400, /\[-3, 3\]/);
    await expectError(await postJson('api/edit', { face: f.id, strengths: { glasses: 1 } }), 400, /unknown direction 'glasses'.*tilt/);
    await expectError(await postJson('api/edit', { face: 'nope', strengths: {} }), 404, /not held by the server/);
  });

  it('interpolation, style mixing and face swap between two uploads', async () => {
    const a = await upload(faces[0]!), b = await upload(faces[2]!);
    const image = async (route: string, body: unknown) => {
      const r = await postJson(route, body);
      const j = (await r.json()) as { image: string; error?: string };
      expect(r.status, j.error).toBe(200);
      return j.image;
    };
    const lastA = a.stages[1]!, lastB = b.stages[1]!;
    expect(await image('api/interpolate', { a: a.id, b: b.id, lambda: 0 })).toBe(lastA);
    expect(await image('api/interpolate', { a: a.id, b: b.id, lambda: 1 })).toBe(lastB);
    const mid = await image('api/interpolate', { a: a.id, b: b.id, lambda: 0.5 });
    expect(mid).not.toBe(lastA);
    expect(await image('api/mix', { content: a.id, style: b.id, layer: N })).toBe(lastA);
    expect(await image('api/mix', { content: a.id, style: b.id, layer: 0 })).toBe(lastB);
    expect((await pixels(await image('api/mix', { content: a.id, style: b.id, layer: 4 }))).width).toBe(S);
    await expectError(await postJson('api/interpolate', { a: a.id, b: b.id, lambda: 1.5 }), 400, /lambda must be a number in \[0, 1\]/);
    await expectError(await postJson('api/mix', { content: a.id, style: b.id, layer: N + 1 }), 400, /layer must be an integer in 0\.\.8/);
    const s = await postJson('api/swap', { source: a.id, target: b.id });
    const sj = (await s.json()) as { face: FaceJson; pasted: string; mask: string };
    expect(s.status).toBe(200);
    expect(sj.face.label).toBe('swap: face0.png onto face2.png');
    expect(sj.face.stages).toHaveLength(2);
    expect((await pixels(sj.pasted)).width).toBe(S);
    expect((await pixels(sj.face.input)).data.equals((await pixels(sj.pasted)).data)).toBe(true);
    // the swapped face is kept: it can be edited
    expect((await postJson('api/edit', { face: sj.face.id, strengths: {} })).status).toBe(200);
  });

  it('draws new held-out faces of the built-in world', async () => {
    const r1 = await post('api/random', '');
    const f1 = (await r1.json()) as FaceJson;
    expect(r1.status).toBe(200);
    const f2 = (await (await post('api/random', '')).json()) as FaceJson;
    expect(f1.label).toMatch(/^random face \d+$/);
    expect(f1.how).toMatch(/FACE_SEEDS\.demo \+ \d+/);
    expect(f2.input).not.toBe(f1.input);
    expect(f2.stages).toHaveLength(2);
  });

  it('bad input: a clear 4xx JSON error, and the server keeps serving', async () => {
    await expectError(await post('api/invert', 'hello, this is not a picture\n'.repeat(20), { 'Content-Type': 'text/plain' }), 415, /not an image/);
    await alive();
    const png = fs.readFileSync(faces[0]!);
    await expectError(await post('api/invert', png.subarray(0, Math.floor(png.length / 2))), 400, /could not be decoded \(truncated or corrupt\?\)/);
    await alive();
    await expectError(await post('api/invert', new Uint8Array(0)), 400, /empty/);
    const wide = await sharp({ create: { width: 5000, height: 8, channels: 3, background: '#808080' } }).png().toBuffer();
    await expectError(await post('api/invert', wide), 413, /5000x8 pixels \(the limit is 4096x4096\)/);
    await expectError(await post('api/invert', Buffer.alloc(11_000_000, 7)), 413, /upload too large: 11 MB \(the limit is 10 MB\)/);
    await alive();
    await expectError(await postJson('api/edit', 'not an object'), 400, /JSON object/);
    await expectError(await post('api/edit', '{"face": '), 400, /not JSON/);
    await expectError(await fetch(base + 'api/nothing'), 404, /no such page or API route/);
    await expectError(await fetch(base + 'api/invert'), 405, /takes POST/);
    // a face that is still there after all of it
    const f = await upload(faces[2]!);
    expect(f.stages).toHaveLength(2);
  });

  it('more than 4 requests queued: the extra ones get 429, the others are answered in turn', async () => {
    const resume = server.queue.pause();
    const png = fs.readFileSync(faces[1]!);
    const statuses: number[] = [];
    const requests = Array.from({ length: 7 }, () => post('api/invert', png).then(async (r) => {
      statuses.push(r.status);
      return { status: r.status, body: (await r.json()) as { error?: string } };
    }));
    for (let t = 0; statuses.length < 3 && t < 400; t++) await new Promise((r) => setTimeout(r, 25));
    expect(statuses).toEqual([429, 429, 429]);
    expect(server.queue.pending).toBe(4);
    resume();
    const all = await Promise.all(requests);
    expect(all.filter((r) => r.status === 200)).toHaveLength(4);
    const refused = all.filter((r) => r.status === 429);
    expect(refused).toHaveLength(3);
    for (const r of refused) expect(r.body.error).toMatch(/the server is busy: 4 requests are already queued/);
    expect(server.queue.pending).toBe(0);
    await alive();
  });

  it('answers requests for localhost only', async () => {
    const http = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.port, path: '/api/health', headers: { Host: 'evil.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject);
    });
    expect(status).toBe(421);
    await alive();
  });
});

describe('sgi serve: a photo config (faces found and aligned)', () => {
  let server: serve.ServeServer;
  let base: string;

  beforeAll(async () => {
    const dir = tempDir('serve-photo');
    const { config, checkpoint } = microInversion(dir);
    // the same networks, but for photos: uploads are searched for a face and aligned
    const photo = path.join(dir, 'apps-micro-photo.yaml');
    fs.writeFileSync(photo, stringify({ ...parse(fs.readFileSync(config, 'utf8')), name: 'apps-micro-photo', data: { kind: 'folder', path: dir } }));
    server = await serve.startServer({ config: photo, checkpoint, runsRoot: dir, port: 0, root: repo });
    base = server.url;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('aligns the face of a photo; a picture without a face gets 422, and the server keeps serving', async () => {
    const info = (await (await fetch(base + 'api/info')).json()) as serve.ServeInfo;
    expect(info.domain).toBe('photos');
    expect(info.randomFaces).toBe(false);
    expect(info.directions).toEqual([]); // pretrained/editing's [18, 512] directions do not fit
    const r = await fetch(base + 'api/invert?name=000001.png', { method: 'POST', body: fs.readFileSync(path.join(repo, 'data/faces/000001.png')) });
    const f = (await r.json()) as FaceJson & { error?: string };
    expect(r.status, f.error).toBe(200);
    expect(f.how).toMatch(/aligned FFHQ-style/);
    expect((await pixels(f.input)).width).toBe(S);
    const grey = await sharp({ create: { width: 96, height: 96, channels: 3, background: '#7f7f7f' } }).png().toBuffer();
    const none = await fetch(base + 'api/invert?name=grey.png', { method: 'POST', body: grey });
    expect(none.status).toBe(422);
    expect(((await none.json()) as { error: string }).error).toMatch(/no face found in grey\.png/);
    const asIs = await fetch(base + 'api/invert?name=grey.png&align=0', { method: 'POST', body: grey });
    expect(asIs.status).toBe(200);
    expect(((await asIs.json()) as FaceJson).how).toMatch(/alignment turned off/);
    const rnd = await fetch(base + 'api/random', { method: 'POST' });
    expect(rnd.status).toBe(400);
    expect(((await rnd.json()) as { error: string }).error).toMatch(/not a face-world config/);
  });
});
