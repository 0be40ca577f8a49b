import type { RowValues, SchemaInfo, TableInfo, Transformer } from '@strata/contracts';

import { AnonymizeError, closeNames } from './anonymize-error.js';

// `strata anonymize preview` as library code: the first rows of a table before and after masking,
// for the command, the typed API and the dashboard alike.

/** One row, before and after masking: column → text value (PostgreSQL's text form) or null. */
export interface PreviewRow {
  before: Record<string, string | null>;
  after: Record<string, string | null>;
  /** Columns whose value the rules changed. */
  changed: string[];
}

/** What `strata anonymize preview` shows. */
export interface PreviewResult {
  table: string;
  database: string;
  /** `rows`: rows are masked; `truncate`: a snapshot holds none of them; `none`: no rule applies. */
  effect: 'rows' | 'truncate' | 'none';
  /** Column (or `column.path`) → rule name, for this table's rules. */
  rules: Record<string, string>;
  columns: string[];
  /** Columns of the table's primary key (rows are read in its order). */
  primaryKey: string[];
  rows: PreviewRow[];
}

/** The tables a snapshot captures, and a way to read a few rows of one (core's `withCapturedSchema` gives it). */
export interface PreviewSource {
  database: string;
  schema: SchemaInfo;
  excluded: string[];
  firstRows(table: TableInfo, limit: number): Promise<RowValues[]>;
}

/**
 * Masks the first `limit` rows of `table` (`schema.table`) as a capture would: the transformer is
 * prepared with every captured table, so key rules reach this one through foreign keys. A table
 * the rules truncate, or that no rule touches, is reported without reading a row.
 */
export async function previewTable(source: PreviewSource, transformer: Transformer, table: string, limit: number): Promise<PreviewResult> {
  const info = source.schema.tables.find((t) => `${t.schema}.${t.name}` === table);
  if (!info) throw unknownTable(table, source.schema.tables.map((t) => `${t.schema}.${t.name}`), source.excluded);
  await transformer.prepare(source.schema);
  const transform = transformer.forTable(info);
  const columns = info.columns.map((c) => c.name);
  const base = { table, database: source.database, rules: rulesOf(transformer.rules, table), columns, primaryKey: info.primaryKey };
  // Nothing to compare: no row is read.
  if (!transform || transform.kind === 'truncate') return { ...base, effect: transform ? 'truncate' : 'none', rows: [] };
  const rows = await source.firstRows(info, limit);
  return {
    ...base,
    effect: 'rows',
    rows: rows.map((before) => {
      const after = transform.transformRow(before.slice());
      return { before: asRecord(columns, before), after: asRecord(columns, after), changed: columns.filter((_, i) => before[i] !== after[i]) };
    }),
  };
}

/** This table's rules from the transformer's `schema.table.column` → rule map, keyed by column (or column.path). */
function rulesOf(all: Record<string, string>, table: string): Record<string, string> {
  const prefix = `${table}.`;
  return Object.fromEntries(Object.entries(all).filter(([target]) => target.startsWith(prefix)).map(([target, rule]) => [target.slice(prefix.length), rule]));
}

function asRecord(columns: string[], values: RowValues): Record<string, string | null> {
  return Object.fromEntries(columns.map((c, i) => [c, values[i] ?? null]));
}

function unknownTable(wanted: string, tables: string[], excluded: string[]): AnonymizeError {
  if (excluded.includes(wanted)) {
    return new AnonymizeError(`Table ${wanted} is excluded from snapshots by the config, so no rule ever masks it.`, {
      code: 'anonymize-preview-excluded',
      hint: 'Preview a table that snapshots capture; `strata anonymize check` lists them.',
      exitCode: 2,
    });
  }
  const near = closeNames(wanted, tables);
  return new AnonymizeError(`There is no table ${wanted} among the tables a snapshot captures.`, {
    code: 'anonymize-preview-unknown-table',
    hint: near.length > 0 ? `Did you mean ${near.join(', ')}?` : 'Name it as `table` (schema public) or `schema.table`.',
    exitCode: 2,
  });
}
