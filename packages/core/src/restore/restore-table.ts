import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { normaliseAbort } from '../abort.js';
import type { TableTransform } from '../contracts/transformer.js';
import { isConnectionLoss } from '../db/connection-loss.js';
import type { CopyInStream, DbSession } from '../db/driver.js';
import { tableId } from '../db/pg-introspect.js';
import { qualified, quoteIdent } from '../db/sql-names.js';
import { DecryptionFailed, IntegrityError, isNotFound, isStrataErrorLike } from '../errors.js';
import { faultPointStream } from '../fault-point.js';
import { describeDecompressionFailure, decompressor, isDecompressionFailure } from '../format/compression.js';
import { CopyGuard, DataFileRefused } from '../format/copy-guard.js';
import { CopyRowTransform } from '../format/copy-text.js';
import type { Manifest, TableEntry } from '../format/manifest-schema.js';
import { DigestStream } from '../format/stream-digest.js';
import type { OperationContext } from '../operation-context.js';
import { checkTable, verifyTable } from '../snapshot/snapshot-catalog.js';
import { decryptingStages, describeDecryptionFailure } from '../snapshot/snapshot-encryption.js';
import type { RestoreTableResult } from './restore-types.js';

/**
 * Streams one data file from storage into COPY FROM STDIN, through the table's transform if any,
 * checking the file's bytes, sha256 and rows. The file is bounded while it streams: reading stops
 * past the manifest's `bytes`, decompression past its `rawBytes`, and the COPY text goes through
 * `CopyGuard` (rows, line length, UTF-8, NUL, end-of-data marker). `freeze` (the default) writes
 * frozen rows, which is only right for a table created or truncated in this transaction of a
 * database nobody else reads.
 */
export async function loadTable(
  client: DbSession,
  ctx: OperationContext,
  manifest: Manifest,
  prefix: string,
  entry: TableEntry,
  transform: TableTransform | undefined,
  progress: (rows: number, done: boolean) => void,
  options: { freeze?: boolean; /** The snapshot's key, when its files are encrypted. */ identity?: string } = {},
): Promise<RestoreTableResult> {
  const started = Date.now();
  const id = tableId(entry.schema, entry.name);
  const columns = entry.columns.map((c) => quoteIdent(c.name)).join(', ');
  const digest = new DigestStream({ maxBytes: entry.bytes });
  const guard = new CopyGuard({
    rows: entry.rows,
    ...(entry.rawBytes !== undefined ? { rawBytes: entry.rawBytes } : {}),
    onRows: (rows) => progress(rows, false),
  });
  // Before the file is opened: a zstd binding that did not load is no fault of the file.
  const inflate = await decompressor(manifest.data.compression);
  const decrypting = decryptingStages(options.identity);
  let source: Readable | undefined;
  let sink: CopyInStream | undefined;
  try {
    // The file first: a COPY opened before a read that fails has nobody listening for its error.
    source = await ctx.storage.read(`${prefix}${entry.file}`, { signal: ctx.signal });
    sink = client.copyIn(`COPY ${qualified(entry.schema, entry.name)} (${columns}) FROM STDIN${options.freeze === false ? '' : ' WITH (FREEZE)'}`);
    // pipeline() listens only while it runs; the COPY may still fail after (its session is closed
    // when anything went wrong), and an 'error' nobody listens for would end the process.
    sink.on('error', () => {});
    const transforming = transform ? [new CopyRowTransform(transform, entry.columns.length, id)] : [];
    const paused = faultPointStream(options.freeze === false ? 'restore-into:transaction' : 'restore:load', { signal: ctx.signal });
    await pipeline([source, digest, ...decrypting.stages, inflate, guard, ...transforming, ...(paused ? [paused] : []), sink], { signal: ctx.signal });
  } catch (error) {
    source?.destroy();
    inflate.destroy();
    throw await loadFailure(error, ctx, manifest, prefix, entry, options.identity);
  }
  // The file's own rows: a transform may load fewer (a truncated table loads none).
  const problem = checkTable(entry, { bytes: digest.bytes, sha256: digest.sha256, rows: guard.rows, rawBytes: guard.bytes, ...(decrypting.plain ? { plainSha256: decrypting.plain.sha256 } : {}) });
  if (problem) {
    throw new IntegrityError(`The data file of table ${id} in snapshot ${manifest.id} does not match the manifest: ${problem}.`, {
      code: 'data-corrupt',
      hint: `Run \`strata verify ${manifest.id}\` to check every file, or restore another snapshot.`,
    });
  }
  // What the server took must be what the file holds: nothing may end the COPY early.
  if (!transform && sink.rowCount !== guard.rows) {
    throw new IntegrityError(`The server loaded ${sink.rowCount} rows of table ${id} from snapshot ${manifest.id}, whose data file holds ${guard.rows}.`, {
      code: 'data-corrupt',
      hint: `Run \`strata verify ${manifest.id}\` to check every file, or restore another snapshot.`,
    });
  }
  progress(sink.rowCount, true);
  return { table: id, rows: sink.rowCount, durationMs: Date.now() - started };
}

