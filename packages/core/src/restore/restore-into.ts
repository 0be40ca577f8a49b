import { normaliseAbort, throwIfAborted } from '../abort.js';
import type { DbSession, Queryable } from '../db/driver.js';
import { driverFor } from '../db/drivers.js';
import { qualified, quoteIdent } from '../db/sql-names.js';
import type { TableTransform, Transformer } from '../contracts/transformer.js';
import { listIndexes, listTables, readSchemaInfo, tableId, type IndexInfo } from '../db/pg-introspect.js';
import { ConfigError, DatabaseError, redactUrl } from '../errors.js';
import { snapshotPrefix } from '../format/manifest-io.js';
import { MANIFEST_FILE, type Manifest, type TableEntry } from '../format/manifest-schema.js';
import { moduleTablesAt, tablesOfModules } from '../migrations/module-tables.js';
import type { OperationContext } from '../operation-context.js';
import { captureDatabase } from '../snapshot/snapshot-capture.js';
import { resolveTableNames } from '../tables/table-names.js';
import { formatDuration } from '../text/unit-format.js';
import {
  advanceOwnedSequences,
  assertSameColumns,
  assertSameModuleVersions,
  breaksReferencesError,
  connectInto,
  countOrphans,
  countRows,
  foreignKeysTouching,
  type ForeignKey,
  type IntoTarget,
} from './restore-into-live.js';
import { loadTable } from './restore-load.js';
import { constraintViolation } from './restore-table.js';
import { createIndexStatement, dropIndexStatement, enabledUserTriggers, planSetAside, rebuiltCounts, triggerStatement } from './set-aside.js';
import { checkRestoreRequest, openRestoreSource, planHeader, type CheckedRestore } from './restore-plan.js';
import type { RestoreOptions, RestorePlan, RestoreReport, RestoreTableResult } from './restore-types.js';

/** How long the restore waits for other sessions to let go of the tables before giving up. */
const LOCK_TIMEOUT_MS = 30_000;

/**
 * Replaces the contents of the selected tables (`tables`/`modules`) of an existing, live database
 * (`into`) with a snapshot's rows, all tables or none:
 * 1. refuses unless the database's module versions equal the snapshot's, and each selected table
 *    has the snapshot's columns; a dry run stops here and reports current and new row counts;
 * 2. in one transaction: locks the selected tables and their foreign-key neighbours against
 *    writes, takes a safety snapshot of the selected tables (which sees exactly the rows about to
 *    be replaced), then sets aside the foreign keys from and to them, disables their user
 *    triggers, truncates them (nothing else) and loads them with COPY;
 * 3. checks that no row of a table left alone points at a missing row (and the other way round),
 *    puts every foreign key back (validating it), re-enables the triggers, moves owned sequences
 *    forward and commits.
 * Any failure or abort rolls the transaction back: the database is as before, and the safety
 * snapshot, then useless, is removed.
 *
 * `tuning.lockTimeoutMs` (default 30 s) bounds the wait for other sessions' locks on the tables.
 */
