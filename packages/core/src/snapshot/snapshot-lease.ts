import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { z } from 'zod';

import type { StorageDriver } from '../contracts/storage.js';
import { isNotFound, StorageError } from '../errors.js';
import { MANIFEST_FILE } from '../format/manifest-schema.js';
import { currentProcess, ownerStatus } from '../process-identity.js';
import { STRATA_VERSION } from '../version.js';

/**
 * Leases: the in-progress marker of a snapshot folder that is being written (a capture, or a copy
 * into the target environment). A lease is one object, `lease-<token>.json`, directly in the
 * folder; it is written before any data file, rewritten every `LEASE_REFRESH_MS` with a new
 * `expiresAt`, and removed once the manifest is written. Only the storage contract's
 * write/read/exists/listChildren/removePrefix are used, so every storage plugin has leases
 * without knowing about them (S3-compatible servers without conditional writes included).
 *
 * A reader judges a lease `dead` when its owner ran in this kernel boot and pid namespace and its
 * pid is gone (or now belongs to a process with another start time), `expired` when `expiresAt`
 * has passed by the reader's clock, and `live` otherwise. A folder with a live lease is never
 * removed; one whose leases are all dead or expired may be removed at once.
 */

/** Lease objects are `<folder>/lease-<token>.json`. */
export const LEASE_PREFIX = 'lease-';
const LEASE_SUFFIX = '.json';
/** How often an owner rewrites its lease. */
export const LEASE_REFRESH_MS = 20_000;
/** A lease expires this long after its last refresh: six refreshes may fail before it does. */
export const LEASE_TTL_MS = 120_000;
/** Leases are a few hundred bytes; anything bigger is not one of ours and is not read in full. */
const MAX_LEASE_BYTES = 16 * 1024;

const leaseSchema = z.object({
  operation: z.enum(['snapshot', 'copy', 'rekey']),
  host: z.string(),
  bootId: z.string().optional(),
  pidNamespace: z.string().optional(),
  pid: z.number().int().positive(),
  pidStartedAt: z.string().optional(),
  strataVersion: z.string().optional(),
  startedAt: z.string(),
  refreshedAt: z.string(),
  expiresAt: z.string(),
});

/** What a lease object holds. */
export type LeaseRecord = z.infer<typeof leaseSchema>;

/** What a reader makes of one lease. */
export type LeaseState = 'live' | 'dead' | 'expired';

/** A lease found in a folder. */
export interface FoundLease {
  /** Object name inside the folder (`lease-<token>.json`). */
  name: string;
  record: LeaseRecord;
  state: LeaseState;
}

export interface LeaseOptions {
  /** Refresh period (default `LEASE_REFRESH_MS`). */
  refreshMs?: number;
  /** Lifetime after each refresh (default `LEASE_TTL_MS`). */
  ttlMs?: number;
  log?: (level: 'info' | 'warn', message: string) => void;
}

/** Whether `name` (a child of a snapshot folder) is a lease object. */
export function isLeaseName(name: string): boolean {
  return name.startsWith(LEASE_PREFIX) && name.endsWith(LEASE_SUFFIX);
}

/** How a reader judges `record` at `now` (ms): see the module's comment. */
export function leaseState(record: LeaseRecord, now = Date.now()): LeaseState {
  if (ownerStatus(record) === 'gone') return 'dead';
  const expires = Date.parse(record.expiresAt);
  // An expiry that does not parse cannot keep a folder forever.
  if (!Number.isFinite(expires) || expires < now) return 'expired';
  return 'live';
}

/** One line about a lease's owner, for messages: `a copy by process 4242 on build-7, started 2030-…`. */
export function describeLease(lease: Pick<FoundLease, 'record'>): string {
  const { operation, pid, host, startedAt } = lease.record;
  return `${operation === 'copy' ? 'a copy' : 'a snapshot'} by process ${pid} on ${host}, started ${startedAt}`;
}

/**
 * A lease this process holds on a snapshot folder. Take it with `takeLease` before writing
 * anything else into the folder; `confirm` it right before the manifest is written; `release` it
 * after. `stop` only ends the refreshing (when the folder is about to be removed as a whole).
 */
