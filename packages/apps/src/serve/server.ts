// `sgi serve` as a function: a local web app on node:http. One self-contained page (page.ts) and a
// small JSON API on one Inverter; engine work runs on one worker (queue.ts), at most `maxQueue`
// requests hold a place at once (more: 429). Bad input gets a 4xx JSON {error} and the server keeps
// serving.
//
//   GET  /                          the page
//   GET  /api/info                  model, domain, directions, limits
//   GET  /api/health                {ok, pending, busy}
//   POST /api/invert[?name=&align=0] an image (raw bytes or multipart/form-data) -> a face: input, stages, scores
//   POST /api/random                a new held-out face of the built-in world, inverted (face-world configs)
//   GET  /api/faces/<id>            a face again
//   GET  /api/faces/<id>/code.npy[?edit={"name":s}]  its W+ code [nLatent, styleDim] (edited when `edit` is given)
//   POST /api/edit        {face, strengths: {name: s}}  -> {image}
//   POST /api/interpolate {a, b, lambda}                -> {image}
//   POST /api/mix         {content, style, layer}       -> {image}
//   POST /api/swap        {source, target}              -> {face, pasted, mask}
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Inverter } from '../inverter.js';
import { HttpError, drain, formatBytes, readBody, readJson, sendError, sendJson, uploadedBytes } from './http.js';
import { decodeUpload, pngDataUrl } from './images.js';
import { JobQueue } from './queue.js';
import { ServeSession, type ServeFace, type SessionOptions } from './session.js';
import { servePage } from './page.js';

export interface ServeOptions extends SessionOptions {
  /** The trained config (its run's best checkpoint unless `checkpoint`). */
  config: string;
  checkpoint?: string;
  runsRoot?: string;
  /** Port (default 8765; 0 picks a free one). */
  port?: number;
  /** Address to listen on (default 127.0.0.1: this machine only). */
  host?: string;
  /** Largest upload in bytes (default 10 MB). */
  maxUploadBytes?: number;
  /** Largest accepted image width and height in pixels (default 4096). */
  maxSide?: number;
  /** Requests that may hold a place in the engine's queue at once (default 4); more are answered 429. */
  maxQueue?: number;
  /** One line per request and event (default: none). */
  log?: (line: string) => void;
}

export interface ServeServer {
  url: string;
  host: string;
  port: number;
  session: ServeSession;
  queue: JobQueue;
  server: http.Server;
  /** Stops listening, waits for the running job and releases the engine. */
  close(): Promise<void>;
}

export const DEFAULT_SERVE_PORT = 8765;
export const DEFAULT_MAX_UPLOAD_BYTES = 10_000_000;
export const DEFAULT_MAX_SIDE = 4096;
export const DEFAULT_MAX_QUEUE = 4;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** The host part of a Host header ("127.0.0.1:8765", "[::1]:80", "localhost"). */
function hostOf(header: string | undefined): string {
  if (!header) return '';
  if (header.startsWith('[')) return header.slice(0, header.indexOf(']') + 1);
  return header.split(':')[0]!.toLowerCase();
}

