// Crash- and disk-full-safe file replacement: write a temporary file beside the target, check that
// every byte was written (a full disk or a file-size limit gives short writes, which must fail,
// not be renamed into place), fsync the file, rename it over the target, fsync the folder so the
// rename itself survives a power loss. On any error the temporary file is removed and the previous
// file at `file` is left untouched.
import * as fs from 'node:fs';
import * as path from 'node:path';

export class DiskFullError extends Error {}

/** Writes `data` to `file` atomically (see above). Throws DiskFullError when the bytes do not fit. */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now().toString(36)}`;
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'w');
    writeAll(fd, bytes, file);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) try { fs.closeSync(fd); } catch { /* already failing */ }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(path.dirname(file));
}

/** Copies `src` to `dst` with the same guarantees (e.g. the "best" checkpoint). */
export function copyFileAtomic(src: string, dst: string): void {
  writeFileAtomic(dst, fs.readFileSync(src));
}

function writeAll(fd: number, bytes: Uint8Array, file: string): void {
  let done = 0;
  while (done < bytes.length) {
    let n: number;
    try {
      n = fs.writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EFBIG' || code === 'EDQUOT') throw diskFull(file, done, bytes.length, code);
      throw new Error(`cannot write ${file}: ${(e as Error).message}`);
    }
    if (n <= 0) throw diskFull(file, done, bytes.length, 'short write');
    done += n;
  }
}

function diskFull(file: string, done: number, total: number, why: string): DiskFullError {
  return new DiskFullError(
    `disk full: cannot write ${file} (${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} bytes written, ${why}); ` +
    'the previous file is untouched; free some space and resume',
  );
}

/** fsync a folder so that a rename into it is durable (a no-op where folders cannot be opened). */
export function fsyncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // some filesystems refuse fsync on folders; the file itself is already durable
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}
