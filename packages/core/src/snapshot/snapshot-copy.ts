import { Readable, Transform, type TransformCallback } from 'node:stream';
import pLimit from 'p-limit';

import { normaliseAbort, throwIfAborted } from '../abort.js';
import { faultPoint } from '../fault-point.js';
import type { StorageDriver } from '../contracts/storage.js';
import { ConfigError, IntegrityError, isNotFound, StorageError, isStrataErrorLike } from '../errors.js';
import { readManifest, readManifestText, snapshotPrefix } from '../format/manifest-io.js';
import { MANIFEST_FILE, type Manifest, type TableEntry } from '../format/manifest-schema.js';
import { DataFileRefused } from '../format/copy-guard.js';
import { DigestStream } from '../format/stream-digest.js';
import { checkTable, showSnapshot } from './snapshot-catalog.js';
import { openSnapshot, rewrapSnapshot } from './snapshot-encryption.js';
import { describeLease, takeExclusiveLease } from './snapshot-lease.js';
import type { CatalogContext } from './snapshot-types.js';

/** Data files copied at once: enough to overlap two object stores' latencies, few enough to bound memory. */
const CONCURRENT_FILE_COPIES = 4;

export interface CopySnapshotOptions {
  /** Where the snapshot is: an environment's config and storage. */
  from: CatalogContext;
  /** Where it goes: another environment's config and storage. Only this side's `signal`/`onProgress`/`log` are used. */
  to: CatalogContext;
  /** Snapshot id in `from`, or `latest`. */
  id: string;
  /**
   * Seal the copy for the target environment's recipients or passphrase: the snapshot's key is
   * opened with the source environment's keys and wrapped again; data files are copied as they
   * are (they are encrypted to the snapshot's own key). Only for encrypted snapshots.
   */
  reencrypt?: boolean;
}

export interface CopySnapshotResult {
  id: string;
  /** `copied`, or `already-present` when the target already held the identical snapshot. */
  status: 'copied' | 'already-present';
  from: { environment: string; location: string };
  to: { environment: string; location: string };
  tables: number;
  bytes: number;
  durationMs: number;
}

/**
 * Copies a snapshot from one environment's storage to another's (two buckets with their own
 * credentials, S3 and `file://`, …). Each data file streams from source to target through a
 * sha256 check against the manifest; the manifest is written last, byte for byte, so the copy
 * exists only once every file arrived intact. A failed or interrupted copy removes what it wrote.
 * The snapshot keeps its id and its manifest (which still names the environment it was taken in)
 * and is listed among the target environment's snapshots.
 *
 * The target folder carries a lease while the copy runs (`snapshot-lease.ts`): a prune of the
 * target never removes it, and a second copy of the same id into the same environment refuses
 * (`copy-in-progress`) instead of removing the first one's files. What a copy that died left
 * there (its lease dead or expired) is removed before copying. A snapshot that a prune removes
 * from the source while the copy runs fails the copy with `copy-source-removed`, and the partial
 * target is removed; a file that was already being read when it went is copied whole, so the copy
 * may also succeed.
 */
