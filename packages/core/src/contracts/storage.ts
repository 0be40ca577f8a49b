import type { Readable } from 'node:stream';

/**
 * A place where snapshots live: a directory, a bucket, … Keys are `/`-separated relative paths
 * such as `shop/prod/01J…/data/public.orders.copy.gz`. Drivers are provided by plugins through
 * the `strata:storage` hook; core never knows which one it talks to.
 *
 * Drivers throw `StorageError` (from `@strata/core`) with code `not-found` for a missing key, and
 * never put credentials in an error message.
 */
export interface StorageDriver {
  /** Where this storage is, for messages: a URL without credentials. */
  readonly location: string;

  /**
   * Stores `body` under `key`, replacing any previous object. Resolves once the whole object is
   * durably stored; rejects (and leaves no partial object under `key`) on failure or abort.
   */
  write(key: string, body: Readable, options?: { signal?: AbortSignal }): Promise<void>;

  /** Opens `key` for reading. Rejects with a `StorageError` coded `not-found` when it is absent. */
  read(key: string, options?: { signal?: AbortSignal }): Promise<Readable>;

  /** Whether an object exists under `key`. */
  exists(key: string): Promise<boolean>;

  /**
   * The names of the immediate children of `prefix` (a key ending in `/`): objects and
   * "directories" alike, without the prefix and without a trailing slash, in any order.
   */
  listChildren(prefix: string): AsyncIterable<string>;

  /** Removes every object whose key starts with `prefix`. Missing objects are not an error. */
  removePrefix(prefix: string): Promise<void>;

  /** Releases connections or handles. Optional. */
  close?(): Promise<void>;
}

/** What core passes to the `strata:storage` hook. */
export interface StorageHookOptions {
  /** The storage URL from the environment's config, after `${VAR}` interpolation. */
  url: string;
  /** Directory of the config file: relative `file:` URLs resolve against it. */
  baseDir: string;
  /** The environment's `storage` options from the config, if it gave an object. */
  options?: Record<string, unknown>;
}

/**
 * What a `strata:storage` hook returns: a driver when the plugin handles the URL's scheme,
 * `undefined` otherwise.
 */
export type StorageHookResult = StorageDriver | undefined;

/** A runtime guard for whatever a plugin hands back, so a broken plugin fails at load time. */
export function isStorageDriver(value: unknown): value is StorageDriver {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.location === 'string' &&
    ['write', 'read', 'exists', 'listChildren', 'removePrefix'].every((m) => typeof v[m] === 'function')
  );
}
