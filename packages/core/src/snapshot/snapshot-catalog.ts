import { Writable } from 'node:stream';
import pLimit from 'p-limit';
import { pipeline } from 'node:stream/promises';
import { normaliseAbort } from '../abort.js';
import { DecryptionFailed, isNotFound, isStrataErrorLike, StorageError } from '../errors.js';
import { decryptingStages, describeDecryptionFailure, keyringOf, openSnapshot } from './snapshot-encryption.js';
import { describeDecompressionFailure, decompressor, isDecompressionFailure, type Codec } from '../format/compression.js';
import { CopyGuard, DataFileRefused } from '../format/copy-guard.js';
import { environmentPrefix, readManifest, snapshotPrefix } from '../format/manifest-io.js';
import type { Manifest, TableEntry } from '../format/manifest-schema.js';
import { DigestStream } from '../format/stream-digest.js';
import type { CatalogContext, SnapshotSummary, VerifyResult, VerifyTableResult } from './snapshot-types.js';

/**
 * Valid snapshots of the environment, newest first (only the newest `limit` when given). A folder
 * without a manifest is an incomplete capture and is not listed; a damaged manifest is skipped
 * with a warning.
 */
export async function listSnapshots(ctx: CatalogContext, options: { limit?: number } = {}): Promise<SnapshotSummary[]> {
  const manifests = await readManifests(ctx, options.limit);
  return manifests.map(summarise);
}

/** Reads and validates one snapshot's manifest; `latest` picks the newest valid one. */
export async function showSnapshot(ctx: CatalogContext, id: string): Promise<Manifest> {
  const { config, env, storage } = ctx;
  if (id === 'latest') {
    const [newest] = await readManifests(ctx, 1);
    if (!newest) {
      throw new StorageError(`The environment "${env.name}" has no snapshots at ${storage.location}.`, {
        code: 'snapshot-not-found',
        hint: 'Take one with `strata snapshot`.',
      });
    }
    return newest;
  }
  if (!/^[A-Za-z0-9_-]+$/.test(id)) {
    throw new StorageError(`"${id}" is not a snapshot id.`, {
      code: 'snapshot-not-found',
      hint: 'Run `strata list` to see the snapshots of this environment, or use `latest`.',
    });
  }
  return readManifest(storage, snapshotPrefix(config.project, env.name, id), id);
}

/**
 * Re-reads every data file and checks its size, sha256 and row count against the manifest, and its
 * COPY text as a restore would take it (see `verifyTable`). Files are checked one after another;
 * a damaged file fails its table, not the whole run. An encrypted snapshot is opened with the
 * environment's keys when it has any (a wrong key fails, naming the fingerprints); without a key
 * only the stored bytes are checked (size and ciphertext sha256), and `checked` says so.
 */
export async function verifySnapshot(ctx: CatalogContext, id: string): Promise<VerifyResult> {
  const stored = await showSnapshot(ctx, id);
  const keyless = stored.encryption !== undefined && !hasKeys(ctx);
  const { manifest, identity } = keyless ? { manifest: stored, identity: undefined } : await openSnapshot(stored, ctx.env.encryption, ctx.env.name);
  // Where it was found, which for a copied snapshot is not the environment it was taken in.
  const prefix = snapshotPrefix(ctx.config.project, ctx.env.name, manifest.id);
  const tables: VerifyTableResult[] = [];
  for (const table of manifest.tables) {
    tables.push(keyless ? await verifyStoredBytes(ctx, prefix, table) : await verifyTable(ctx, prefix, manifest.data.compression, table, identity));
  }
  return { id: manifest.id, ok: tables.every((t) => t.status === 'ok'), checked: keyless ? 'ciphertext' : 'plaintext', tables };
}

/** Whether the environment has any key to open an encrypted snapshot with (it may still be the wrong one). */
function hasKeys(ctx: CatalogContext): boolean {
  const ring = keyringOf(ctx.env.encryption, ctx.env.name);
  return ring.identities.length > 0 || ring.passphrase !== undefined;
}

