import type { LoadedConfig } from '../config/config-loader.js';
import type { DbSession, Queryable } from '../db/driver.js';
import { driverFor } from '../db/drivers.js';
import { qualified, quoteIdent } from '../db/sql-names.js';
import { listForeignKeys, tableId, type ForeignKeyInfo, type TableInfo } from '../db/pg-introspect.js';
import { ConfigError, DatabaseError, MigrationError } from '../errors.js';
import type { Manifest, TableEntry } from '../format/manifest-schema.js';
import { migrationKey, moduleTableName } from '../migrations/migration-source.js';

// The parts of `restoreInto` that read or change the live database, kept apart so the
// orchestration in restore-into.ts reads as the sequence of steps it is.

/** The live database a restore `--into` replaces tables in. */
export interface IntoTarget {
  /** URL with credentials: never print. */
  url: string;
  database: string;
  /** `host:port`, for messages. */
  server: string;
}

/**
 * `into` is a full database URL (any scheme a driver handles: `postgres://…`, `pglite://…`), or a
 * database name on the server of `targetUrl` when given, else on the environment's server.
 */
export function resolveIntoTarget(into: string, envDatabaseUrl: string, targetUrl?: string): IntoTarget {
  let url: string;
  const base = targetUrl ?? envDatabaseUrl;
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(into);
  const driver = driverFor(isUrl ? into : base);
  try {
    url = isUrl ? new URL(into).toString() : driver.withDatabase(base, into);
  } catch {
    throw new ConfigError('The database given to --into is neither a database name nor a valid database URL.', {
      code: 'into-invalid',
      hint: 'Give the name of a database on the environment\'s server, or a URL such as postgres://user@host:5432/shop_dev.',
    });
  }
  const { server, database } = driver.describe(url);
  return { url, database, server };
}

/** Connects to the live database; a database that does not exist is named as such. */
export async function connectInto(target: IntoTarget): Promise<DbSession> {
  try {
    return await driverFor(target.url).connect(target.url);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'database-not-found') throw error;
    throw new DatabaseError(`There is no database "${target.database}" on ${target.server} to restore into.`, {
      code: 'database-not-found',
      hint: 'Check the name given to --into, or leave --into out to restore into a new database.',
      cause: error,
    });
  }
}

/**
 * Refuses (`module-versions-differ`) unless every module has applied the same migrations in the
 * live database as in the snapshot: only then do the snapshot's rows fit the live tables as the
 * migrations define them. A module on one side only differs, unless neither side applied any of
 * its migrations. Modules no longer in the config are read from the history table the snapshot names.
 */
export async function assertSameModuleVersions(client: Queryable, config: LoadedConfig, manifest: Manifest, database: string): Promise<void> {
  const names = [...new Set([...Object.keys(config.modules), ...Object.keys(manifest.modules)])].sort();
  const differences: string[] = [];
  for (const name of names) {
    const historyTable = name in config.modules ? moduleTableName(config, name) : manifest.modules[name]!.tableName;
    const live = (await appliedMigrations(client, historyTable)).map(migrationKey);
    const recorded = manifest.modules[name]?.applied.map(migrationKey);
    const liveLast = live[live.length - 1] ?? 'no migration';
    if (recorded === undefined) {
      if (live.length > 0) differences.push(`${name} is at ${liveLast} in ${database}, the snapshot does not have it`);
      continue;
    }
    if (recorded.length === live.length && recorded.every((m, i) => m === live[i])) continue;
    const recordedLast = recorded[recorded.length - 1] ?? 'no migration';
    differences.push(
      liveLast === recordedLast
        ? `${name} has ${live.length} migrations applied in ${database} and ${recorded.length} in the snapshot, both ending at ${liveLast}`
        : `${name} is at ${liveLast} in ${database}, the snapshot at ${recordedLast}`,
    );
  }
  if (differences.length === 0) return;
  throw new ConfigError(`The module versions of ${database} differ from snapshot ${manifest.id}'s: ${differences.join('; ')}.`, {
    code: 'module-versions-differ',
    hint: `Restore into a fresh database instead (\`strata restore ${manifest.id} --tables …\` without --into), which migrates the snapshot's rows to the current migrations.`,
  });
}

async function appliedMigrations(client: Queryable, historyTable: string): Promise<string[]> {
  const { rows: [found] } = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::text AS oid', [quoteIdent(historyTable)]);
  if (!found?.oid) return [];
  const { rows } = await client.query<{ name: string }>(`SELECT name FROM ${quoteIdent(historyTable)} ORDER BY id`);
  return rows.map((r) => r.name);
}

/**
 * Every selected table must exist in the live database with exactly the snapshot's columns and
 * types: with equal module versions a difference means a schema change made outside migrations,
 * and loading would lose data or fail half-way.
 */
export function assertSameColumns(entries: TableEntry[], live: TableInfo[], database: string, snapshotId: string): void {
  const byId = new Map(live.map((t) => [tableId(t.schema, t.name), t]));
  const hint = `The schema of ${database} was changed outside its migrations; restore into a fresh database instead (\`strata restore ${snapshotId} --tables …\` without --into).`;
  for (const entry of entries) {
    const id = tableId(entry.schema, entry.name);
    const table = byId.get(id);
    if (!table) throw new MigrationError(`Table ${id} of snapshot ${snapshotId} does not exist in ${database}.`, { code: 'schema-mismatch', hint });
    const liveTypes = new Map(table.columns.map((c) => [c.name, c.type]));
    const recorded = new Set(entry.columns.map((c) => c.name));
    const differing = [
      ...entry.columns.filter((c) => liveTypes.get(c.name) !== c.type).map((c) => c.name),
      ...table.columns.filter((c) => !recorded.has(c.name)).map((c) => c.name),
    ];
    if (differing.length > 0) {
      throw new MigrationError(`Table ${id} has different columns in ${database} and in snapshot ${snapshotId}: ${differing.join(', ')}.`, { code: 'schema-mismatch', hint });
    }
  }
}

