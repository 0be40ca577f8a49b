/**
 * Every error a user can cause is a StrataError: one sentence (`message`), a `hint` saying what to
 * do next, and a stable `code`. The CLI's base command prints the two lines and exits with
 * `exitCode`; `--json` prints the same fields as an object. Nothing here ever carries a password:
 * build messages with `redactUrl()` when a URL is involved.
 */
export class StrataError extends Error {
  /** Stable machine-readable code, e.g. `snapshot-not-found`. */
  readonly code: string;
  /** What the user can do about it, one sentence. */
  readonly hint: string | undefined;
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number = 1;

  constructor(message: string, options: { code: string; hint?: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.hint = options.hint;
  }

  /** The JSON form printed by `--json`. */
  toJSON(): { error: { code: string; message: string; hint?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.hint ? { hint: this.hint } : {}) } };
  }
}

/** Bad or missing configuration, unknown environment, bad flags. */
export class ConfigError extends StrataError {
  override readonly exitCode = 2;
}

/** Server unreachable, wrong credentials, SQL failures, target database conflicts. */
export class DatabaseError extends StrataError {
  override readonly exitCode = 3;
}

/** Storage unreachable, snapshot not found, no driver for a URL scheme. */
export class StorageError extends StrataError {
  override readonly exitCode = 4;
}

/** A manifest or data file that is missing, corrupt, truncated or of an unknown format. */
export class IntegrityError extends StrataError {
  override readonly exitCode = 5;
}

/**
 * age-encrypted bytes (a data file, a wrapped snapshot key, a sealed manifest part) that the given
 * keys do not open. `reason` says which way, for callers that word it per file: `wrong-key` (no
 * key matches the header: another key, or a header changed where the key is wrapped, which age
 * cannot tell apart) or `damaged` (cut short, changed, or not age at all). The message never holds
 * key material; `cause` is age's own error, which names no key either.
 */
export class DecryptionFailed extends IntegrityError {
  readonly reason: 'wrong-key' | 'damaged';

  constructor(message: string, options: { reason: 'wrong-key' | 'damaged'; code?: string; hint?: string; cause?: unknown }) {
    super(message, { code: options.code ?? 'decryption-failed', hint: options.hint, cause: options.cause });
    this.reason = options.reason;
  }
}

/** A migration that is missing from the code base or that failed to run. */
export class MigrationError extends StrataError {
  override readonly exitCode = 6;
}

/** The operation was interrupted (SIGINT/SIGTERM or an aborted signal). */
export class AbortedError extends StrataError {
  override readonly exitCode = 130;
}

/**
 * Whether `error` is a StrataError, from this copy of the class or another one: a plugin installed
 * per environment may bring its own copy of `@strata/contracts`, whose classes differ from core's.
 * Checked by shape (an Error with a string `code`, a numeric `exitCode` and a `hint` field).
 */
export function isStrataErrorLike(error: unknown): error is StrataError {
  if (error instanceof StrataError) return true;
  const e = error as { code?: unknown; exitCode?: unknown } | null;
  return error instanceof Error && typeof e?.code === 'string' && typeof e.exitCode === 'number' && 'hint' in error;
}