export async function restoreInto(options: RestoreOptions, tuning: { lockTimeoutMs?: number } = {}, checked?: CheckedRestore): Promise<RestoreReport> {
  const started = Date.now();
  const ctx: OperationContext = options;
  const { config, signal } = options;
  const request = checked ?? checkRestoreRequest(options);
  if (request.targetKind !== 'into') {
    throw new ConfigError('No database to restore into was given.', { code: 'invalid-arguments', hint: 'Pass --into with a database name or URL.' });
  }
  const { target } = request;
  const warnings: string[] = [];
  const warn = (message: string): void => {
    warnings.push(message);
    ctx.log?.('warn', message);
  };

  const source = await openRestoreSource(options);
  const { from, opened, manifest, transformer, prefix } = source;
  if (manifest.scope?.kind === 'tenant') {
    // Its tables hold only some tenants' rows: replacing a live table with them would delete
    // every other tenant's rows, which nobody asked for.
    throw new ConfigError(`Snapshot ${manifest.id} holds only the rows of ${manifest.scope.name} ${(manifest.scope.values ?? []).join(', ')}, so it cannot replace whole tables of a live database.`, {
      code: 'into-tenant-snapshot',
      hint: 'Restore it into a new database instead (leave out --into).',
    });
  }

  const client = await connectInto(target);
  const run: RunState = { stage: 'checking' };
  const lockTimeoutMs = tuning.lockTimeoutMs ?? LOCK_TIMEOUT_MS;
  try {
    // Before anything is captured or changed.
    await assertSameModuleVersions(client, config, manifest, target.database);
    const selected = await selectEntries(ctx, options, manifest, target, warn);
    assertSameColumns(selected, await listTables(client), target.database, manifest.id);
    const ids = new Set(selected.map(entryId));
    const foreignKeys = await foreignKeysTouching(client, ids);
    const neighbours = [...new Set(foreignKeys.flatMap((fk) => [tableId(fk.schema, fk.table), tableId(fk.refSchema, fk.refTable)]))]
      .filter((t) => !ids.has(t))
      .sort();

    const plan: RestorePlan = {
      ...planHeader(source, request, target.server),
      migrationsBefore: [],
      migrationsAfter: [],
      tables: selected.map((e) => ({ table: entryId(e), rows: e.rows })),
      skipped: manifest.tables.filter((e) => !ids.has(entryId(e))).map((e) => ({ table: entryId(e), reason: `not selected; left as it is in ${target.database}` })),
      into: { database: target.database, emptied: [] },
    };
    const empty = { indexes: 0, constraints: 0, foreignKeys: 0 };
    if (options.dryRun) {
      plan.into = { database: target.database, emptied: await countRows(client, selected) };
      return { plan, dryRun: true, database: target.database, tables: [], rebuilt: empty, sequencesReset: 0, warnings, durationMs: Date.now() - started };
    }

    const transforms = await prepareTransforms(client, transformer, selected);
    throwIfAborted(signal, 'restore');
    run.backend = (await client.query<{ pid: number; started: string }>(
      'SELECT pid, backend_start::text AS started FROM pg_stat_activity WHERE pid = pg_backend_pid()',
    )).rows[0];

    await client.query('BEGIN');
    run.stage = 'transaction';
    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`);
    // SHARE stops every writer but lets the safety snapshot (another session) read.
    await lockTables(client, [...ids, ...neighbours], 'SHARE');
    plan.into = { database: target.database, emptied: await countRows(client, selected) };
    const safety = await captureDatabase(ctx, target.url, {
      description: `Safety snapshot of ${[...ids].join(', ')} in ${target.database} before restoring them from ${manifest.id}`,
      tags: ['safety'],
      selection: { kind: 'tables', tables: [...ids] },
    });
    run.safetySnapshotId = safety.id;
    ctx.log?.('info', `Safety snapshot ${safety.id} taken of ${[...ids].join(', ')} in ${target.database}.`);

    throwIfAborted(signal, 'restore');
    await lockTables(client, [...ids], 'ACCESS EXCLUSIVE');
    await lockTables(client, neighbours, 'SHARE ROW EXCLUSIVE');
    // Loading into bare tables and building their indexes once is faster than maintaining every
    // index row by row (see set-aside.ts); the end state is the same, comments and all, which are
    // read before anything is dropped.
    const setAside = await planSetAside(client, (await listIndexes(client)).filter((i) => ids.has(tableId(i.schema, i.table))), foreignKeys);
    for (const fk of foreignKeys) await client.query(`ALTER TABLE ${qualified(fk.schema, fk.table)} DROP CONSTRAINT ${quoteIdent(fk.name)}`);
    const triggers = await enabledUserTriggers(client, [...ids]);
    for (const trigger of triggers) await client.query(triggerStatement(trigger, 'disable'));
    // TRUNCATE, not DELETE: no dead rows to vacuum afterwards. Never CASCADE: the foreign keys
    // into these tables are set aside; ONLY, as COPY TO captured them: inheriting tables keep their rows.
    // TRUNCATE is not MVCC-safe: a REPEATABLE READ transaction that began before the commit and
    // had not read these tables yet sees them empty. Accepted for speed; DELETE would bloat them.
    await client.query(`TRUNCATE ONLY ${selected.map((e) => qualified(e.schema, e.name)).join(', ')}`);
    for (const index of setAside.indexes) await client.query(dropIndexStatement(index));

    const tables = await loadAll(from, client, manifest, prefix, selected, transforms, opened.identity);

    throwIfAborted(signal, 'restore');
    const totalRebuilt = setAside.indexes.length + foreignKeys.length;
    let rebuilt = 0;
    await client.query(`SET LOCAL maintenance_work_mem = '256MB'`);
    for (const index of setAside.indexes) {
      await rebuildIndex(client, index, manifest.id);
      ctx.onProgress?.({ phase: 'index', item: index.name, rows: ++rebuilt, totalRows: totalRebuilt, done: true });
    }
    await checkReferences(client, foreignKeys, ids);
    for (const fk of foreignKeys) {
      await readdForeignKey(client, fk, ids);
      ctx.onProgress?.({ phase: 'index', item: fk.name, rows: ++rebuilt, totalRows: totalRebuilt, done: true });
    }
    for (const statement of setAside.restoreProperties) await client.query(statement);
    for (const trigger of triggers) await client.query(triggerStatement(trigger, 'restore'));
    // Sequences are not transactional: moved forward only, a rollback after this point leaves
    // just a gap in the ids.
    const sequencesReset = await advanceOwnedSequences(client, [...ids]);
    throwIfAborted(signal, 'restore');
    run.stage = 'committing';
    await client.query('COMMIT');
    run.stage = 'committed';
    return {
      plan: { ...plan, tables: tables.map((t) => ({ table: t.table, rows: t.rows })) },
      dryRun: false,
      database: target.database,
      tables,
      rebuilt: rebuiltCounts(setAside.indexes, foreignKeys),
      sequencesReset,
      warnings,
      safetySnapshotId: safety.id,
      durationMs: Date.now() - started,
    };
  } catch (error) {
    await abandon(ctx, client, target, run, error);
    throw translateFailure(normaliseAbort(error, signal, 'restore'), target, lockTimeoutMs);
  } finally {
    await client.close();
  }
}

/** Where a run got to, for cleaning up after a failure. */
interface RunState {
  stage: 'checking' | 'transaction' | 'committing' | 'committed';
  backend?: { pid: number; started: string } | undefined;
  safetySnapshotId?: string;
}

/** The snapshot's entries for `tables` and `modules`, in the snapshot's (foreign-key) order. */
async function selectEntries(
  ctx: OperationContext,
  options: RestoreOptions,
  manifest: Manifest,
  target: IntoTarget,
  warn: (message: string) => void,
): Promise<TableEntry[]> {
  const inSnapshot = new Set(manifest.tables.map(entryId));
  const chosen = new Set(resolveTableNames(options.tables ?? [], inSnapshot, `Snapshot ${manifest.id}`));
  if (options.modules?.length) {
    const map = await moduleTablesAt(ctx, target.url, manifest.modules);
    for (const table of tablesOfModules(ctx.config, map, options.modules)) {
      if (inSnapshot.has(table)) chosen.add(table);
      else warn(`Table ${table} of module ${map.get(table)} is not in snapshot ${manifest.id}; it is left as it is in ${target.database}.`);
    }
  }
  const entries = manifest.tables.filter((e) => chosen.has(entryId(e)));
  if (entries.length === 0) {
    throw new ConfigError(`Snapshot ${manifest.id} holds none of the selected tables.`, {
      code: 'selection-empty',
      hint: `\`strata show ${manifest.id}\` lists its tables.`,
    });
  }
  return entries;
}

