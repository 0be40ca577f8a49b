import type { Queryable } from './driver.js';
import type { SchemaInfo } from '../contracts/transformer.js';

/** A user table with the columns strata captures and loads. */
export interface TableInfo {
  schema: string;
  name: string;
  /** Non-generated columns in attribute order, with `format_type()` names. */
  columns: { name: string; type: string }[];
  /** Planner's row estimate (for progress before the real count is known). */
  estimatedRows: number;
}

/** A foreign key from `schema.table` to `refSchema.refTable`. */
export interface ForeignKeyInfo {
  schema: string;
  table: string;
  name: string;
  refSchema: string;
  refTable: string;
  /** `pg_get_constraintdef`: re-adding it restores it exactly (NOT VALID, DEFERRABLE, actions). */
  definition: string;
  /** Referencing and referenced columns, in key order. */
  columns: string[];
  refColumns: string[];
  /** False for a key added NOT VALID and never validated. */
  validated: boolean;
}

/** An index or a PK/unique constraint, with the SQL that recreates it. */
export interface IndexInfo {
  schema: string;
  table: string;
  name: string;
  /** `p` primary key, `u` unique constraint, `null` for a plain index. */
  constraintType: 'p' | 'u' | null;
  /** `CREATE INDEX …` for plain indexes, `PRIMARY KEY (…)`/`UNIQUE (…)` for constraints. */
  definition: string;
}

/** A sequence and, when a column owns it (serial or identity), that column. */
export interface SequenceInfo {
  schema: string;
  name: string;
  ownerSchema: string | null;
  ownerTable: string | null;
  ownerColumn: string | null;
}

const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'`;
// Objects that belong to an extension are the extension's business, not the app's data.
const NOT_EXTENSION_MEMBER = (oid: string): string =>
  `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;

/** Every ordinary user table (partition leaves included), sorted by schema and name. */
export async function listTables(client: Queryable): Promise<TableInfo[]> {
  const { rows } = await client.query<{ schema: string; name: string; estimate: string; columns: { name: string; type: string }[] | null }>(`
    SELECT n.nspname AS schema, c.relname AS name, greatest(c.reltuples, 0)::bigint AS estimate,
           (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
              FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS columns
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND ${USER_SCHEMAS} AND ${NOT_EXTENSION_MEMBER('c.oid')}
     ORDER BY n.nspname, c.relname`);
  return rows.map((r) => ({ schema: r.schema, name: r.name, columns: r.columns ?? [], estimatedRows: Number(r.estimate) }));
}

/** Every foreign key between user tables. */
export async function listForeignKeys(client: Queryable): Promise<ForeignKeyInfo[]> {
  const { rows } = await client.query<ForeignKeyInfo>(`
    SELECT n.nspname AS schema, c.relname AS table, con.conname AS name,
           rn.nspname AS "refSchema", rc.relname AS "refTable", pg_get_constraintdef(con.oid) AS definition,
           con.convalidated AS validated,
           to_json(ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                           JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord)) AS columns,
           to_json(ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                           JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord)) AS "refColumns"
      FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_class rc ON rc.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
     WHERE con.contype = 'f' AND con.conparentid = 0 AND ${USER_SCHEMAS}
     ORDER BY n.nspname, c.relname, con.conname`);
  return rows;
}

/**
 * Indexes and the PK/unique constraints they back, on ordinary tables. Indexes backing exclusion
 * constraints, and partitions' inherited indexes, are left out: strata leaves those in place.
 */
export async function listIndexes(client: Queryable): Promise<IndexInfo[]> {
  const { rows } = await client.query<{ schema: string; table: string; name: string; contype: string | null; definition: string }>(`
    SELECT n.nspname AS schema, c.relname AS table, ic.relname AS name, con.contype,
           CASE WHEN con.oid IS NULL THEN pg_get_indexdef(i.indexrelid) ELSE pg_get_constraintdef(con.oid) END AS definition
      FROM pg_index i
      JOIN pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
     WHERE c.relkind = 'r' AND ${USER_SCHEMAS} AND NOT c.relispartition
       AND (con.contype IS NULL OR con.contype IN ('p', 'u'))
       AND NOT EXISTS (SELECT 1 FROM pg_inherits inh WHERE inh.inhrelid = i.indexrelid)
     ORDER BY n.nspname, c.relname, ic.relname`);
  return rows.map((r) => ({
    schema: r.schema,
    table: r.table,
    name: r.name,
    constraintType: r.contype === 'p' || r.contype === 'u' ? r.contype : null,
    definition: r.definition,
  }));
}

/** Every user sequence, with the column that owns it (serial `DEFAULT nextval` or identity). */
export async function listSequences(client: Queryable): Promise<SequenceInfo[]> {
  const { rows } = await client.query<SequenceInfo>(`
    SELECT n.nspname AS schema, s.relname AS name, tn.nspname AS "ownerSchema", t.relname AS "ownerTable", a.attname AS "ownerColumn"
      FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
      LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
      LEFT JOIN pg_class t ON t.oid = d.refobjid
      LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
      LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
     WHERE s.relkind = 'S' AND ${USER_SCHEMAS} AND ${NOT_EXTENSION_MEMBER('s.oid')}
     ORDER BY n.nspname, s.relname`);
  return rows;
}

/** `schema.table` as strata names tables in manifests, messages and the `exclude` list. */
export function tableId(schema: string, name: string): string {
  return `${schema}.${name}`;
}

/** Normalises an `exclude` entry: `table` means `public.table`. */
export function normaliseTableName(name: string): string {
  return name.includes('.') ? name : `public.${name}`;
}

/**
 * What a transformer needs to know about `tables`: columns (in the given order, with nullability),
 * primary key, unique constraints and indexes, and foreign keys with their columns. Read before
 * any constraint is set aside, so restore sees the schema as the migrations made it.
 */
export async function readSchemaInfo(client: Queryable, tables: Array<{ schema: string; name: string; columns: Array<{ name: string; type: string }> }>): Promise<SchemaInfo> {
  const { rows: notNull } = await client.query<{ schema: string; table: string; column: string }>(`
    SELECT n.nspname AS schema, c.relname AS table, a.attname AS column
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull AND ${USER_SCHEMAS}`);
  const { rows: uniques } = await client.query<{ schema: string; table: string; primary: boolean; columns: string[] }>(`
    SELECT n.nspname AS schema, c.relname AS table, i.indisprimary AS primary,
           to_json(ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord)) AS columns
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE i.indisunique AND c.relkind = 'r' AND ${USER_SCHEMAS}
     ORDER BY 1, 2, 3 DESC`);
  const fks = await listForeignKeys(client);
  const required = new Set(notNull.map((r) => `${tableId(r.schema, r.table)}\0${r.column}`));
  return {
    tables: tables.map((t) => {
      const id = tableId(t.schema, t.name);
      const mine = uniques.filter((u) => tableId(u.schema, u.table) === id);
      return {
        schema: t.schema,
        name: t.name,
        columns: t.columns.map((c) => ({ name: c.name, type: c.type, nullable: !required.has(`${id}\0${c.name}`) })),
        primaryKey: mine.find((u) => u.primary)?.columns ?? [],
        // An expression index has no plain columns to name: it cannot tell a transformer anything.
        unique: mine.filter((u) => !u.primary && u.columns.length > 0).map((u) => u.columns),
        foreignKeys: fks
          .filter((fk) => tableId(fk.schema, fk.table) === id)
          .map((fk) => ({ columns: fk.columns, references: { schema: fk.refSchema, table: fk.refTable, columns: fk.refColumns } })),
      };
    }),
  };
}
