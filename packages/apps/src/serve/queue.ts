// One worker for the engine: jobs run one after another on a promise chain, so the engine is never
// entered twice at once. A request takes a place in the queue when it arrives (before its body is
// read) and gives it back when its job is done or it fails; with `capacity` places taken, further
// requests are refused (the server answers 429).
export class JobQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private gate: Promise<void> = Promise.resolve();
  private places = 0;
  private running = 0;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new Error(`queue capacity must be a positive integer, got ${capacity}`);
  }

  /** Requests holding a place (waiting, reading their body, or running). */
  get pending(): number {
    return this.places;
  }

  /** Whether a job is running now. */
  get busy(): boolean {
    return this.running > 0;
  }

  /** Takes a place; null when all `capacity` places are taken. Give it back with the returned function (idempotent). */
  reserve(): (() => void) | null {
    if (this.places >= this.capacity) return null;
    this.places++;
    let held = true;
    return () => {
      if (held) {
        held = false;
        this.places--;
      }
    };
  }

  /** Runs `job` after every job queued before it (and after a pause ends). */
  run<T>(job: () => T | Promise<T>): Promise<T> {
    const p = this.tail.then(() => this.gate).then(async () => {
      this.running++;
      try {
        return await job();
      } finally {
        this.running--;
      }
    });
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** Holds every job not yet started until the returned function is called (for tests and maintenance). */
  pause(): () => void {
    let release!: () => void;
    const previous = this.gate;
    const hold = new Promise<void>((r) => (release = r));
    this.gate = previous.then(() => hold);
    return () => release();
  }
}