/** Checks a transformer's rules against the live schema before anything is locked or changed. */
async function prepareTransforms(client: Queryable, transformer: Transformer | undefined, entries: TableEntry[]): Promise<Map<TableEntry, TableTransform | undefined>> {
  const transforms = new Map<TableEntry, TableTransform | undefined>();
  if (!transformer) return transforms;
  const schema = await readSchemaInfo(client, entries);
  await transformer.prepare(schema);
  schema.tables.forEach((info, i) => transforms.set(entries[i]!, transformer.forTable(info)));
  return transforms;
}

async function lockTables(client: Queryable, tables: string[], mode: string): Promise<void> {
  if (tables.length === 0) return;
  const names = tables.map((t) => {
    const dot = t.indexOf('.');
    return qualified(t.slice(0, dot), t.slice(dot + 1));
  });
  await client.query(`LOCK TABLE ONLY ${names.join(', ')} IN ${mode} MODE`);
}

/**
 * Streams every selected table in, without FREEZE: frozen rows would be visible to other
 * sessions' older snapshots of a live database.
 */
async function loadAll(
  ctx: OperationContext,
  client: DbSession,
  manifest: Manifest,
  prefix: string,
  entries: TableEntry[],
  transforms: Map<TableEntry, TableTransform | undefined>,
  identity: string | undefined,
): Promise<RestoreTableResult[]> {
  const overallTotalRows = entries.reduce((sum, e) => sum + e.rows, 0);
  let overallRows = 0;
  const results: RestoreTableResult[] = [];
  for (const entry of entries) {
    throwIfAborted(ctx.signal, 'restore');
    const result = await loadTable(client, ctx, manifest, prefix, entry, transforms.get(entry), (rows, done) =>
      ctx.onProgress?.({ phase: 'load', item: entryId(entry), rows, totalRows: entry.rows, overallRows: overallRows + rows, overallTotalRows, done }),
      { freeze: false, ...(identity === undefined ? {} : { identity }) },
    );
    overallRows += result.rows;
    results.push(result);
  }
  return results;
}

