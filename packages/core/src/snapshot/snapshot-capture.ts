import os from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ulid } from 'ulid';
import { abortedError, normaliseAbort, throwIfAborted } from '../abort.js';
import { faultPoint, faultPointStream } from '../fault-point.js';
import { ConfigError, isStrataErrorLike } from '../errors.js';
import { compressionOf, type LoadedConfig } from '../config/config-loader.js';
import type { DatabaseDriver, DbSession, Queryable } from '../db/driver.js';
import { driverFor } from '../db/drivers.js';
import { qualified, quoteIdent } from '../db/sql-names.js';
import type { TableTransform, Transformer } from '../contracts/transformer.js';
import { listForeignKeys, listSequences, listTables, normaliseTableName, readSchemaInfo, tableId, type ForeignKeyInfo, type TableInfo } from '../db/pg-introspect.js';
import { compressor, resolveCompression, type Codec, type Compression } from '../format/compression.js';
import { CopyRowTransform } from '../format/copy-text.js';
import { dataFileName, snapshotPrefix, writeManifest } from '../format/manifest-io.js';
import { FORMAT_VERSION, type Manifest, type ModuleEntry, type TableEntry } from '../format/manifest-schema.js';
import { CopyRowCounter, DigestStream } from '../format/stream-digest.js';
import { moduleTableName } from '../migrations/migration-source.js';
import { moduleTablesAt, tablesOfModules } from '../migrations/module-tables.js';
import type { OperationContext } from '../operation-context.js';
import { foreignKeyOrder } from '../tables/fk-order.js';
import { formatDuration } from '../text/unit-format.js';
import { STRATA_VERSION } from '../version.js';
import { encryptStream } from '../crypto/age-streams.js';
import { prepareSealer, sealManifest } from './snapshot-encryption.js';
import { applySelection, unknownScope } from './capture-selection.js';
import { migrationTableIds } from './captured-schema.js';
import { removeAbandonedSnapshots } from './snapshot-leftovers.js';
import { SnapshotLease } from './snapshot-lease.js';
import type { CaptureSelection, SnapshotOptions, SnapshotResult } from './snapshot-types.js';

/**
 * Captures the environment's database into a new snapshot; the manifest is written last. With
 * `retries`, a capture that fails for a reason that may pass (an unreachable server or storage, a
 * dropped connection) is tried again after `retryDelayMs`, doubling each time; every failed
 * attempt has removed what it wrote before the next one starts.
 */
export async function snapshot(options: SnapshotOptions): Promise<SnapshotResult> {
  const attempts = 1 + Math.max(0, options.retries ?? 0);
  for (let attempt = 1; ; attempt++) {
    try {
      const selection = await selectionOf(options);
      return await captureDatabase(options, options.env.databaseUrl, { ...options, ...(selection ? { selection } : {}) });
    } catch (error) {
      if (attempt >= attempts || !mayPassOnRetry(error)) throw error;
      const delayMs = (options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS) * 2 ** (attempt - 1);
      const reason = (error as Error).message.replace(/\.?$/, '.');
      options.log?.('warn', `Snapshot attempt ${attempt} of ${attempts} failed: ${reason} Retrying in ${formatDuration(delayMs)}.`);
      await sleep(delayMs, options.signal);
    }
  }
}

const DEFAULT_RETRY_DELAY_MS = 60_000;

/**
 * Turns `scope`, `tables` and `modules` into a capture selection. Modules are mapped to the
 * tables their migrations create at the source's migration state (replayed in a scratch
 * database); tables the config excludes are never captured, so a module's are dropped quietly.
 */
