import { AbortedError, isStrataErrorLike } from './errors.js';

/** Throws `AbortedError` when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, doing: string): void {
  if (signal?.aborted) throw abortedError(doing);
}

/** The error an interrupted operation ends with. */
export function abortedError(doing: string): AbortedError {
  return new AbortedError(`The ${doing} was interrupted; nothing it started was kept.`, {
    code: 'aborted',
    hint: 'Run the command again when ready.',
  });
}

/** Maps the error a stream throws when its signal fires onto `AbortedError`; passes others through. */
export function normaliseAbort(error: unknown, signal: AbortSignal | undefined, doing: string): unknown {
  if (isStrataErrorLike(error)) return error; // a plugin's copy of the class counts too
  if (signal?.aborted || (error as { name?: string } | null)?.name === 'AbortError') return abortedError(doing);
  return error;
}