/** An encrypted file checked without its key: its size and the sha256 of what is stored. */
async function verifyStoredBytes(ctx: CatalogContext, prefix: string, table: TableEntry): Promise<VerifyTableResult> {
  const name = `${table.schema}.${table.name}`;
  const digest = new DigestStream({ maxBytes: table.bytes });
  try {
    await pipeline(await ctx.storage.read(`${prefix}${table.file}`, { signal: ctx.signal }), digest, discard(), { signal: ctx.signal });
  } catch (error) {
    const failure = normaliseAbort(error, ctx.signal, 'verification');
    if (isStrataErrorLike(failure) && failure.code === 'aborted') throw failure;
    const reason = failure instanceof DataFileRefused ? failure.message : isNotFound(failure) ? 'the data file is missing' : `the data file cannot be read (${(failure as Error).message})`;
    return { table: name, status: 'failed', rows: 0, bytes: digest.bytes, error: reason };
  }
  const problem = checkTable(table, { bytes: digest.bytes, sha256: digest.sha256 });
  return { table: name, status: problem ? 'failed' : 'ok', rows: table.rows, bytes: digest.bytes, ...(problem ? { error: problem } : {}) };
}

/**
 * Re-reads one data file (compressed with `codec`, the manifest's `data.compression`; decrypted
 * with `identity`, the snapshot's key, when it is encrypted) and checks it against its manifest
 * entry: size, sha256 (and decrypted sha256), rows and
 * uncompressed size, and the COPY text through the same `CopyGuard` a restore uses (UTF-8, no
 * NUL, no end-of-data marker, complete rows), plus each row's field count. Reading stops at the
 * first byte past what the manifest records. Values are not checked against their column types,
 * nor rows against constraints: only a restore does that.
 */
export async function verifyTable(ctx: CatalogContext, prefix: string, codec: Codec, table: TableEntry, identity?: string): Promise<VerifyTableResult> {
  const name = `${table.schema}.${table.name}`;
  const digest = new DigestStream({ maxBytes: table.bytes });
  const guard = new CopyGuard({
    rows: table.rows,
    ...(table.rawBytes !== undefined ? { rawBytes: table.rawBytes } : {}),
    ...(table.columns.length > 0 ? { columns: table.columns.length } : {}),
    onRows: (rows) => ctx.onProgress?.({ phase: 'verify', item: name, rows, totalRows: table.rows }),
  });
  // Outside the try: a zstd binding that did not load is no fault of the file.
  const inflate = await decompressor(codec);
  const decrypting = decryptingStages(identity);
  try {
    const source = await ctx.storage.read(`${prefix}${table.file}`, { signal: ctx.signal });
    await pipeline([source, digest, ...decrypting.stages, inflate, guard, discard()], { signal: ctx.signal });
  } catch (error) {
    inflate.destroy();
    const failure = normaliseAbort(error, ctx.signal, 'verification');
    if (isStrataErrorLike(failure) && failure.code === 'aborted') throw failure;
    const reason = failure instanceof DataFileRefused
      ? failure.message
      : failure instanceof DecryptionFailed
        ? `the data file ${describeDecryptionFailure(failure)}`
        : isNotFound(failure)
          ? 'the data file is missing'
          : isDecompressionFailure(failure)
            ? `the data file is truncated or corrupt (${describeDecompressionFailure(codec, failure)})`
            : `the data file cannot be read (${(failure as Error).message})`;
    return { table: name, status: 'failed', rows: guard.rows, bytes: digest.bytes, error: reason };
  }
  ctx.onProgress?.({ phase: 'verify', item: name, rows: guard.rows, totalRows: table.rows, done: true });
  const problem = checkTable(table, { bytes: digest.bytes, sha256: digest.sha256, rows: guard.rows, rawBytes: guard.bytes, ...(decrypting.plain ? { plainSha256: decrypting.plain.sha256 } : {}) });
  return { table: name, status: problem ? 'failed' : 'ok', rows: guard.rows, bytes: digest.bytes, ...(problem ? { error: problem } : {}) };
}

