import { StrataError } from '@strata/contracts';

/**
 * The plugin's error: a StrataError from `@strata/contracts` (so the CLI prints its sentence and
 * hint and exits with its code), with the exit code chosen per error: 4 for storage problems, 2 for bad configuration.
 */
export class S3StorageError extends StrataError {
  override readonly exitCode: number;

  constructor(message: string, options: { code: string; hint?: string; exitCode?: number; cause?: unknown }) {
    super(message, {
      code: options.code,
      ...(options.hint === undefined ? {} : { hint: options.hint }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.exitCode = options.exitCode ?? 4;
  }
}

/** A configuration mistake (bad URL, unknown or invalid option): exit code 2, like core's ConfigError. */
export function configError(code: string, message: string, hint: string, cause?: unknown): S3StorageError {
  return new S3StorageError(message, { code, hint, exitCode: 2, cause });
}