/**
 * Counts, for each set-aside foreign key between a restored table and one left alone, the rows
 * that would point at nothing, so the refusal can say how many and where. Keys between two
 * restored tables come from one consistent snapshot; re-adding them checks them anyway. A key
 * that was NOT VALID is put back as such and never checked.
 */
async function checkReferences(client: Queryable, foreignKeys: ForeignKey[], selected: ReadonlySet<string>): Promise<void> {
  const broken: { fk: ForeignKey; rows: number }[] = [];
  for (const fk of foreignKeys) {
    if (!fk.validated) continue;
    if (selected.has(tableId(fk.schema, fk.table)) && selected.has(tableId(fk.refSchema, fk.refTable))) continue;
    const rows = await countOrphans(client, fk);
    if (rows > 0) broken.push({ fk, rows });
  }
  if (broken.length > 0) throw breaksReferencesError(broken, selected);
}

/** Builds a set-aside index (or the key it backs) again; rows that break it fail with a sentence naming table and constraint. */
async function rebuildIndex(client: Queryable, index: IndexInfo, snapshotId: string): Promise<void> {
  try {
    await client.query(createIndexStatement(index));
  } catch (error) {
    throw constraintViolation(error, tableId(index.schema, index.table), snapshotId, { constraint: index.name }) ?? error;
  }
}

async function readdForeignKey(client: Queryable, fk: ForeignKey, selected: ReadonlySet<string>): Promise<void> {
  try {
    await client.query(`ALTER TABLE ${qualified(fk.schema, fk.table)} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.definition}`);
  } catch (error) {
    // Only keys between two restored tables get here unchecked: the snapshot's own rows (or a
    // transformer's changes to them) do not hold together.
    if ((error as { code?: string }).code !== '23503') throw error;
    throw new ConfigError(
      `Restoring would leave rows of ${tableId(fk.schema, fk.table)} pointing at missing rows of ${tableId(fk.refSchema, fk.refTable)} (${fk.name}); nothing was changed.`,
      {
        code: 'restore-into-breaks-references',
        hint: selected.has(tableId(fk.refSchema, fk.refTable))
          ? 'The snapshot\'s rows do not satisfy this key (check the transformer\'s rules, if any); restore into a fresh database to inspect them.'
          : `Restore ${tableId(fk.refSchema, fk.refTable)} too, or restore into a fresh database without --into.`,
        cause: error,
      },
    );
  }
}