export class SnapshotLease {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private lost: string | undefined;
  private expiresAt: number;

  private constructor(
    private readonly storage: StorageDriver,
    /** Full key of the lease object. */
    readonly key: string,
    /** Its name inside the folder. */
    readonly name: string,
    private readonly record: LeaseRecord,
    private readonly refreshMs: number,
    private readonly ttlMs: number,
    private readonly log: LeaseOptions['log'],
  ) {
    this.expiresAt = Date.parse(record.expiresAt);
  }

  /** Writes a new lease into `folder` (a key ending in `/`) and starts refreshing it. */
  static async take(storage: StorageDriver, folder: string, operation: LeaseRecord['operation'], options: LeaseOptions = {}): Promise<SnapshotLease> {
    const refreshMs = options.refreshMs ?? LEASE_REFRESH_MS;
    const ttlMs = options.ttlMs ?? LEASE_TTL_MS;
    const name = `${LEASE_PREFIX}${randomBytes(8).toString('hex')}${LEASE_SUFFIX}`;
    const now = Date.now();
    const record: LeaseRecord = {
      operation,
      ...currentProcess(),
      strataVersion: STRATA_VERSION,
      startedAt: new Date(now).toISOString(),
      refreshedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + ttlMs).toISOString(),
    };
    const lease = new SnapshotLease(storage, `${folder}${name}`, name, record, refreshMs, ttlMs, options.log);
    await storage.write(lease.key, body(record));
    lease.timer = setInterval(() => void lease.refresh(), refreshMs);
    // A lease must never keep a finished process alive.
    lease.timer.unref();
    return lease;
  }

  /**
   * Refreshes the lease now and fails unless this process still holds it: the object is still
   * there and was never found missing, and its expiry is not near. Call it right before the
   * manifest, so a writer whose folder was removed (it was stopped for longer than the lease
   * lives, say) never writes a manifest over missing files.
   */
  async confirm(): Promise<void> {
    await this.inFlight;
    if (!this.lost) await this.refresh();
    const margin = Math.min(10_000, this.ttlMs / 4);
    if (!this.lost && Date.now() > this.expiresAt - margin) this.lost = `its lease expired at ${new Date(this.expiresAt).toISOString()} (the storage could not be written for too long)`;
    if (this.lost) {
      throw new StorageError(`The ${this.record.operation} lost its hold on ${this.storage.location.replace(/\/$/, '')}/${this.key.replace(/[^/]+$/, '')}: ${this.lost}.`, {
        code: 'lease-lost',
        hint: 'Another strata took the folder for abandoned. Nothing was kept; run the command again.',
      });
    }
  }

  /** Stops refreshing; waits for a refresh that is under way, so none lands after this. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  /** Stops refreshing and removes the lease object. */
  async release(): Promise<void> {
    await this.stop();
    await this.storage.removePrefix(this.key);
  }

  private refresh(): Promise<void> {
    if (this.inFlight || this.lost) return this.inFlight ?? Promise.resolve();
    this.inFlight = (async () => {
      try {
        // A lease that vanished means the folder was taken for abandoned: writing it again
        // would bring back a lease on a folder that is gone.
        if (!(await this.storage.exists(this.key))) {
          this.lost = 'its lease was removed by another process';
          return;
        }
        const now = Date.now();
        const next = { ...this.record, refreshedAt: new Date(now).toISOString(), expiresAt: new Date(now + this.ttlMs).toISOString() };
        await this.storage.write(this.key, body(next));
        this.expiresAt = now + this.ttlMs;
      } catch (error) {
        this.log?.('warn', `Could not refresh the lease ${this.key}: ${(error as Error).message}. Trying again in ${Math.round(this.refreshMs / 1000)} s.`);
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }
}

/**
 * Takes a lease on `folder` for a writer that must be alone there (a copy into a target, whose id
 * another copy may be writing): the lease is written first, then the folder's other leases are
 * read. A live one wins: this lease is removed again and `heldBy` says whose it is. Two writers
 * that start together may both see each other and both step back, never both go on (storage that
 * lists what it has just stored, as S3 and a file system do, guarantees one sees the other).
 */
export async function takeExclusiveLease(
  storage: StorageDriver,
  folder: string,
  operation: LeaseRecord['operation'],
  options: LeaseOptions = {},
): Promise<{ lease: SnapshotLease; heldBy?: undefined } | { lease?: undefined; heldBy: FoundLease }> {
  const lease = await SnapshotLease.take(storage, folder, operation, options);
  try {
    const { leases } = await inspectFolder(storage, folder);
    const other = leases.find((l) => l.name !== lease.name && l.state === 'live');
    if (!other) return { lease };
    await lease.release();
    return { heldBy: other };
  } catch (error) {
    await lease.release().catch(() => {});
    throw error;
  }
}

/**
 * Object a prune writes into a snapshot folder before it removes the manifest: a folder holding it
 * and no manifest is being removed, so whoever finds it (a prune killed half-way, its next run)
 * finishes the removal at once instead of waiting a day for a folder with no lease.
 */
export const REMOVAL_MARKER = 'removing.json';

/** What a snapshot folder holds, as far as ownership goes. */
export interface FolderInspection {
  /** Whether `manifest.json` is there (valid or not). */
  manifest: boolean;
  /** Whether a prune marked the folder for removal (`REMOVAL_MARKER`). */
  removing: boolean;
  /** Readable leases, judged at the time of the inspection. */
  leases: FoundLease[];
}

/** Lists a folder's children once and reads its leases; unreadable or vanished leases are left out. */
export async function inspectFolder(storage: StorageDriver, folder: string, now = Date.now()): Promise<FolderInspection> {
  let manifest = false;
  let removing = false;
  const names: string[] = [];
  for await (const child of storage.listChildren(folder)) {
    if (child === MANIFEST_FILE) manifest = true;
    else if (child === REMOVAL_MARKER) removing = true;
    else if (isLeaseName(child)) names.push(child);
  }
  const leases: FoundLease[] = [];
  for (const name of names) {
    const record = await readLease(storage, `${folder}${name}`);
    if (record) leases.push({ name, record, state: leaseState(record, now) });
  }
  return { manifest, removing, leases };
}

/**
 * Who owns a folder without a manifest: `live` (some lease is live: never remove it), `abandoned`
 * (it has leases and all are dead or expired, or a prune marked it for removal: remove it at once)
 * or `unknown` (no lease: an older
 * strata, or a crash before the first write; the one-day rule applies).
 */
export function folderOwner(inspection: FolderInspection): 'live' | 'abandoned' | 'unknown' {
  if (inspection.leases.some((l) => l.state === 'live')) return 'live';
  return inspection.leases.length > 0 || inspection.removing ? 'abandoned' : 'unknown';
}

/**
 * Removes an abandoned folder (see `folderOwner`). Its dead leases go first, then the folder is
 * looked at again: a manifest or a live lease that appeared in the meantime (a new copy of the
 * same id) keeps it, and `false` is returned.
 */
export async function removeAbandonedFolder(storage: StorageDriver, folder: string, inspection: FolderInspection): Promise<boolean> {
  for (const lease of inspection.leases) await storage.removePrefix(`${folder}${lease.name}`);
  const again = await inspectFolder(storage, folder);
  if (again.manifest || folderOwner(again) === 'live') return false;
  await storage.removePrefix(folder);
  return true;
}

/** Reads one lease, or undefined when it is gone, too big or not a lease. */
async function readLease(storage: StorageDriver, key: string): Promise<LeaseRecord | undefined> {
  let text: string;
  try {
    text = await readCapped(await storage.read(key), MAX_LEASE_BYTES);
  } catch (error) {
    if (isNotFound(error) || error instanceof LeaseTooBig) return undefined;
    throw error;
  }
  try {
    const parsed = leaseSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

class LeaseTooBig extends Error {}

async function readCapped(stream: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      size += buffer.length;
      if (size > max) throw new LeaseTooBig();
      chunks.push(buffer);
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}

function body(record: LeaseRecord): Readable {
  return Readable.from([Buffer.from(`${JSON.stringify(record, null, 2)}\n`)]);
}
