/**
 * The plugin's own error class. It has the shape of core's `StrataError` (`name`, `message`,
 * `code`, `hint`, `exitCode`) without importing it: installed per environment with
 * `strata plugins install`, this plugin cannot resolve `@strata/core` at run time, and core
 * recognises errors by shape, not by class.
 */
export class S3StorageError extends Error {
  /** Stable machine-readable code, e.g. `s3-access-denied`, or `not-found` for a missing object. */
  readonly code: string;
  /** What the user can do about it, one sentence. */
  readonly hint: string | undefined;
  /** Process exit code: 4 for storage problems, 2 for bad configuration. */
  readonly exitCode: number;

  constructor(message: string, options: { code: string; hint?: string; exitCode?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? 4;
  }

  /** The JSON form printed by `--json`, as core's errors do. */
  toJSON(): { error: { code: string; message: string; hint?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) } };
  }
}

/** A configuration mistake (bad URL, unknown or invalid option): exit code 2, like core's ConfigError. */
export function configError(code: string, message: string, hint: string, cause?: unknown): S3StorageError {
  return new S3StorageError(message, { code, hint, exitCode: 2, cause });
}
