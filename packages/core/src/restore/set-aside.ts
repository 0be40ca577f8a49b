import type { Queryable } from '../db/driver.js';
import { tableId, type ForeignKeyInfo, type IndexInfo } from '../db/pg-introspect.js';
import { qualified, quoteIdent } from '../db/sql-names.js';

// A load is faster with the tables' indexes, unique constraints and foreign keys set aside (dropped
// before COPY, built again after it) than with every row inserted into every index: 0.43× the time at
// 1M rows with four indexes (docs/benchmarks.md, "Indexes during a restore --into"). Dropping an
// index or a constraint also drops what its definition does not carry, so that is read first and
// put back after the rebuild: comments, CLUSTER ON and REPLICA IDENTITY USING INDEX. An index in a
// tablespace of its own, or with a statistics target on one of its columns, stays in place during
// the load instead: rebuilding it would need more than its definition says.

/** What setting indexes and keys aside must leave alone, and what it must put back afterwards. */
export interface SetAsidePlan {
  /** The indexes (and the PK/unique constraints they back) to drop before the load and build after it. */
  indexes: IndexInfo[];
  /** Statements that give the rebuilt indexes and keys back their comments, clustering and replica identity. */
  restoreProperties: string[];
}

/**
 * Of `indexes` (from `listIndexes`) and `foreignKeys` (from `listForeignKeys`), about to be
 * dropped and rebuilt around a load, the ones that can be and what to run once they are back.
 */
export async function planSetAside(client: Queryable, indexes: IndexInfo[], foreignKeys: ForeignKeyInfo[]): Promise<SetAsidePlan> {
  if (indexes.length === 0 && foreignKeys.length === 0) return { indexes, restoreProperties: [] };
  const { rows: indexRows } = await client.query<{ schema: string; name: string; keepInPlace: boolean; statements: string[] }>(`
    SELECT n.nspname AS schema, ic.relname AS name,
           ic.reltablespace <> 0 OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget > 0) AS "keepInPlace",
           array_remove(ARRAY[
             CASE WHEN obj_description(i.indexrelid, 'pg_class') IS NOT NULL
                  THEN format('COMMENT ON INDEX %I.%I IS %L', n.nspname, ic.relname, obj_description(i.indexrelid, 'pg_class')) END,
             CASE WHEN obj_description(con.oid, 'pg_constraint') IS NOT NULL
                  THEN format('COMMENT ON CONSTRAINT %I ON %I.%I IS %L', con.conname, n.nspname, c.relname, obj_description(con.oid, 'pg_constraint')) END,
             CASE WHEN i.indisclustered THEN format('ALTER TABLE %I.%I CLUSTER ON %I', n.nspname, c.relname, ic.relname) END,
             CASE WHEN i.indisreplident THEN format('ALTER TABLE %I.%I REPLICA IDENTITY USING INDEX %I', n.nspname, c.relname, ic.relname) END
           ], NULL) AS statements
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u')
     WHERE n.nspname || '.' || ic.relname = ANY($1::text[])`,
    [indexes.map((i) => tableId(i.schema, i.name))],
  );
  // Each CASE without a match is NULL, which array_remove drops (format's %L would print NULL as a word).
  const byId = new Map(indexRows.map((r) => [tableId(r.schema, r.name), r]));
  const kept = indexes.filter((i) => byId.get(tableId(i.schema, i.name))?.keepInPlace !== true);
  const { rows: keyRows } = await client.query<{ statement: string }>(`
    SELECT format('COMMENT ON CONSTRAINT %I ON %I.%I IS %L', con.conname, n.nspname, c.relname, d.description) AS statement
      FROM pg_constraint con
      JOIN pg_description d ON d.objoid = con.oid AND d.classoid = 'pg_constraint'::regclass
      JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE con.contype = 'f' AND n.nspname || '.' || c.relname || '.' || con.conname = ANY($1::text[])`,
    [foreignKeys.map((fk) => `${tableId(fk.schema, fk.table)}.${fk.name}`)],
  );
  return {
    indexes: kept,
    restoreProperties: [...kept.flatMap((i) => byId.get(tableId(i.schema, i.name))?.statements ?? []), ...keyRows.map((r) => r.statement)],
  };
}

/** What a load rebuilt, as `RestoreReport['rebuilt']` counts it. */
export function rebuiltCounts(indexes: IndexInfo[], foreignKeys: unknown[]): { indexes: number; constraints: number; foreignKeys: number } {
  const constraints = indexes.filter((i) => i.constraintType).length;
  return { indexes: indexes.length - constraints, constraints, foreignKeys: foreignKeys.length };
}

/** The statement that drops an index, or the constraint it backs. */
export function dropIndexStatement(index: IndexInfo): string {
  return index.constraintType
    ? `ALTER TABLE ${qualified(index.schema, index.table)} DROP CONSTRAINT ${quoteIdent(index.name)}`
    : `DROP INDEX ${qualified(index.schema, index.name)}`;
}

/** The statement that builds an index (or the constraint it backs) again from its definition. */
export function createIndexStatement(index: IndexInfo): string {
  return index.constraintType ? `ALTER TABLE ${qualified(index.schema, index.table)} ADD CONSTRAINT ${quoteIdent(index.name)} ${index.definition}` : index.definition;
}

/** A user trigger that is enabled now, and how (`O` origin, `A` always, `R` replica). */
export interface EnabledTrigger {
  schema: string;
  table: string;
  name: string;
  enabled: 'O' | 'A' | 'R';
}

/**
 * User triggers enabled on `tables`. Each is disabled and later re-enabled by name, in its own
 * mode, rather than with `DISABLE/ENABLE TRIGGER USER`: that would switch on triggers someone had
 * switched off (in the live database, or a migration did).
 */
export async function enabledUserTriggers(client: Queryable, tables: string[]): Promise<EnabledTrigger[]> {
  const { rows } = await client.query<EnabledTrigger>(
    `SELECT n.nspname AS schema, c.relname AS table, t.tgname AS name, t.tgenabled AS enabled
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND n.nspname || '.' || c.relname = ANY($1::text[])
      ORDER BY 1, 2, 3`,
    [tables],
  );
  return rows;
}

/** `ALTER TABLE … DISABLE TRIGGER` or the statement that puts the trigger back in its mode. */
export function triggerStatement(trigger: EnabledTrigger, action: 'disable' | 'restore'): string {
  const mode = action === 'disable' ? 'DISABLE' : trigger.enabled === 'A' ? 'ENABLE ALWAYS' : trigger.enabled === 'R' ? 'ENABLE REPLICA' : 'ENABLE';
  return `ALTER TABLE ${qualified(trigger.schema, trigger.table)} ${mode} TRIGGER ${quoteIdent(trigger.name)}`;
}
