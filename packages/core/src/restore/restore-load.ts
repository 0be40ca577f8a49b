import { normaliseAbort, throwIfAborted } from '../abort.js';
import { faultPoint } from '../fault-point.js';
import type { DatabaseDriver, DbSession, Queryable } from '../db/driver.js';
import { driverFor } from '../db/drivers.js';
import { qualified, quoteIdent } from '../db/sql-names.js';
import type { TableTransform, Transformer } from '../contracts/transformer.js';
import { listForeignKeys, listIndexes, listSequences, listTables, normaliseTableName, readSchemaInfo, tableId, type ForeignKeyInfo, type IndexInfo, type TableInfo } from '../db/pg-introspect.js';
import { ConfigError, MigrationError } from '../errors.js';
import type { Manifest, TableEntry } from '../format/manifest-schema.js';
import type { OperationContext } from '../operation-context.js';
import { foreignKeyOrder } from '../tables/fk-order.js';
import { resolveTableNames } from '../tables/table-names.js';
import { selectionDependencies } from './restore-selection.js';
import { constraintViolation, loadTable } from './restore-table.js';
import { createIndexStatement, dropIndexStatement, enabledUserTriggers, planSetAside, rebuiltCounts, triggerStatement } from './set-aside.js';
import type { RestoreReport, RestoreTableResult } from './restore-types.js';

// restore --into loads its tables the same way.
export { loadTable } from './restore-table.js';

/**
 * Connections used to rebuild indexes and key constraints in parallel after the load. Each
 * statement locks one table and commits on its own, so parallel builds cannot deadlock.
 * Foreign keys lock two tables each and could, so they are added one at a time.
 */
const INDEX_CONNECTIONS = 2;

/** What the load did, for the report. */
export interface LoadResult {
  tables: RestoreTableResult[];
  skipped: { table: string; reason: string }[];
  rebuilt: RestoreReport['rebuilt'];
  sequencesReset: number;
  cycles: string[][];
}

/** Tables of the snapshot that exist in the migrated database, in foreign-key order. */
export interface LoadPlan {
  load: { entry: TableEntry; target: TableInfo }[];
  /** Tables left empty on purpose (`excludeTables`): truncated, not loaded. */
  emptied: TableInfo[];
  skipped: { table: string; reason: string }[];
  foreignKeys: ForeignKeyInfo[];
  cycles: string[][];
  /** With a selection: the tables added because selected tables reference them (`withDependencies`). */
  addedDependencies: string[];
}

/**
 * Which of a snapshot's tables a restore loads (`restore --tables/--modules`). Tables outside it
 * are not touched: they keep what the migrations left in them.
 */
export interface LoadSelection {
  /** Names as given (`table` or `schema.table`). */
  tables: string[];
  /** The tables the selected modules created at the snapshot's point (`schema.table`, see `tablesOfModules`). */
  moduleTables: string[];
  /** Add the tables the selection references (transitively) instead of refusing. */
  withDependencies: boolean;
}

/**
 * Matches the snapshot's tables with the database migrated to the snapshot's point. A table the
 * database lacks is skipped when a module of the snapshot was removed from the config, and refused
 * otherwise; a captured column the table lacks means the source had changes no migration made,
 * and loading would lose data, so that is an error too. With a
 * `selection`, only the selected tables load (and `exclude` applies among them only); a selected
 * table that references a table outside the selection is refused, or the table added with
 * `withDependencies`.
 */
