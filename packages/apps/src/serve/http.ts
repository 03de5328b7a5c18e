// What `sgi serve` needs of HTTP beyond node:http: errors that carry a status, request bodies read
// under a byte limit (the rest drained, so the client always gets the answer), the first file of a
// multipart/form-data body, JSON replies.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error the API answers with its status and message (JSON {error}). */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

/** Sizes in words: 10 MB, 512 kB, 300 bytes. */
export function formatBytes(n: number): string {
  if (n >= 1e6) return `${Number((n / 1e6).toPrecision(3))} MB`;
  if (n >= 1e3) return `${Number((n / 1e3).toPrecision(3))} kB`;
  return `${n} bytes`;
}

/**
 * The request body, at most `limit` bytes; a larger one is refused with 413 (after reading, and
 * dropping, up to `drainLimit` bytes of it so that the client reads the answer; beyond that the
 * connection is closed).
 */
export function readBody(req: IncomingMessage, limit: number, what = 'request body', drainLimit = Math.max(4 * limit, 64 << 20)): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    const tooLarge = (n: number) => new HttpError(413, `${what} too large: ${Number.isFinite(n) && n > limit ? formatBytes(n) : `more than ${formatBytes(limit)}`} (the limit is ${formatBytes(limit)})`, { Connection: 'close' });
    const chunks: Buffer[] = [];
    let size = 0;
    let over = Number.isFinite(declared) && declared > limit;
    let done = false;
    const finish = (e: Error | null, body?: Buffer) => {
      if (done) return;
      done = true;
      if (e) reject(e);
      else resolve(body!);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      if (over) {
        chunks.length = 0;
        if (size > drainLimit) {
          finish(tooLarge(size));
          req.pause();
        }
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => finish(over ? tooLarge(Number.isFinite(declared) ? declared : size) : null, over ? undefined : Buffer.concat(chunks, size)));
    req.on('error', (e) => finish(new HttpError(400, `the upload was interrupted: ${e.message}`)));
    req.on('aborted', () => finish(new HttpError(400, 'the upload was interrupted')));
  });
}

/** Reads and discards the rest of a request body (so a refused request still gets its answer), closing beyond `limit`. */
export function drain(req: IncomingMessage, limit = 64 << 20): void {
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size > limit) req.destroy();
  });
  req.on('error', () => {});
  req.resume();
}

/**
 * The uploaded file's bytes: the body itself, or, for multipart/form-data, the first part that
 * carries a file (else the first part).
 */
export function uploadedBytes(req: IncomingMessage, body: Buffer): Buffer {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(type)) return body;
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(type);
  if (!m) throw new HttpError(400, 'multipart/form-data without a boundary');
  const parts = multipartParts(body, (m[1] ?? m[2]!).trim());
  if (parts.length === 0) throw new HttpError(400, 'the multipart/form-data body holds no part');
  const file = parts.find((p) => /filename=/i.test(p.headers)) ?? parts[0]!;
  return file.data;
}

/** The parts of a multipart body: each part's header block (text) and its bytes. */
export function multipartParts(body: Buffer, boundary: string): { headers: string; data: Buffer }[] {
  const delim = Buffer.from(`--${boundary}`);
  const parts: { headers: string; data: Buffer }[] = [];
  let at = body.indexOf(delim);
  if (at < 0) throw new HttpError(400, 'malformed multipart/form-data body (boundary not found)');
  for (;;) {
    at += delim.length;
    if (body[at] === 0x2d && body[at + 1] === 0x2d) break; // "--": the closing delimiter
    const headerEnd = body.indexOf('\r\n\r\n', at);
    if (headerEnd < 0) throw new HttpError(400, 'malformed multipart/form-data body (part without headers)');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delim]), headerEnd + 4);
    if (next < 0) throw new HttpError(400, 'malformed multipart/form-data body (truncated: no closing boundary)');
    parts.push({ headers: body.subarray(at, headerEnd).toString('latin1'), data: body.subarray(headerEnd + 4, next) });
    at = next + 2;
  }
  return parts;
}

/** A JSON body (at most `limit` bytes) as an object. */
export async function readJson(req: IncomingMessage, limit = 1 << 20): Promise<Record<string, unknown>> {
  const body = await readBody(req, limit, 'JSON body');
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `the request body is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, 'the request body must be a JSON object');
  return v as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(body.length), 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}

export function sendError(res: ServerResponse, e: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (e instanceof HttpError) sendJson(res, e.status, { error: e.message, status: e.status }, e.headers);
  else sendJson(res, 500, { error: `internal error: ${(e as Error)?.message ?? String(e)}`, status: 500 });
}
