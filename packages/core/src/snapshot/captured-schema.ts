import { text } from 'node:stream/consumers';

import type { LoadedConfig } from '../config/config-loader.js';
import type { RowValues, SchemaInfo, TableInfo } from '../contracts/transformer.js';
import type { DbSession, Queryable } from '../db/driver.js';
import { driverFor } from '../db/drivers.js';
import { listTables, normaliseTableName, readSchemaInfo, tableId } from '../db/pg-introspect.js';
import { qualified, quoteIdent } from '../db/sql-names.js';
import { decodeRow } from '../format/copy-text.js';
import { moduleTableName } from '../migrations/migration-source.js';

/**
 * The tables a snapshot of an environment would capture, read from its live database: what
 * `strata anonymize check` and `preview` compare rules with, and what the dashboard shows.
 */
export interface CapturedSchema {
  /** The database's own name (`current_database()`). */
  database: string;
  /** Every table a full snapshot captures (not the migration tables, not the config's `exclude`), as a transformer sees them. */
  schema: SchemaInfo;
  /** `schema.table` of the tables the config's `exclude` leaves out. */
  excluded: string[];
  /**
   * The first `limit` rows of a captured table, by primary key when it has one, as a capture's
   * transformer sees them: COPY's text of each value (`t`, `192.0.2.10`, `{a,b}`), decoded.
   */
  firstRows(table: TableInfo, limit: number): Promise<RowValues[]>;
}

/**
 * Reads the captured schema in one read-only REPEATABLE READ transaction and hands it to `use`,
 * which may read rows with `firstRows` in the same transaction; the session is closed afterwards.
 */
export async function withCapturedSchema<T>(databaseUrl: string, config: LoadedConfig, use: (view: CapturedSchema) => Promise<T>): Promise<T> {
  const client = await driverFor(databaseUrl).connect(databaseUrl);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const { rows: [db] } = await client.query<{ database: string }>('SELECT current_database() AS database');
    const skip = await migrationTableIds(client, config);
    const exclude = new Set(config.exclude.map(normaliseTableName));
    const all = (await listTables(client)).filter((t) => !skip.has(tableId(t.schema, t.name)));
    const schema = await readSchemaInfo(client, all.filter((t) => !exclude.has(tableId(t.schema, t.name))));
    const result = await use({
      database: db!.database,
      schema,
      excluded: all.filter((t) => exclude.has(tableId(t.schema, t.name))).map((t) => tableId(t.schema, t.name)),
      firstRows: (table, limit) => firstRows(client, table, limit),
    });
    await client.query('COMMIT');
    return result;
  } finally {
    await client.close();
  }
}

/** `schema.table` of every module's migrations table and its knex lock table: never captured. */
export async function migrationTableIds(client: Queryable, config: LoadedConfig): Promise<Set<string>> {
  const names = Object.keys(config.modules).flatMap((m) => {
    const t = moduleTableName(config, m);
    return [t, `${t}_lock`];
  });
  const { rows } = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM unnest($1::text[]) AS t(name)
       JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.name)) JOIN pg_namespace n ON n.oid = c.relnamespace`,
    [names],
  );
  return new Set(rows.map((r) => tableId(r.schema, r.name)));
}

async function firstRows(client: DbSession, table: TableInfo, limit: number): Promise<RowValues[]> {
  const select = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  const order = table.primaryKey.length > 0 ? ` ORDER BY ${table.primaryKey.map(quoteIdent).join(', ')}` : '';
  const limited = Math.max(0, Math.floor(limit));
  // COPY's own text, decoded as a capture decodes it: exactly what the transformer would see.
  const copied = await text(client.copyOut(`COPY (SELECT ${select} FROM ${qualified(table.schema, table.name)}${order} LIMIT ${limited}) TO STDOUT`));
  return copied === '' ? [] : copied.replace(/\n$/, '').split('\n').map(decodeRow);
}