export async function planLoad(
  client: Queryable,
  manifest: Manifest,
  removedModules: string[],
  exclude: string[] = [],
  selection?: LoadSelection,
): Promise<LoadPlan> {
  const targetTables = new Map((await listTables(client)).map((t) => [tableId(t.schema, t.name), t]));
  const foreignKeys = await listForeignKeys(client);
  const load: LoadPlan['load'] = [];
  const skipped: LoadPlan['skipped'] = [];
  const chosen = selection ? selectTables(manifest, targetTables, foreignKeys, selection) : undefined;
  if (chosen) skipped.push(...chosen.skipped);
  const excluded = new Set(exclude.map(normaliseTableName));
  for (const name of excluded) {
    if (!targetTables.has(name)) {
      throw new ConfigError(`The table ${name} to leave empty does not exist in the restored schema.`, {
        code: 'exclude-table-unknown',
        hint: 'Check the name (schema.table, schema public by default) in --exclude-table or the environment\'s restore.exclude.',
      });
    }
  }
  // Outside a selection, tables keep what the migrations left in them: none is emptied.
  if (chosen) for (const name of excluded) if (!chosen.tables.has(name)) excluded.delete(name);
  const emptied = [...excluded].map((name) => targetTables.get(name)!);
  // With every module of the snapshot in the config, its migrations create every table it holds:
  // one they do not is damage (or a table made by hand), and loading around it would end in a
  // foreign-key error half-way. Only a removed module explains a missing table.
  if (removedModules.length === 0) {
    const absent = manifest.tables.map((t) => tableId(t.schema, t.name)).filter((id) => !targetTables.has(id));
    if (absent.length > 0) {
      throw new MigrationError(
        `Snapshot ${manifest.id} holds table${absent.length > 1 ? 's' : ''} ${absent.slice(0, 5).join(', ')}${absent.length > 5 ? ` and ${absent.length - 5} more` : ''}, which the migrations at its point do not create.`,
        {
          code: 'schema-mismatch',
          hint: 'Either the source had tables made outside its migrations (add a migration for them, or list them in the config\'s exclude, then take a new snapshot), or the manifest was altered: restore another snapshot.',
        },
      );
    }
  }
  for (const entry of manifest.tables) {
    const id = tableId(entry.schema, entry.name);
    if (chosen && !chosen.tables.has(id)) continue;
    if (excluded.has(id)) {
      skipped.push({ table: id, reason: 'left empty (excluded)' });
      continue;
    }
    const target = targetTables.get(id);
    if (!target) {
      skipped.push({ table: id, reason: `no migration creates it any more (modules no longer in the config: ${removedModules.join(', ')})` });
      continue;
    }
    const have = new Set(target.columns.map((c) => c.name));
    const missing = entry.columns.filter((c) => !have.has(c.name)).map((c) => c.name);
    if (missing.length > 0) {
      throw new MigrationError(
        `Table ${id} in the snapshot has column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which the migrations at the snapshot's point do not create.`,
        {
          code: 'schema-mismatch',
          hint: 'The source database had schema changes made outside its migrations; add a migration that makes them, then take a new snapshot.',
        },
      );
    }
    load.push({ entry, target });
  }
  const ids = load.map(({ entry }) => tableId(entry.schema, entry.name));
  const { order, cycles } = foreignKeyOrder(
    ids,
    foreignKeys.map((fk) => ({ from: tableId(fk.schema, fk.table), to: tableId(fk.refSchema, fk.refTable) })),
  );
  const byId = new Map(load.map((l) => [tableId(l.entry.schema, l.entry.name), l]));
  // A loaded table whose foreign key points into an emptied one could not keep its rows.
  const broken = foreignKeys.find((fk) => byId.has(tableId(fk.schema, fk.table)) && excluded.has(tableId(fk.refSchema, fk.refTable)) && !excluded.has(tableId(fk.schema, fk.table)));
  if (broken) {
    throw new ConfigError(
      `Table ${tableId(broken.schema, broken.table)} references ${tableId(broken.refSchema, broken.refTable)} (${broken.name}), so ${tableId(broken.refSchema, broken.refTable)} cannot be left empty.`,
      { code: 'exclude-table-referenced', hint: `Leave ${tableId(broken.schema, broken.table)} empty as well, or restore ${tableId(broken.refSchema, broken.refTable)}.` },
    );
  }
  return { load: order.map((id) => byId.get(id)!), emptied, skipped, foreignKeys, cycles, addedDependencies: chosen?.added ?? [] };
}

/**
 * The tables a selection loads: named tables must be in the snapshot and in the migrated
 * database; a module's tables the snapshot does not hold stay as the migrations leave them; the
 * tables the selection references are added or refused (`selectionDependencies`).
 */