export async function startServer(opts: ServeOptions): Promise<ServeServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? DEFAULT_SERVE_PORT;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new Error(`port must be an integer in 0..65535, got ${port}`);
  const maxUpload = opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const maxSide = opts.maxSide ?? DEFAULT_MAX_SIDE;
  const log = opts.log ?? (() => {});
  const inv = Inverter.load(opts.config, { checkpoint: opts.checkpoint, runsRoot: opts.runsRoot });
  let session: ServeSession;
  try {
    session = new ServeSession(inv, opts.config, opts);
  } catch (e) {
    inv.release();
    throw e;
  }
  const queue = new JobQueue(opts.maxQueue ?? DEFAULT_MAX_QUEUE);
  const info = { ...session.info(), limits: { maxUploadBytes: maxUpload, maxUpload: formatBytes(maxUpload), maxSide, maxQueue: queue.capacity } };
  const page = Buffer.from(servePage());
  // when listening on loopback only, refuse requests for other host names (DNS rebinding)
  const loopbackOnly = LOOPBACK.has(host);

  const faceJson = async (f: ServeFace) => ({
    id: f.id, label: f.label, how: f.how, seconds: f.seconds, scores: f.scores,
    input: await pngDataUrl(f.input, inv.size, 'round'),
    stages: await Promise.all(f.stages.map((s) => pngDataUrl(s, inv.size))),
    code: `/api/faces/${encodeURIComponent(f.id)}/code.npy`, codeShape: inv.codeShape,
  });

  /** Runs an engine job on the worker, holding a place in the queue from now until it is done. */
  const engine = async <T>(req: http.IncomingMessage, prepare: () => Promise<() => T | Promise<T>>): Promise<T> => {
    const release = queue.reserve();
    if (!release) {
      drain(req);
      throw new HttpError(429, `the server is busy: ${queue.pending} requests are already queued (at most ${queue.capacity}); try again in a moment`, { 'Retry-After': '1' });
    }
    try {
      const job = await prepare();
      return await queue.run(job);
    } finally {
      release();
    }
  };

  const routes = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> => {
    const p = url.pathname;
    const method = req.method ?? 'GET';
    const only = (m: string) => {
      if (method !== m && !(m === 'GET' && method === 'HEAD')) {
        drain(req);
        throw new HttpError(405, `${p} takes ${m}, not ${method}`, { Allow: m });
      }
    };
    if (p === '/' || p === '/index.html') {
      only('GET');
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8', 'Content-Length': String(page.length), 'Cache-Control': 'no-store',
        'Content-Security-Policy': "default-src 'none'; img-src 'self' data: blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
        'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer',
      });
      res.end(method === 'HEAD' ? undefined : page);
      return;
    }
    if (p === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (p === '/api/info') {
      only('GET');
      return sendJson(res, 200, info);
    }
    if (p === '/api/health') {
      only('GET');
      return sendJson(res, 200, { ok: true, pending: queue.pending, busy: queue.busy });
    }
    if (p === '/api/invert') {
      only('POST');
      const name = (url.searchParams.get('name') ?? 'the upload').replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 120) || 'the upload';
      const align = url.searchParams.get('align') !== '0' && url.searchParams.get('align') !== 'false';
      const face = await engine(req, async () => {
        const body = await readBody(req, maxUpload, 'upload');
        const rgb = await decodeUpload(uploadedBytes(req, body), { maxSide });
        return () => session.invertUpload(rgb, name, { align });
      });
      return sendJson(res, 200, await faceJson(face));
    }
    if (p === '/api/random') {
      only('POST');
      drain(req);
      const face = await engine(req, async () => () => session.randomFace());
      return sendJson(res, 200, await faceJson(face));
    }
    const m = /^\/api\/faces\/([^/]+)(\/code\.npy)?$/.exec(p);
    if (m) {
      only('GET');
      let id: string;
      try {
        id = decodeURIComponent(m[1]!);
      } catch {
        throw new HttpError(400, `bad face id in ${p}`);
      }
      if (!m[2]) return sendJson(res, 200, await faceJson(session.face(id)));
      let code = session.face(id).code;
      const edit = url.searchParams.get('edit');
      if (edit) {
        let strengths: unknown;
        try {
          strengths = JSON.parse(edit);
        } catch {
          throw new HttpError(400, 'edit: give the strengths as JSON, e.g. {"glasses": 1.5}');
        }
        code = session.editedCode(id, strengths);
      }
      const npy = session.npy(code);
      res.writeHead(200, {
        'Content-Type': 'application/octet-stream', 'Content-Length': String(npy.length), 'Cache-Control': 'no-store',
        'Content-Disposition': `attachment; filename="w-plus-${id.replace(/[^A-Za-z0-9_-]/g, '')}${edit ? '-edited' : ''}.npy"`,
      });
      res.end(method === 'HEAD' ? undefined : npy);
      return;
    }
    const json = async () => readJson(req);
    // the routes that answer with one image: their body picks the session call
    const imageRoutes: Record<string, (b: any) => () => { image: Float32Array }> = {
      '/api/edit': (b) => () => session.edit(b.face, b.strengths ?? {}),
      '/api/interpolate': (b) => () => session.interpolate(b.a, b.b, b.lambda),
      '/api/mix': (b) => () => session.mix(b.content, b.style, b.layer),
    };
    const imageRoute = imageRoutes[p];
    if (imageRoute) {
      only('POST');
      const r = await engine(req, async () => imageRoute(await json()));
      return sendJson(res, 200, { image: await pngDataUrl(r.image, inv.size) });
    }
    if (p === '/api/swap') {
      only('POST');
      const r = await engine(req, async () => {
        const b = await json();
        return () => session.swap(b.source, b.target);
      });
      const mask = new Float32Array(3 * r.mask.length);
      for (let c = 0; c < 3; c++) for (let i = 0; i < r.mask.length; i++) mask[c * r.mask.length + i] = 2 * r.mask[i]! - 1;
      return sendJson(res, 200, { face: await faceJson(r.face), pasted: await pngDataUrl(r.pasted, inv.size, 'round'), mask: await pngDataUrl(mask, inv.size) });
    }
    drain(req);
    throw new HttpError(404, `no such page or API route: ${method} ${p}`);
  };

  const server = http.createServer((req, res) => {
    const t0 = performance.now();
    res.on('finish', () => log(`${req.method} ${req.url} ${res.statusCode} ${((performance.now() - t0) / 1000).toFixed(2)} s`));
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      drain(req);
      return sendError(res, new HttpError(400, 'bad request URL'));
    }
    if (loopbackOnly && !LOOPBACK.has(hostOf(req.headers.host))) {
      drain(req);
      return sendError(res, new HttpError(421, `this server answers requests for localhost / 127.0.0.1 only (got Host: ${req.headers.host ?? 'none'})`));
    }
    routes(req, res, url).catch((e) => {
      if (!(e instanceof HttpError)) log(`error: ${(e as Error)?.stack ?? e}`);
      sendError(res, e);
    });
  });
  server.requestTimeout = 120_000;
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });

  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => reject(new Error(e.code === 'EADDRINUSE' ? `port ${port} on ${host} is in use: pick another with --port (0 picks a free one)` : `cannot listen on ${host}:${port}: ${e.message}`));
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
  } catch (e) {
    session.release();
    inv.release();
    throw e;
  }
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closed: Promise<void> | null = null;
  return {
    url: `http://${shownHost}:${addr.port}/`, host: addr.address, port: addr.port, session, queue, server,
    close() {
      closed ??= (async () => {
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => server.closeAllConnections(), 2000);
          server.close(() => {
            clearTimeout(force);
            resolve();
          });
          server.closeIdleConnections();
        });
        await queue.run(() => undefined);
        session.release();
        inv.release();
      })();
      return closed;
    },
  };
}