/** A foreign key with its columns, as needed to set it aside, check it by hand and put it back. */
export type ForeignKey = ForeignKeyInfo;

/** The foreign keys from or to any of `tables` (`schema.table` ids). */
export async function foreignKeysTouching(client: Queryable, tables: ReadonlySet<string>): Promise<ForeignKey[]> {
  return (await listForeignKeys(client)).filter((fk) => tables.has(tableId(fk.schema, fk.table)) || tables.has(tableId(fk.refSchema, fk.refTable)));
}

/**
 * Rows of the foreign key's table whose key matches no row of the referenced table, counted the
 * way the constraint checks them: a key with a NULL part is not checked, and neither table's
 * inheriting tables take part.
 */
export async function countOrphans(client: Queryable, fk: ForeignKey): Promise<number> {
  const present = fk.columns.map((c) => `c.${quoteIdent(c)} IS NOT NULL`).join(' AND ');
  const match = fk.columns.map((c, i) => `p.${quoteIdent(fk.refColumns[i]!)} = c.${quoteIdent(c)}`).join(' AND ');
  const { rows: [row] } = await client.query<{ n: string }>(
    `SELECT count(*) AS n FROM ONLY ${qualified(fk.schema, fk.table)} c
      WHERE ${present} AND NOT EXISTS (SELECT 1 FROM ONLY ${qualified(fk.refSchema, fk.refTable)} p WHERE ${match})`,
  );
  return Number(row?.n ?? 0);
}

/** The error for foreign keys a restore would break (the selection is what needs changing, hence a ConfigError). */
export function breaksReferencesError(broken: { fk: ForeignKey; rows: number }[], selected: ReadonlySet<string>): ConfigError {
  const parts = broken.map(({ fk, rows }) =>
    `${rows} row${rows === 1 ? '' : 's'} of ${tableId(fk.schema, fk.table)} pointing at missing rows of ${tableId(fk.refSchema, fk.refTable)} (${fk.name})`);
  const others = [...new Set(broken.flatMap(({ fk }) => [tableId(fk.schema, fk.table), tableId(fk.refSchema, fk.refTable)]).filter((t) => !selected.has(t)))];
  return new ConfigError(`Restoring would leave ${parts.join(' and ')}; nothing was changed.`, {
    code: 'restore-into-breaks-references',
    hint: others.length > 0
      ? `Restore ${others.join(', ')} too (add ${others.length === 1 ? 'it' : 'them'} to --tables), or restore into a fresh database without --into.`
      : 'Restore into a fresh database without --into.',
  });
}

/**
 * Moves each ascending sequence owned by a column of `tables` to at least that column's largest
 * value + 1, never backwards: other sessions may already have taken values past the loaded ones.
 * Returns how many moved.
 */
export async function advanceOwnedSequences(client: Queryable, tables: string[]): Promise<number> {
  const { rows: sequences } = await client.query<{ schema: string; name: string; table_schema: string; table_name: string; column_name: string; increment: string }>(
    `SELECT sn.nspname AS schema, s.relname AS name, tn.nspname AS table_schema, t.relname AS table_name, a.attname AS column_name,
            seq.seqincrement::text AS increment
       FROM pg_class s JOIN pg_namespace sn ON sn.oid = s.relnamespace JOIN pg_sequence seq ON seq.seqrelid = s.oid
       JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
       JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
      WHERE s.relkind = 'S' AND tn.nspname || '.' || t.relname = ANY($1::text[])
      ORDER BY 1, 2`,
    [tables],
  );
  let moved = 0;
  for (const seq of sequences) {
    if (BigInt(seq.increment) < 0n) continue;
    const { rows: [row] } = await client.query<{ moved: boolean }>(
      `WITH now AS (
         SELECT CASE WHEN is_called THEN last_value::numeric + $2::numeric ELSE last_value::numeric END AS next,
                (SELECT max(${quoteIdent(seq.column_name)})::numeric + 1 FROM ${qualified(seq.table_schema, seq.table_name)}) AS needed
           FROM ${qualified(seq.schema, seq.name)})
       SELECT CASE WHEN needed > next THEN setval($1::regclass, needed::bigint, false) IS NOT NULL ELSE false END AS moved FROM now`,
      [qualified(seq.schema, seq.name), seq.increment],
    );
    if (row?.moved) moved++;
  }
  return moved;
}

/** Exact row counts of `tables` (without inheriting tables, as COPY reads them), for the plan (`into.emptied`). */
export async function countRows(client: Queryable, tables: { schema: string; name: string }[]): Promise<{ table: string; rows: number }[]> {
  const counts: { table: string; rows: number }[] = [];
  for (const t of tables) {
    const { rows: [row] } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ONLY ${qualified(t.schema, t.name)}`);
    counts.push({ table: tableId(t.schema, t.name), rows: Number(row?.n ?? 0) });
  }
  return counts;
}