function selectTables(
  manifest: Manifest,
  targetTables: ReadonlyMap<string, TableInfo>,
  foreignKeys: ForeignKeyInfo[],
  selection: LoadSelection,
): { tables: Set<string>; added: string[]; skipped: LoadPlan['skipped'] } {
  const available = new Set(manifest.tables.map((t) => tableId(t.schema, t.name)).filter((id) => targetTables.has(id)));
  const named = resolveTableNames(selection.tables, available, `The database migrated to snapshot ${manifest.id}'s point`);
  const skipped: LoadPlan['skipped'] = [];
  for (const table of selection.moduleTables) {
    if (available.has(table)) continue;
    skipped.push({
      table,
      reason: manifest.excluded.includes(table) ? 'not in the snapshot (excluded when it was captured)' : 'not in the snapshot',
    });
  }
  const selected = [...new Set([...named, ...selection.moduleTables.filter((t) => available.has(t))])];
  const { tables, added } = selectionDependencies(
    selected,
    foreignKeys.map((fk) => ({ from: tableId(fk.schema, fk.table), to: tableId(fk.refSchema, fk.refTable) })),
    { add: selection.withDependencies, available },
  );
  return { tables: new Set(tables), added, skipped };
}

/**
 * Loads the data into `url`'s database, which migrations have brought to the snapshot's point:
 * foreign keys, primary keys, unique constraints and secondary indexes of the loaded tables are set
 * aside and user triggers disabled; every table is streamed from storage through its decompressor
 * into COPY, its checksum and row count checked; then indexes and constraints are rebuilt (which
 * also re-validates every foreign key), triggers re-enabled and sequences moved past the loaded
 * values.
 */
export async function loadData(
  ctx: OperationContext,
  url: string,
  manifest: Manifest,
  prefix: string,
  plan: LoadPlan,
  transformer?: Transformer,
  /** The snapshot's key, when its files are encrypted (see `openSnapshot`). */
  identity?: string,
): Promise<LoadResult> {
  const loadedIds = new Set(plan.load.map(({ entry }) => tableId(entry.schema, entry.name)));
  const driver = driverFor(url);
  const client = await driver.connect(url);
  let indexes: IndexInfo[] = [];
  let fks: ForeignKeyInfo[] = [];
  let restoreProperties: string[] = [];
  const tables: RestoreTableResult[] = [];
  const transforms = new Map<TableEntry, TableTransform | undefined>();
  try {
    // Rules are checked against the schema (keys included, so before they are set aside) before any row is read.
    if (transformer) {
      const schema = await readSchemaInfo(client, plan.load.map(({ entry }) => entry));
      await transformer.prepare(schema);
      schema.tables.forEach((info, i) => transforms.set(plan.load[i]!.entry, transformer.forTable(info)));
    }
    fks = plan.foreignKeys.filter((fk) => loadedIds.has(tableId(fk.schema, fk.table)) || loadedIds.has(tableId(fk.refSchema, fk.refTable)));
    const setAside = await planSetAside(client, (await listIndexes(client)).filter((i) => loadedIds.has(tableId(i.schema, i.table))), fks);
    indexes = setAside.indexes;
    restoreProperties = setAside.restoreProperties;

    await client.query('BEGIN');
    for (const fk of fks) await client.query(`ALTER TABLE ${qualified(fk.schema, fk.table)} DROP CONSTRAINT ${quoteIdent(fk.name)}`);
    for (const index of indexes) await client.query(dropIndexStatement(index));
    // By name, not DISABLE/ENABLE TRIGGER USER: a trigger a migration switched off (or set to
    // ALWAYS or REPLICA) comes back as it was.
    const triggers = await enabledUserTriggers(client, [...loadedIds]);
    for (const trigger of triggers) await client.query(triggerStatement(trigger, 'disable'));
    // The snapshot is the whole content of every table it holds: rows that migrations seeded
    // (reference data) are in it too, and would otherwise collide. Truncating in this
    // transaction also lets COPY write frozen rows.
    const emptied = plan.emptied.map((t) => qualified(t.schema, t.name));
    if (plan.load.length > 0 || emptied.length > 0) {
      await client.query(`TRUNCATE ${[...plan.load.map(({ entry }) => qualified(entry.schema, entry.name)), ...emptied].join(', ')}`);
    }

    const overallTotalRows = plan.load.reduce((sum, { entry }) => sum + entry.rows, 0);
    let overallRows = 0;
    for (const { entry } of plan.load) {
      throwIfAborted(ctx.signal, 'restore');
      const result = await loadTable(client, ctx, manifest, prefix, entry, transforms.get(entry), (rows, done) =>
        ctx.onProgress?.({
          phase: 'load',
          item: tableId(entry.schema, entry.name),
          rows,
          totalRows: entry.rows,
          overallRows: overallRows + rows,
          overallTotalRows,
          done,
        }),
        identity === undefined ? {} : { identity },
      );
      overallRows += result.rows;
      tables.push(result);
    }
    for (const trigger of triggers) await client.query(triggerStatement(trigger, 'restore'));
    await client.query('COMMIT');
  } catch (error) {
    // Not ROLLBACK: it would queue behind a COPY still in progress. The database is dropped anyway.
    await client.close({ force: true });
    throw normaliseAbort(error, ctx.signal, 'restore');
  }
  try {
    // Unique structures first: foreign keys need the referenced keys in place.
    await rebuild(ctx, driver, url, client, Math.min(INDEX_CONNECTIONS, driver.maxSessions), manifest.id, indexes.map((i) => ({
      item: i.name,
      table: tableId(i.schema, i.table),
      sql: createIndexStatement(i),
    })));
    await rebuild(ctx, driver, url, client, 1, manifest.id, fks.map((fk) => ({
      item: fk.name,
      table: tableId(fk.schema, fk.table),
      references: tableId(fk.refSchema, fk.refTable),
      sql: `ALTER TABLE ${qualified(fk.schema, fk.table)} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.definition}`,
    })));
    // Comments, CLUSTER ON and replica identity went with the dropped indexes and keys.
    for (const statement of restoreProperties) await client.query(statement);
    const sequencesReset = await resetSequences(client, manifest);
    return {
      tables,
      skipped: plan.skipped,
      rebuilt: rebuiltCounts(indexes, fks),
      sequencesReset,
      cycles: plan.cycles,
    };
  } finally {
    await client.close();
  }
}