/** Compares what was read with the manifest; returns the first mismatch as a sentence. */
export function checkTable(table: TableEntry, seen: { bytes: number; sha256: string; rows?: number; rawBytes?: number; plainSha256?: string }): string | undefined {
  if (seen.bytes !== table.bytes) return `size is ${seen.bytes} bytes, the manifest says ${table.bytes}`;
  if (seen.sha256 !== table.sha256) return 'sha256 does not match the manifest';
  if (seen.plainSha256 !== undefined && seen.plainSha256 !== table.plainSha256) return 'its decrypted sha256 does not match the manifest';
  if (seen.rows !== undefined && seen.rows !== table.rows) return `holds ${seen.rows} rows, the manifest says ${table.rows}`;
  if (seen.rawBytes !== undefined && table.rawBytes !== undefined && seen.rawBytes !== table.rawBytes) {
    return `inflates to ${seen.rawBytes} bytes, the manifest says ${table.rawBytes}`;
  }
  return undefined;
}

function discard(): Writable {
  return new Writable({ write: (_chunk, _enc, cb) => cb() });
}

/** Manifests read at once while listing: enough to hide an object store's latency. */
const CONCURRENT_MANIFEST_READS = 16;

/**
 * Valid manifests of the environment, newest first; with `limit`, only the newest `limit`.
 * Snapshot ids are ULIDs, so the newest ids sort last: they are read first, and a limit stops
 * the reading early instead of fetching every manifest of a long history.
 */
async function readManifests(ctx: CatalogContext, limit?: number): Promise<Manifest[]> {
  const { config, env, storage } = ctx;
  const ids: string[] = [];
  for await (const child of storage.listChildren(environmentPrefix(config.project, env.name))) ids.push(child);
  ids.sort().reverse();
  const limiter = pLimit(CONCURRENT_MANIFEST_READS);
  const batchSize = limit === undefined ? Math.max(ids.length, 1) : Math.max(limit, CONCURRENT_MANIFEST_READS);
  const found: Manifest[] = [];
  for (let start = 0; start < ids.length && (limit === undefined || found.length < limit); start += batchSize) {
    const batch = ids.slice(start, start + batchSize);
    const manifests = await Promise.all(batch.map((id) => limiter(() => readListedManifest(ctx, id))));
    for (const manifest of manifests) if (manifest) found.push(manifest);
  }
  // By time, not by text: a manifest written elsewhere may carry an offset instead of Z.
  found.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || b.id.localeCompare(a.id));
  return limit === undefined ? found : found.slice(0, limit);
}

/** A listed folder's manifest, or undefined for an incomplete capture or a damaged manifest (warned). */
async function readListedManifest(ctx: CatalogContext, id: string): Promise<Manifest | undefined> {
  try {
    return await readManifest(ctx.storage, snapshotPrefix(ctx.config.project, ctx.env.name, id), id);
  } catch (error) {
    if (isStrataErrorLike(error) && error.code === 'snapshot-not-found') return undefined; // incomplete capture
    if (isStrataErrorLike(error)) { // a storage plugin's copy of the class counts too
      ctx.log?.('warn', `Skipping snapshot ${id}: ${error.message}`);
      return undefined;
    }
    throw error;
  }
}

function summarise(m: Manifest): SnapshotSummary {
  return {
    id: m.id,
    createdAt: m.createdAt,
    ...(m.description ? { description: m.description } : {}),
    tags: m.tags,
    tables: m.tables.length,
    rows: m.tables.reduce((sum, t) => sum + t.rows, 0),
    bytes: m.tables.reduce((sum, t) => sum + t.bytes, 0),
    modules: Object.fromEntries(Object.entries(m.modules).map(([name, mod]) => [name, mod.last])),
    ...(m.encryption ? { encryptedFor: m.encryption.mode === 'passphrase' ? ['passphrase'] : m.encryption.recipients.map((r) => r.name ?? r.fingerprint) } : {}),
  };
}