/**
 * The error a failed table load ends in: an abort or a lost connection as they are (the driver
 * names a lost session, exit 3: the file may be fine), a refused or damaged file as an
 * IntegrityError naming the table, rows that break a constraint as such.
 */
async function loadFailure(error: unknown, ctx: OperationContext, manifest: Manifest, prefix: string, entry: TableEntry, identity: string | undefined): Promise<unknown> {
  const id = tableId(entry.schema, entry.name);
  const cause = normaliseAbort(error, ctx.signal, 'restore');
  if (isStrataErrorLike(cause) && cause.code === 'aborted') return cause;
  if (isConnectionLoss(error)) return error;
  const hint = `Run \`strata verify ${manifest.id}\` to check every file, or restore another snapshot.`;
  if (cause instanceof DataFileRefused) {
    return new IntegrityError(`The data file of table ${id} in snapshot ${manifest.id} ${cause.reason}.`, { code: 'data-corrupt', hint, cause });
  }
  if (cause instanceof DecryptionFailed) {
    return new IntegrityError(`The data file of table ${id} in snapshot ${manifest.id} ${describeDecryptionFailure(cause)}.`, { code: 'data-corrupt', hint, cause });
  }
  const missing = isNotFound(cause);
  if (isStrataErrorLike(cause) && !missing) return cause;
  const undecompressable = isDecompressionFailure(error);
  // Damage inside a compressed stream can decompress into garbage that COPY rejects before the
  // codec's own checksum would: when COPY fails, re-check the file, so the user hears the real cause.
  const damage = missing || undecompressable ? undefined : (await verifyTable({ ...ctx, onProgress: undefined }, prefix, manifest.data.compression, entry, identity)).error;
  if (!missing && !undecompressable && !damage) {
    const violation = constraintViolation(error, id, manifest.id);
    if (violation) return violation;
  }
  const reason = missing
    ? 'is missing'
    : undecompressable
      ? `is truncated or corrupt (${describeDecompressionFailure(manifest.data.compression, error)})`
      : damage
        ? `is corrupt (${damage})`
        : `could not be loaded (${(error as Error).message})`;
  return new IntegrityError(`The data file of table ${id} in snapshot ${manifest.id} ${reason}.`, {
    code: missing || undecompressable || damage ? 'data-corrupt' : 'data-load-failed',
    hint,
    cause: error,
  });
}

/**
 * A server error for rows that break a constraint (SQLSTATE class 23), as one sentence naming the
 * table and the constraint; undefined for any other error. The files matched their checksums, so
 * the snapshot was captured (or altered) with rows that do not hold together.
 */
export function constraintViolation(error: unknown, table: string, snapshotId: string, known: { constraint?: string; references?: string } = {}): IntegrityError | undefined {
  const { code, constraint, column } = (error ?? {}) as { code?: unknown; constraint?: unknown; column?: unknown };
  if (typeof code !== 'string' || !/^23[0-9A-Z]{3}$/.test(code)) return undefined;
  const name = known.constraint ?? (typeof constraint === 'string' ? constraint : 'a constraint');
  const what = code === '23505'
    ? `rows with the same key, which its unique constraint or index ${name} forbids`
    : code === '23503'
      ? `rows whose foreign key ${name} points at missing rows${known.references ? ` of ${known.references}` : ''}`
      : code === '23502'
        ? `NULL in column ${typeof column === 'string' ? column : '(unknown)'}, which is NOT NULL`
        : `rows that break its constraint ${name}`;
  return new IntegrityError(`Table ${table} in snapshot ${snapshotId} holds ${what}.`, {
    code: 'data-constraint-violated',
    hint: 'Its files match their checksums, so the rows were captured or altered that way; restore another snapshot.',
    cause: error,
  });
}