/**
 * Runs DDL statements on up to `connections` new sessions at once, each statement on its own. A
 * single-session engine cannot open another while `held` is open: they run there, one by one.
 * Rows that break the index or constraint being built fail with a sentence naming both.
 */
async function rebuild(
  ctx: OperationContext,
  driver: DatabaseDriver,
  url: string,
  held: DbSession,
  connections: number,
  snapshotId: string,
  statements: { item: string; table: string; references?: string; sql: string }[],
): Promise<void> {
  if (statements.length === 0) return;
  const queue = [...statements];
  const workers = Math.min(connections, queue.length);
  const shared = driver.maxSessions <= 1;
  const clients: DbSession[] = [];
  try {
    if (shared) {
      clients.push(held);
    } else {
      for (let i = 0; i < workers; i++) {
        const c = await driver.connect(url);
        await c.query("SET maintenance_work_mem = '256MB'");
        clients.push(c);
      }
    }
    let done = 0;
    await Promise.all(
      clients.map(async (c) => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          throwIfAborted(ctx.signal, 'restore');
          try {
            await c.query(next.sql);
          } catch (error) {
            throw constraintViolation(error, next.table, snapshotId, { constraint: next.item, ...(next.references ? { references: next.references } : {}) }) ?? error;
          }
          ctx.onProgress?.({ phase: 'index', item: next.item, rows: ++done, totalRows: statements.length, done: true });
          await faultPoint('restore:index', ctx.signal);
        }
      }),
    );
  } finally {
    if (!shared) await Promise.all(clients.map((c) => c.close()));
  }
}

/**
 * Moves every sequence past both the value it had in the snapshot and the largest value loaded
 * into the column that owns it, so the next INSERT gets a fresh id.
 */
async function resetSequences(client: Queryable, manifest: Manifest): Promise<number> {
  const recorded = new Map(manifest.sequences.map((s) => [tableId(s.schema, s.name), s]));
  let reset = 0;
  for (const seq of await listSequences(client)) {
    const entry = recorded.get(tableId(seq.schema, seq.name));
    const nextFromSnapshot = entry ? (entry.isCalled ? `${entry.lastValue}::numeric + 1` : `${entry.lastValue}::numeric`) : 'NULL::numeric';
    const nextFromData = seq.ownerTable && seq.ownerColumn && seq.ownerSchema
      ? `(SELECT max(${quoteIdent(seq.ownerColumn)})::numeric + 1 FROM ${qualified(seq.ownerSchema, seq.ownerTable)})`
      : 'NULL::numeric';
    if (entry && !/^-?\d+$/.test(entry.lastValue)) continue;
    const { rows: [row] } = await client.query<{ value: string | null }>(
      `SELECT setval($1::regclass, greatest(${nextFromSnapshot}, ${nextFromData})::bigint, false)::text AS value`,
      [qualified(seq.schema, seq.name)],
    );
    if (row?.value !== null && row?.value !== undefined) reset++;
  }
  return reset;
}
