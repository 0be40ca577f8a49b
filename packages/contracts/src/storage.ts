import type { Readable } from 'node:stream';

/**
 * A place where snapshots live: a directory, a bucket, … Keys are `/`-separated relative paths
 * such as `shop/prod/01J…/data/public.orders.copy.zst`. Drivers are provided by plugins through
 * the `strata:storage` hook; core never knows which one it talks to.
 *
 * Drivers throw `StorageError` (from './errors.js') with code `not-found` for a missing key, and
 * never put credentials in an error message.
 *
 * Leases. A snapshot folder that is being written (a capture, or a copy into this storage) holds
 * a lease object, `<project>/<env>/<id>/lease-<token>.json`: JSON with `operation` (`snapshot` or
 * `copy`), `host`, `pid`, and on Linux `bootId`, `pidNamespace` and `pidStartedAt` (the start
 * time from `/proc/<pid>/stat`, so a reused pid is told apart), `startedAt`, `refreshedAt` and
 * `expiresAt`. It is written before any data file, rewritten every 20 s with `expiresAt` two
 * minutes on, and removed after the manifest. Another strata treats the folder as abandoned, and
 * may remove it at once, when every lease in it is dead (its owner ran in this kernel boot and
 * pid namespace and is gone) or expired (by the reader's clock: hosts sharing a storage need
 * clocks within a minute of each other); a folder with a live lease is never removed. A
 * manifest-less folder without a lease (an older strata's) is removed by prune after a day.
 *
 * Leases are built from the methods below only, so a driver needs nothing for them, but it must
 * keep two promises that the design relies on (S3, S3-compatible servers and local disks do):
 * an object is listed by `listChildren` and seen by `exists` as soon as its `write` resolved, and
 * a `write` that replaces an object is atomic (a reader sees the old body or the new, never part).
 * There are no conditional writes: two copies of one id that start at the same moment may both
 * step back, never both go on. A writer checks its lease again right before its manifest, so one
 * that was stalled past its expiry (and whose folder may be gone) fails instead of writing a
 * manifest over missing files.
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