async function selectionOf(options: SnapshotOptions): Promise<CaptureSelection | undefined> {
  const { scope, tables = [], modules = [] } = options;
  if (scope && (tables.length > 0 || modules.length > 0)) {
    throw new ConfigError('A tenant scope cannot be combined with tables or modules.', {
      code: 'invalid-arguments',
      hint: 'Pass either --scope or --tables/--modules.',
    });
  }
  if (scope) {
    if (!options.config.scopes?.[scope.name]) throw unknownScope(options.config.scopes, scope.name);
    return { kind: 'tenant', name: scope.name, values: scope.values };
  }
  if (tables.length === 0 && modules.length === 0) return undefined;
  const picked = tables.map(normaliseTableName);
  if (modules.length > 0) {
    const driver = driverFor(options.env.databaseUrl);
    const client = await driver.connect(options.env.databaseUrl);
    let states: Record<string, ModuleEntry>;
    try {
      states = await readModuleStates(client, options.config);
    } catch (error) {
      throw driver.translateError(error, options.env.databaseUrl, 'read from');
    } finally {
      await client.close();
    }
    const map = await moduleTablesAt(options, options.env.databaseUrl, states);
    const excluded = new Set(options.config.exclude.map(normaliseTableName));
    picked.push(...tablesOfModules(options.config, map, [...new Set(modules)]).filter((t) => !excluded.has(t)));
  }
  return { kind: 'tables', tables: [...new Set(picked)], ...(modules.length > 0 ? { modules: [...new Set(modules)] } : {}) };
}

/**
 * Whether trying again could help: database and storage failures (exit codes 3 and 4, whoever
 * raised them) and unexpected errors may; a bad config, a migration problem, damaged data or an
 * interruption will not.
 */
function mayPassOnRetry(error: unknown): boolean {
  // A statement the server cuts off after statement_timeout, or a full disk, fails the same way
  // again a minute later: retrying only delays the one sentence the user needs.
  if ((error as { code?: unknown } | null)?.code === 'database-statement-timeout' || causedByFullDisk(error)) return false;
  const exitCode = (error as { exitCode?: unknown } | null)?.exitCode;
  if (typeof exitCode === 'number') return exitCode === 3 || exitCode === 4;
  return !isStrataErrorLike(error);
}

/** Whether a storage failure comes from a full disk or an exhausted quota (ENOSPC, EDQUOT) somewhere in its causes. */
function causedByFullDisk(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
    current = current instanceof Error ? current.cause : undefined;
  }
  return false;
}

