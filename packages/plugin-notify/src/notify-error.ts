import { StrataError } from '@strata/contracts';

/**
 * The plugin's error: a StrataError from `@strata/contracts` (so the CLI prints its sentence and
 * hint and exits with its code), with the exit code chosen per error: 2 for bad configuration, 1 for a delivery that failed.
 */
export class NotifyError extends StrataError {
  override readonly exitCode: number;

  constructor(message: string, options: { code: string; hint?: string; exitCode?: number; cause?: unknown }) {
    super(message, {
      code: options.code,
      ...(options.hint === undefined ? {} : { hint: options.hint }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.exitCode = options.exitCode ?? 1;
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
