/**
 * The plugin's own error class. It has the shape of core's `StrataError` (`name`, `message`,
 * `code`, `hint`, `exitCode`) without importing it: installed per environment with
 * `strata plugins install`, this plugin cannot resolve `@strata/core` at run time, and core
 * recognises errors by shape, not by class.
 */
export class NotifyError extends Error {
  /** Stable machine-readable code, e.g. `notify-webhook-unreachable`. */
  readonly code: string;
  /** What the user can do about it, one sentence. */
  readonly hint: string | undefined;
  /** Process exit code: 2 for bad configuration, 1 for a delivery that failed. */
  readonly exitCode: number;

  constructor(message: string, options: { code: string; hint?: string; exitCode?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 1;
  }

  /** The JSON form printed by `--json`, as core's errors do. */
  toJSON(): { error: { code: string; message: string; hint?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) } };
  }
}

/**
 * The error for a send the caller stopped: core gives every send a time budget
 * (`AbortSignal.timeout`), which is a time-out rather than a cancellation for the reader.
 */
export function stopped(signal: AbortSignal, what: string): NotifyError {
  const reason: unknown = signal.reason;
  if (typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError') {
    return new NotifyError(`The notification to ${what} ran out of the time it was given.`, { code: 'notify-timeout', cause: reason });
  }
  return new NotifyError(`The notification to ${what} was cancelled.`, { code: 'notify-aborted', exitCode: 130, cause: reason });
}