/**
 * After a failure: makes sure the transaction is rolled back before returning, and removes the
 * safety snapshot when nothing was changed. A COPY may be in progress, and ROLLBACK would queue
 * behind it, so the connection is dropped and its server process ended; the server then rolls
 * back. Only a COMMIT whose answer never arrived leaves the outcome unknown: then the safety
 * snapshot is kept.
 */
async function abandon(ctx: OperationContext, client: DbSession, target: IntoTarget, run: RunState, error: unknown): Promise<void> {
  if (run.stage === 'checking') return;
  await client.close({ force: true });
  if (run.backend) await endBackend(target.url, run.backend);
  const answeredByServer = typeof (error as { severity?: unknown } | null)?.severity === 'string';
  if (run.stage === 'committing' && !answeredByServer) {
    ctx.log?.('warn', `The connection to ${target.database} was lost during COMMIT, so the restore may or may not have been applied; safety snapshot ${run.safetySnapshotId ?? '(none)'} is kept.`);
    return;
  }
  ctx.log?.('info', `Rolled back: ${target.database} is unchanged.`);
  if (!run.safetySnapshotId) return;
  const prefix = snapshotPrefix(ctx.config.project, ctx.env.name, run.safetySnapshotId);
  try {
    // The manifest first, so a removal that stops half-way leaves nothing that lists as valid.
    await ctx.storage.removePrefix(`${prefix}${MANIFEST_FILE}`);
    await ctx.storage.removePrefix(prefix);
  } catch (cleanupError) {
    ctx.log?.('warn', `Could not remove the safety snapshot ${run.safetySnapshotId}, which is no longer needed: ${(cleanupError as Error).message}.`);
  }
}

/**
 * Ends the server process of the abandoned connection (identified by pid and start time, so a
 * reused pid is never hit) and waits until it is gone: its locks are then released and its
 * transaction rolled back. Best effort: if the server cannot be reached, it rolls back by itself.
 */
async function endBackend(url: string, backend: { pid: number; started: string }): Promise<void> {
  let admin: DbSession | undefined;
  try {
    admin = await driverFor(url).connect(url);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { rows } = await admin.query<{ ended: boolean }>(
        'SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE pid = $1 AND backend_start::text = $2',
        [backend.pid, backend.started],
      );
      if (rows.length === 0 || Date.now() > deadline) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch {
    // Unreachable now: the server notices the closed connection and rolls back on its own.
  } finally {
    if (admin) await admin.close();
  }
}

/** Lock trouble in one sentence; other errors as restore phrases them. */
function translateFailure(error: unknown, target: IntoTarget, lockTimeoutMs: number): unknown {
  const code = (error as { code?: string } | null)?.code;
  if (code === '55P03') {
    return new DatabaseError(`Could not lock the selected tables of ${target.database} within ${formatDuration(lockTimeoutMs)}: other sessions are using them; nothing was changed.`, {
      code: 'restore-into-lock-timeout',
      hint: 'Wait for long transactions on these tables to end (see pg_stat_activity), then run it again.',
      cause: error,
    });
  }
  if (code === '40P01') {
    return new DatabaseError(`Another session's transaction on the selected tables of ${target.database} deadlocked with the restore; nothing was changed.`, {
      code: 'restore-into-lock-timeout',
      hint: 'Run it again, ideally when the application is quiet.',
      cause: error,
    });
  }
  return driverFor(target.url).translateError(error, redactUrl(target.url), 'restore into');
}

function entryId(entry: { schema: string; name: string }): string {
  return tableId(entry.schema, entry.name);
}
