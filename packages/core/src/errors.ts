// The error classes live in @strata/contracts, which every plugin depends on; core re-exports them
// so its own imports and its public API stay as they were.
export {
  AbortedError,
  ConfigError,
  DatabaseError,
  DecryptionFailed,
  IntegrityError,
  isStrataErrorLike,
  MigrationError,
  StorageError,
  StrataError,
} from '@strata/contracts';

/**
 * Returns a URL string with any password replaced by `***`, safe for messages and logs. A string
 * that does not parse as a URL is not shown at all: there is no telling where a password sits in it.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable URL>';
  }
}

/**
 * Whether a storage driver reported a missing object. Checked by `code`, not by class: a plugin
 * installed per environment may bring its own copy of `@strata/core`, whose classes differ.
 */
export function isNotFound(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'not-found';
}
