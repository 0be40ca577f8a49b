import { Transform, type TransformCallback } from 'node:stream';

/**
 * Test-only pause points, so a fault suite can kill a real strata process at an exact phase
 * instead of sleeping and hoping. With `STRATA_TEST_PAUSE_AT=<point>` (comma-separated for
 * several) in the environment, reaching that point prints `strata-test-paused-at <point>` on
 * stderr and waits there until the process is killed, or until the operation's signal fires (so
 * SIGINT and SIGTERM can be tried at the same point), or until it receives SIGUSR2, which lets it
 * go on as if it had not paused (so a test can break something, a connection or the server, at
 * that point and watch what the run does next). Without the variable every point is a no-op.
 * Each point pauses once per process.
 *
 * The names say where the process is; `docs/reliability.md` lists what each one leaves behind.
 */
export const FAULT_POINTS = [
  /** The first rows of the first table are on their way to storage. */
  'snapshot:copy-first-table',
  /** Part of a data file (compressed bytes) has reached the storage's writer. */
  'snapshot:mid-file',
  /** Every data file is written; the manifest is not. */
  'snapshot:after-data',
  /** Half of the manifest's bytes have gone to the storage's writer. */
  'snapshot:manifest',
  /** The work database exists, before it is marked as strata's. */
  'restore:create',
  /** The first migration before the load has run. */
  'restore:migrate',
  /** The first rows of the first table are in COPY. */
  'restore:load',
  /** The first index or constraint is rebuilt. */
  'restore:index',
  /** The load is committed; the migrations after it have not run. */
  'restore:final-migrations',
  /** Everything is done but the rename into place. */
  'restore:rename',
  /** `restore --into`: inside the transaction, the first table emptied and partly loaded. */
  'restore-into:transaction',
  /** `copy`: the first data file is in the target, the manifest is not. */
  'copy:data',
  /** `prune`: the first doomed snapshot has lost its manifest, not yet its files. */
  'prune:remove',
] as const;

export type FaultPoint = (typeof FAULT_POINTS)[number];

const ENV_VAR = 'STRATA_TEST_PAUSE_AT';
const reached = new Set<FaultPoint>();

/** Whether the environment asks to pause at `point` (and it has not paused there yet). */
export function pausesAt(point: FaultPoint): boolean {
  const wanted = process.env[ENV_VAR];
  if (!wanted || reached.has(point)) return false;
  return wanted.split(',').some((p) => p.trim() === point);
}

/** Pauses at `point` when the environment asks for it (see `FAULT_POINTS`); otherwise returns at once. */
export async function faultPoint(point: FaultPoint, signal?: AbortSignal): Promise<void> {
  if (!pausesAt(point)) return;
  await pauseAt(point, signal);
}

/** Announces `point` and waits: see the module's comment for what ends the wait. */
async function pauseAt(point: FaultPoint, signal: AbortSignal | undefined): Promise<void> {
  reached.add(point);
  // A resume can arrive after the wait already ended (the fault the test made there failed the
  // run at once): it must not kill the process, as SIGUSR2 does by default.
  if (process.listenerCount('SIGUSR2') === 0) process.on('SIGUSR2', () => {});
  process.stderr.write(`\nstrata-test-paused-at ${point}\n`);
  await new Promise<void>((resolve) => {
    // A pending promise alone does not keep Node running; the interval does, until killed.
    const keepAlive = setInterval(() => {}, 60_000);
    const release = (): void => {
      clearInterval(keepAlive);
      signal?.removeEventListener('abort', release);
      process.off('SIGINT', release);
      process.off('SIGTERM', release);
      process.off('SIGUSR2', release);
      resolve();
    };
    if (signal?.aborted) {
      release();
      return;
    }
    process.on('SIGUSR2', release);
    if (signal) signal.addEventListener('abort', release, { once: true });
    else {
      // A point whose code has no signal to hand (inside a driver) still lets SIGINT/SIGTERM
      // through: the command's own handler aborts the operation, which notices at its next check.
      process.on('SIGINT', release);
      process.on('SIGTERM', release);
    }
  });
}

/**
 * A pass-through stream that pauses at `point` once `afterBytes` have passed through it, for
 * points in the middle of a stream. Returns undefined when the environment does not ask for the
 * point, so the normal pipeline carries no extra stage.
 */
export function faultPointStream(point: FaultPoint, options: { afterBytes?: number; signal?: AbortSignal } = {}): Transform | undefined {
  if (!pausesAt(point)) return undefined;
  const afterBytes = options.afterBytes ?? 1;
  let seen = 0;
  let paused = false;
  // A pipeline that fails elsewhere while this stage waits (a connection cut at the point)
  // destroys it: the wait ends then too, or its timer would keep the process alive for ever.
  const destroyed = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, destroyed.signal]) : destroyed.signal;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
      seen += chunk.length;
      if (paused || seen < afterBytes || reached.has(point)) {
        callback(null, chunk);
        return;
      }
      paused = true;
      // The chunk goes on first, so what reached the point is really downstream when it pauses.
      this.push(chunk);
      pauseAt(point, signal).then(() => {
        if (!destroyed.signal.aborted) callback();
      }, callback);
    },
    destroy(error: Error | null, callback: (error: Error | null) => void): void {
      destroyed.abort();
      callback(error);
    },
  });
}
