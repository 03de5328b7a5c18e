// Progress reporting: a cli-progress bar with loss, images/s and ETA on a terminal; plain log
// lines when stdout is not a TTY (CI, files).
import cliProgress from 'cli-progress';

export interface Progress {
  update(step: number, fields: Record<string, string>): void;
  log(line: string): void;
  stop(): void;
}

export function createProgress(label: string, total: number, start: number, opts: { tty?: boolean; every?: number; quiet?: boolean } = {}): Progress {
  if (opts.quiet) return { update: () => {}, log: () => {}, stop: () => {} };
  const tty = opts.tty ?? (process.stdout.isTTY === true && !process.env.CI);
  if (tty) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} | {fields} | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, start, { fields: '' });
    return {
      update: (step, fields) => bar.update(step, { fields: Object.entries(fields).map(([k, v]) => `${k} ${v}`).join(' ') }),
      log: (line) => {
        process.stdout.write('\r\x1b[K');
        console.log(line);
        bar.render();
      },
      stop: () => bar.stop(),
    };
  }
  const every = opts.every ?? 1;
  const t0 = Date.now();
  return {
    update: (step, fields) => {
      if (step % every !== 0 && step !== total) return;
      const elapsed = (Date.now() - t0) / 1000;
      const done = step - start;
      const eta = done > 0 ? ((total - step) * elapsed) / done : 0;
      console.log(`${label} ${step}/${total} ${Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(' ')} eta=${formatSeconds(eta)}`);
    },
    log: (line) => console.log(line),
    stop: () => {},
  };
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`;
}