export async function copySnapshot(options: CopySnapshotOptions): Promise<CopySnapshotResult> {
  const { from, to } = options;
  const started = Date.now();
  const signal = to.signal ?? from.signal;
  if (from.env.name === to.env.name && from.config.project === to.config.project) {
    throw new ConfigError(`Cannot copy a snapshot of "${from.env.name}" onto itself.`, {
      code: 'copy-same-environment',
      hint: 'Give two different environments: --from-env A --to-env B.',
    });
  }

  const manifest = await showSnapshot(from, options.id);
  const sourcePrefix = snapshotPrefix(from.config.project, from.env.name, manifest.id);
  const targetPrefix = snapshotPrefix(to.config.project, to.env.name, manifest.id);
  // Re-read through the same capped, checked reader: these bytes are written to the target as
  // they are, or sealed anew for the target (opened first: a wrong key fails before any write).
  const { text: storedText } = await readManifestText(from.storage, sourcePrefix, manifest.id);
  const manifestText = options.reencrypt ? await reencrypted(options, manifest) : storedText;
  const summary = {
    id: manifest.id,
    from: { environment: from.env.name, location: from.storage.location },
    to: { environment: to.env.name, location: to.storage.location },
    tables: manifest.tables.length,
    bytes: manifest.tables.reduce((sum, t) => sum + t.bytes, 0),
  };

  const present = await presentInTarget(to, targetPrefix, manifest, signal);
  if (present) return { ...summary, status: 'already-present', durationMs: Date.now() - started };

  // The lease comes first: while it is live, no prune, snapshot or other copy removes what this
  // copy writes, and a second copy of the same id into this environment steps back.
  const taken = await takeExclusiveLease(to.storage, targetPrefix, 'copy', { ...(to.log ? { log: to.log } : {}) });
  if (taken.heldBy) {
    throw new StorageError(`Snapshot ${manifest.id} is already being copied into environment "${to.env.name}" (${describeLease(taken.heldBy)}).`, {
      code: 'copy-in-progress',
      hint: 'Wait for that copy to finish; it lists in the target once complete. Run this one again if it fails.',
    });
  }
  const { lease } = taken;
  // A copy that finished while this one took its lease: nothing to do, or a conflict.
  let finished: boolean;
  try {
    finished = await presentInTarget(to, targetPrefix, manifest, signal);
  } catch (error) {
    await lease.release().catch(() => {});
    throw error;
  }
  if (finished) {
    await lease.release();
    return { ...summary, status: 'already-present', durationMs: Date.now() - started };
  }

  try {
    // No manifest, and no live lease but ours: whatever else is there is a dead copy's.
    await removeAllBut(to.storage, targetPrefix, lease.name);
    await copyDataFiles({ from, to, id: manifest.id, sourcePrefix, targetPrefix, signal }, manifest.tables);
    throwIfAborted(signal, 'copy');
    await lease.confirm();
    await to.storage.write(`${targetPrefix}${MANIFEST_FILE}`, bufferStream(manifestText), { signal });
  } catch (error) {
    await lease.stop();
    await to.storage.removePrefix(targetPrefix).catch((cleanup: Error) => {
      to.log?.('warn', `Could not remove the incomplete copy at ${to.storage.location}${targetPrefix}: ${cleanup.message}`);
    });
    throw await explainFailure(error, options, sourcePrefix, manifest.id, signal);
  }
  await lease.release().catch((cleanup: Error) => {
    to.log?.('warn', `Could not remove the lease of the copy at ${to.storage.location}${targetPrefix}: ${cleanup.message}`);
  });
  return { ...summary, status: 'copied', durationMs: Date.now() - started };
}

interface DataFileCopy {
  from: CatalogContext;
  to: CatalogContext;
  id: string;
  table: TableEntry;
  sourcePrefix: string;
  targetPrefix: string;
  signal: AbortSignal | undefined;
}

/**
 * Whether the target already holds this snapshot: `true` when its manifest describes the same
 * files, a `copy-target-exists` error when it describes other ones, `false` when there is none.
 */
async function presentInTarget(to: CatalogContext, targetPrefix: string, manifest: Manifest, signal: AbortSignal | undefined): Promise<boolean> {
  if (!(await to.storage.exists(`${targetPrefix}${MANIFEST_FILE}`))) return false;
  let present: Manifest | undefined;
  try {
    present = await readManifest(to.storage, targetPrefix, manifest.id);
  } catch (error) {
    // A damaged or oversized manifest in the target is not the same snapshot; say so below.
    if (!(error instanceof IntegrityError)) throw error;
  }
  signal?.throwIfAborted();
  if (present && sameSnapshot(present, manifest)) return true;
  throw new StorageError(`A different snapshot with id ${manifest.id} already exists in environment "${to.env.name}" (${to.storage.location}).`, {
    code: 'copy-target-exists',
    hint: `Inspect it with \`strata show ${manifest.id} --env ${to.env.name}\`; remove it from the storage before copying again.`,
  });
}