/** Waits `ms`, or rejects as soon as the signal fires. */
async function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  throwIfAborted(signal, 'snapshot');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortedError('snapshot'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Captures the database at `databaseUrl` into a new snapshot of the context's environment. Used by
 * `snapshot` and by restore's safety snapshot of a database about to be replaced.
 *
 * Every table and every module's migration state is read in one REPEATABLE READ, READ ONLY
 * transaction, so the snapshot is one consistent point in time. A `selection` narrows it to some
 * tables, or to the rows of a tenant scope (whose transaction is read-write for its temp tables);
 * everything about it is checked before any data file is written. If anything fails or the
 * signal fires, every object already written is removed and no manifest is written: the snapshot
 * never lists as valid. The folder carries a lease (`snapshot-lease.ts`) from its first object
 * until the manifest, so no prune or other snapshot removes it while this capture runs, however
 * long; and folders that killed captures or copies left in the environment are removed meanwhile.
 */
export async function captureDatabase(
  ctx: OperationContext,
  databaseUrl: string,
  meta: { description?: string; tags?: string[]; transformer?: Transformer; selection?: CaptureSelection; compression?: Codec | Compression },
): Promise<SnapshotResult> {
  const started = Date.now();
  const { config, env, storage, signal } = ctx;
  throwIfAborted(signal, 'snapshot');
  const compression = resolveCompression(meta.compression ?? compressionOf(config, env));
  // The snapshot's own key, wrapped for the recipients (or the passphrase) before anything is
  // read: a passphrase that is not set fails here, not after the data was copied.
  const sealer = env.encryption?.sealTo ? await prepareSealer(env.encryption.sealTo) : undefined;
  const id = ulid();
  const prefix = snapshotPrefix(config.project, env.name, id);
  const driver = driverFor(databaseUrl);
  const client = await driver.connect(databaseUrl);
  let lease: SnapshotLease | undefined;
  let sweep: Promise<unknown> | undefined;
  try {
    // The lease is the folder's first object and lives until the manifest is written: while it
    // is refreshed, no prune and no other snapshot takes this folder for a dead capture's.
    lease = await SnapshotLease.take(storage, prefix, 'snapshot', { ...(ctx.log ? { log: ctx.log } : {}) });
    // Folders that a killed capture or copy left are removed while this one runs.
    sweep = removeAbandonedSnapshots(ctx, { except: id }).catch((sweepError: unknown) => {
      ctx.log?.('warn', `Could not look for folders left by killed captures: ${(sweepError as Error).message}`);
    });
    // A tenant scope keeps the keys of the rows it selects in ON COMMIT DROP temp tables, which a
    // READ ONLY transaction cannot create: it runs read-write, and writes nothing but those.
    await client.query(
      meta.selection?.kind === 'tenant' ? 'BEGIN ISOLATION LEVEL REPEATABLE READ' : 'BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY',
    );
    const { rows: [server] } = await client.query<{ database: string; version: string }>(
      "SELECT current_database() AS database, current_setting('server_version') AS version",
    );
    const modules = await readModuleStates(client, config);
    const skip = await migrationTableIds(client, config);
    const excludeSet = new Set(config.exclude.map(normaliseTableName));
    const all = await listTables(client);
    for (const name of excludeSet) {
      if (!all.some((t) => tableId(t.schema, t.name) === name)) ctx.log?.('warn', `The excluded table ${name} does not exist in the database.`);
    }
    // Tables are captured and listed in foreign-key order, so the manifest reads as a load plan.
    const candidates = inLoadOrder(
      all.filter((t) => !skip.has(tableId(t.schema, t.name)) && !excludeSet.has(tableId(t.schema, t.name))),
      await listForeignKeys(client),
    );
    const excluded = all.filter((t) => excludeSet.has(tableId(t.schema, t.name))).map((t) => tableId(t.schema, t.name));
    const selected = await applySelection(client, ctx, candidates, all.map((t) => tableId(t.schema, t.name)), meta.selection);
    const { tables, queries, counts } = selected;

    // Rules are checked against the schema before any row is read. They see every table a full
    // snapshot would hold, so rules for tables a selection leaves out stay valid.
    const transforms = new Map<TableInfo, TableTransform | undefined>();
    if (meta.transformer) {
      const schema = selected.schema ?? (await readSchemaInfo(client, candidates));
      await meta.transformer.prepare(schema);
      const picked = new Set(tables);
      schema.tables.forEach((info, i) => {
        if (picked.has(candidates[i]!)) transforms.set(candidates[i]!, meta.transformer!.forTable(info));
      });
    }

    const estimate = (t: TableInfo): number => counts?.get(tableId(t.schema, t.name)) ?? t.estimatedRows;
    const overallTotalRows = tables.reduce((sum, t) => sum + estimate(t), 0);
    let overallRows = 0;
    const entries: TableEntry[] = [];
    for (const table of tables) {
      throwIfAborted(signal, 'snapshot');
      await selected.beforeCopy?.(tableId(table.schema, table.name));
      const entry = await captureTable(client, ctx, prefix, { compression, ...(sealer ? { encryptTo: sealer.recipient } : {}) }, table, transforms.get(table), queries?.get(tableId(table.schema, table.name)), (rows, done) =>
        ctx.onProgress?.({
          phase: 'capture',
          item: tableId(table.schema, table.name),
          rows,
          totalRows: estimate(table),
          overallRows: overallRows + rows,
          overallTotalRows,
          done,
        }),
      );
      overallRows += entry.rows;
      entries.push(entry);
    }
    await faultPoint('snapshot:after-data', signal);
    const sequences = await readSequences(client);
    await client.query('COMMIT');

    const manifest: Manifest = {
      formatVersion: FORMAT_VERSION,
      id,
      project: config.project,
      environment: env.name,
      createdAt: new Date(started).toISOString(),
      ...(meta.description ? { description: meta.description } : {}),
      tags: [...new Set(meta.tags ?? [])],
      createdBy: currentUser(),
      strataVersion: STRATA_VERSION,
      source: sourceOf(driver, databaseUrl, server!),
      data: {
        format: 'postgresql-copy-text',
        compression: compression.codec,
        ...(compression.level !== undefined ? { level: compression.level } : {}),
        encoding: 'UTF8',
      },
      modules,
      tables: entries,
      sequences,
      excluded,
      transformers: meta.transformer
        ? [{
            name: meta.transformer.name,
            version: meta.transformer.version,
            rulesHash: meta.transformer.rulesHash,
            anonymizes: meta.transformer.anonymizes,
            rules: { ...meta.transformer.rules },
          }]
        : [],
      scope: selected.scope,
    };
    throwIfAborted(signal, 'snapshot');
    const stored = sealer ? await sealManifest(manifest, sealer.envelope, sealer.recipient) : manifest;
    await lease.confirm();
    await writeManifest(storage, prefix, stored, signal);
    // The snapshot exists now; a lease left behind by a failure here is only clutter.
    await lease.release().catch((releaseError: unknown) => {
      ctx.log?.('warn', `Could not remove the lease of snapshot ${id}: ${(releaseError as Error).message}.`);
    });
    await sweep;
    // As stored: what an encrypted snapshot seals stays out of the capture's output (CI logs) too.
    return { id, manifest: stored, location: `${storage.location.replace(/\/$/, '')}/${prefix}`, durationMs: Date.now() - started };
  } catch (error) {
    // A COPY may still be streaming: a ROLLBACK would queue behind it forever. Closing the
    // connection ends the transaction (and drops a scope's temp tables) just as well.
    await client.close({ force: true });
    // No refresh may land after the folder is gone: it would bring a lease back.
    await lease?.stop();
    await storage.removePrefix(prefix).catch((cleanupError: unknown) => {
      ctx.log?.('warn', `Could not remove the incomplete snapshot ${id}: ${(cleanupError as Error).message}. It has no manifest, so it does not list as valid.`);
    });
    await sweep;
    throw driver.translateError(normaliseAbort(error, signal, 'snapshot'), databaseUrl, 'read from');
  } finally {
    await client.close();
  }
}

/**
 * Streams one table: COPY TO STDOUT → transform (if any) → row counter → compressor → sha256 → storage.
 * A table the transform truncates is not read at all: its file holds no rows. With `select` (a
 * tenant scope's rows of the table, same columns in the same order) that query is copied instead.
 */
async function captureTable(
  client: DbSession,
  ctx: OperationContext,
  prefix: string,
  layout: { compression: Compression; /** Recipient of the snapshot key, when the files are encrypted. */ encryptTo?: string },
  table: TableInfo,
  transform: TableTransform | undefined,
  select: string | undefined,
  progress: (rows: number, done: boolean) => void,
): Promise<TableEntry> {
  const { compression, encryptTo } = layout;
  const file = dataFileName(table.schema, table.name, compression.codec, encryptTo !== undefined);
  // Before anything is written: a zstd binding that did not load fails here, in one sentence.
  const compress = await compressor(compression);
  const columns = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  const id = tableId(table.schema, table.name);
  const copy = select === undefined ? `COPY ${qualified(table.schema, table.name)} (${columns}) TO STDOUT` : `COPY (${select}) TO STDOUT`;
  const paused = faultPointStream('snapshot:copy-first-table', { signal: ctx.signal });
  const stages: Array<NodeJS.ReadableStream | NodeJS.ReadWriteStream> =
    transform?.kind === 'truncate'
      ? [Readable.from([])]
      : transform
        ? [client.copyOut(copy), ...(paused ? [paused] : []), new CopyRowTransform(transform, table.columns.length, id)]
        : [client.copyOut(copy), ...(paused ? [paused] : [])];
  const midFile = faultPointStream('snapshot:mid-file', { signal: ctx.signal });
  const counter = new CopyRowCounter((rows) => progress(rows, false));
  const digest = new DigestStream();
  // If the storage write fails, the stream feeding it must stop too, and the other way round.
  const local = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, local.signal]) : local.signal;
  const written = ctx.storage.write(`${prefix}${file}`, digest, { signal }).catch((error: unknown) => {
    local.abort(error);
    throw error;
  });
  // Encrypted: the compressed text is measured (its sha256 is sealed in the manifest), then age'd.
  const plain = encryptTo !== undefined ? new DigestStream() : undefined;
  const encrypting = plain ? [plain, encryptStream(encryptTo!)] : [];
  const streamed = pipeline([...stages, counter, compress, ...encrypting, ...(midFile ? [midFile] : []), digest], { signal }).catch((error: unknown) => {
    local.abort(error);
    throw error;
  });
  const [stream, write] = await Promise.allSettled([streamed, written]);
  // A storage that fails (a full disk) destroys the stream feeding it with its raw error, which
  // reaches the pipeline first: the storage's own translation of that error is what to report.
  // (A write that was only aborted because the stream failed carries the stream's error as its
  // cause too, but it is no storage error: the stream's is reported then.)
  const storageFailed = write.status === 'rejected' && typeof (write.reason as { exitCode?: unknown } | null)?.exitCode === 'number';
  if (storageFailed && (stream.status === 'fulfilled' || causedBy(write.reason, stream.reason))) throw write.reason;
  if (write.status === 'rejected' && stream.status === 'fulfilled') throw write.reason;
  if (stream.status === 'rejected') throw stream.reason;
  progress(counter.rows, true);
  return {
    schema: table.schema,
    name: table.name,
    file,
    columns: table.columns,
    rows: counter.rows,
    bytes: digest.bytes,
    // What entered the compressor: a restore stops decompressing there (a file that inflates further is refused).
    rawBytes: counter.bytes,
    sha256: digest.sha256,
    ...(plain ? { plainSha256: plain.sha256 } : {}),
  };
}