/** Removes every child of `folder` except the object `keep`. */
async function removeAllBut(storage: StorageDriver, folder: string, keep: string): Promise<void> {
  const children: string[] = [];
  for await (const child of storage.listChildren(folder)) children.push(child);
  // A name that prefixes `keep` would take it along (removePrefix matches by prefix).
  for (const child of children) if (!keep.startsWith(child)) await storage.removePrefix(`${folder}${child}`);
}

/**
 * Copies every data file, a few at a time. The first failure stops the others (and every one has
 * settled before this returns), so the clean-up that follows never races a write still under way.
 */
async function copyDataFiles(copy: Omit<DataFileCopy, 'table'>, tables: TableEntry[]): Promise<void> {
  const { to, signal } = copy;
  const limiter = pLimit(CONCURRENT_FILE_COPIES);
  const stop = new AbortController();
  const copySignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const totalRows = tables.reduce((sum, t) => sum + t.rows, 0);
  let rowsDone = 0;
  const results = await Promise.allSettled(
    tables.map((table) =>
      limiter(async () => {
        if (copySignal.aborted) throw copySignal.reason;
        try {
          await copyDataFile({ ...copy, table, signal: copySignal }, (rows, done) => {
            to.onProgress?.({
              phase: 'copy',
              item: `${table.schema}.${table.name}`,
              rows,
              totalRows: table.rows,
              overallRows: rowsDone + rows,
              overallTotalRows: totalRows,
              ...(done ? { done } : {}),
            });
            if (done) rowsDone += table.rows;
          });
        } catch (error) {
          stop.abort(error);
          throw error;
        }
        await faultPoint('copy:data', copySignal);
      }),
    ),
  );
  if (stop.signal.aborted) throw stop.signal.reason;
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * The error a failed copy ends with. A source that lost its manifest while the copy ran (a prune
 * removed the snapshot there) is said so, instead of calling its missing files damage.
 */
async function explainFailure(error: unknown, options: CopySnapshotOptions, sourcePrefix: string, id: string, signal: AbortSignal | undefined): Promise<unknown> {
  const failure = normaliseAbort(error, signal, 'copy');
  if (isStrataErrorLike(failure) && failure.code === 'aborted') return failure;
  const { from, to } = options;
  const stillThere = await from.storage.exists(`${sourcePrefix}${MANIFEST_FILE}`).catch(() => true);
  if (stillThere) return failure;
  return new StorageError(`Snapshot ${id} was removed from environment "${from.env.name}" while it was being copied; nothing was copied to "${to.env.name}".`, {
    code: 'copy-source-removed',
    hint: `A prune (or someone) removed it from ${from.storage.location}. Copy another snapshot (\`strata list --env ${from.env.name}\`).`,
    cause: error,
  });
}

/** The manifest sealed for the target environment (`--reencrypt`), as the text to write. */
async function reencrypted(options: CopySnapshotOptions, manifest: Manifest): Promise<string> {
  const { from, to } = options;
  if (!manifest.encryption) {
    throw new ConfigError(`Snapshot ${manifest.id} is not encrypted, so there is nothing to re-encrypt.`, {
      code: 'not-encrypted',
      hint: 'Leave out --reencrypt to copy it as it is; snapshots are encrypted when they are taken (encryption.recipients).',
    });
  }
  const sealTo = to.env.encryption?.sealTo;
  if (!sealTo) {
    throw new ConfigError(`The environment "${to.env.name}" has no encryption recipients or passphrase to re-encrypt for.`, {
      code: 'encryption-not-configured',
      hint: `Set environments.${to.env.name}.encryption.recipients in the config, or leave out --reencrypt to copy the snapshot as it is.`,
    });
  }
  const opened = await openSnapshot(manifest, from.env.encryption, from.env.name);
  return `${JSON.stringify(await rewrapSnapshot(opened, sealTo), null, 2)}\n`;
}

/** Streams one data file across, checking its size and sha256 on the way. */
async function copyDataFile(copy: DataFileCopy, progress: (rows: number, done: boolean) => void): Promise<void> {
  const { from, to, id, table, signal } = copy;
  const name = `${table.schema}.${table.name}`;
  const damaged = (reason: string, cause?: unknown): IntegrityError =>
    new IntegrityError(`Snapshot ${id} in environment "${from.env.name}" is damaged: ${reason}.`, {
      code: 'snapshot-corrupt',
      hint: `Run \`strata verify ${id} --env ${from.env.name}\`; copy another snapshot.`,
      ...(cause === undefined ? {} : { cause }),
    });

  const refusedAsDamage = (error: unknown): unknown =>
    error instanceof DataFileRefused ? damaged(`the data file of ${name} ${error.reason}`, error) : error;

  let source: Readable;
  try {
    source = await from.storage.read(`${copy.sourcePrefix}${table.file}`, { signal });
  } catch (error) {
    if (isNotFound(error)) throw damaged(`the data file of ${name} is missing`, error);
    throw error;
  }
  // Stops at the first byte past the manifest's size: a file that lies about its size is not copied to its end.
  const digest = new DigestStream({ maxBytes: table.bytes });
  // The file stays compressed on the way, so rows are estimated from bytes until the last event.
  const meter = new ByteMeter((bytes) => progress(table.bytes > 0 ? Math.min(table.rows, Math.floor((table.rows * bytes) / table.bytes)) : 0, false));
  // pipe() forwards data, not errors: a failing source fails the body the target reads (and is
  // the error reported), and a target that stops reading releases the source.
  let failure: unknown;
  const fail = (error: Error): void => {
    failure ??= error;
    meter.destroy(error);
  };
  source.once('error', fail);
  digest.once('error', fail);
  // The target's own pipeline sees the body's errors; this listener only keeps an error raised
  // before the target started reading from going unhandled.
  meter.on('error', (error) => {
    failure ??= error;
  });
  meter.once('close', () => {
    if (!meter.readableEnded) source.destroy();
  });
  source.pipe(digest).pipe(meter);
  try {
    await to.storage.write(`${copy.targetPrefix}${table.file}`, meter, { signal });
  } catch (error) {
    throw refusedAsDamage(failure ?? error);
  } finally {
    meter.destroy();
  }
  if (failure) throw refusedAsDamage(failure);
  // The target consumed the whole body, so the digest has seen all of it.
  const problem = checkTable(table, { bytes: digest.bytes, sha256: digest.sha256 });
  if (problem) throw damaged(`the data file of ${name} does not match the manifest (${problem})`);
  progress(table.rows, true);
}

/** Counts bytes as they pass and reports them at most every 200 ms. */
class ByteMeter extends Transform {
  bytes = 0;
  private last = 0;
  constructor(private readonly onBytes: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    const now = Date.now();
    if (now - this.last >= 200) {
      this.last = now;
      this.onBytes(this.bytes);
    }
    callback(null, chunk);
  }
}

function bufferStream(body: string): Readable {
  return Readable.from([Buffer.from(body)]);
}

/** Whether the manifest already in the target describes the same data as the one being copied. */
function sameSnapshot(present: Manifest, manifest: Manifest): boolean {
  if (present.id !== manifest.id || present.tables.length !== manifest.tables.length) return false;
  return present.tables.every((t, i) => {
    const other = manifest.tables[i];
    return other !== undefined && other.file === t.file && other.sha256 === t.sha256 && other.bytes === t.bytes;
  });
}