/** Whether `error` is `cause` or has it in its chain of causes. */
function causedBy(error: unknown, cause: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    if (current === cause) return true;
    current = current.cause;
  }
  return false;
}

function inLoadOrder(tables: TableInfo[], fks: ForeignKeyInfo[]): TableInfo[] {
  const byId = new Map(tables.map((t) => [tableId(t.schema, t.name), t]));
  const { order } = foreignKeyOrder(
    [...byId.keys()],
    fks.map((fk) => ({ from: tableId(fk.schema, fk.table), to: tableId(fk.refSchema, fk.refTable) })),
  );
  return order.map((id) => byId.get(id)!);
}

/** Each module's applied migrations, read in the capture's transaction. */
async function readModuleStates(client: Queryable, config: LoadedConfig): Promise<Record<string, ModuleEntry>> {
  const modules: Record<string, ModuleEntry> = {};
  for (const name of Object.keys(config.modules)) {
    const tableName = moduleTableName(config, name);
    const { rows: [found] } = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [quoteIdent(tableName)]);
    let applied: string[] = [];
    if (found?.oid) {
      const { rows } = await client.query<{ name: string }>(`SELECT name FROM ${quoteIdent(tableName)} ORDER BY id`);
      applied = rows.map((r) => r.name);
    }
    modules[name] = { tableName, last: applied[applied.length - 1] ?? null, applied };
  }
  return modules;
}

/** Current value of every user sequence (sequences are not transactional: read last). */
async function readSequences(client: Queryable): Promise<Manifest['sequences']> {
  const result: Manifest['sequences'] = [];
  for (const seq of await listSequences(client)) {
    const { rows: [state] } = await client.query<{ last_value: string; is_called: boolean }>(
      `SELECT last_value::text, is_called FROM ${qualified(seq.schema, seq.name)}`,
    );
    if (state) result.push({ schema: seq.schema, name: seq.name, lastValue: state.last_value, isCalled: state.is_called });
  }
  return result;
}

function currentUser(): string {
  let user = process.env.USER ?? 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // Containers without a passwd entry: keep $USER.
  }
  return `${user}@${os.hostname()}`;
}

/**
 * Where a snapshot was read from, for its manifest: database name, host (servers only) and server
 * version. A PGlite database is always "postgres" inside; its directory is the name users know.
 */
function sourceOf(driver: DatabaseDriver, url: string, server: { database: string; version: string }): Manifest['source'] {
  const described = driver.describe(url);
  return {
    database: driver.name === 'postgresql' ? server.database : described.database,
    ...(described.host ? { host: described.host } : {}),
    serverVersion: server.version,
  };
}
