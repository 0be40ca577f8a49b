import { text } from 'node:stream/consumers';
import { Args, Flags } from '@oclif/core';
import { decodeRow, driverFor, normaliseTableName, readSchemaInfo, type DbSession, type RowValues, type TableInfo } from '@strata/core';
import { BaseCommand, renderTable } from '@strata/core/command';

import { AnonymizeError, closeNames } from '../../anonymize-error.js';
import { capturedTables } from './check.js';

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

const SHOWN_CHARACTERS = 48;

export default class AnonymizePreview extends BaseCommand<typeof AnonymizePreview> {
  static override summary = 'Show the first rows of a table before and after masking, side by side.';

  static override description = `Reads the first rows of a table of the environment's database (by primary key, in a read-only transaction) and masks them with the config's anonymize rules exactly as \`strata snapshot --anonymize\` would, salt included. Masked columns show their value before and after; other columns are listed as unchanged.

This prints real data from the database on your terminal, personal data included: it is meant for the operator who may already read that database. Do not run it in CI or paste its output into tickets or chats.`;

  static override examples = [
    { description: 'Five rows of customers, before and after masking.', command: 'STRATA_ANON_SALT=… <%= config.bin %> <%= command.id %> customers' },
    { description: 'Two rows of a table in another schema, on staging, as JSON.', command: '<%= config.bin %> <%= command.id %> crm.contacts --limit 2 --env staging --json' },
  ];

  static override args = {
    table: Args.string({ description: 'Table, as `table` (schema public) or `schema.table`.', required: true }),
  };

  static override flags = {
    limit: Flags.integer({ summary: 'How many rows to show.', default: 5, min: 1, max: 1000, helpValue: 'N' }),
  };

  async run(): Promise<PreviewResult> {
    const loaded = await this.loadEnvironment();
    const transformer = await this.resolveAnonymizer(loaded.config, loaded.env);
    const wanted = normaliseTableName(this.args.table);

    const client = await driverFor(loaded.env.databaseUrl).connect(loaded.env.databaseUrl);
    let result: PreviewResult;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const { rows: [db] } = await client.query<{ database: string }>('SELECT current_database() AS database');
      const { tables, excluded } = await capturedTables(client, loaded.config);
      const index = tables.findIndex((t) => `${t.schema}.${t.name}` === wanted);
      if (index < 0) throw unknownTable(wanted, tables.map((t) => `${t.schema}.${t.name}`), excluded);
      // The rules are planned against every table a snapshot captures, as in a real capture:
      // key rules reach this table through foreign keys from the others.
      const schema = await readSchemaInfo(client, tables);
      await transformer.prepare(schema);
      const info = schema.tables[index]!;
      const transform = transformer.forTable(info);
      const rules = rulesOf(transformer.rules, wanted);
      const columns = info.columns.map((c) => c.name);
      const base = { table: wanted, database: db!.database, rules, columns, primaryKey: info.primaryKey };
      if (!transform || transform.kind === 'truncate') {
        // Nothing to compare: no row is read.
        result = { ...base, effect: transform ? 'truncate' : 'none', rows: [] };
      } else {
        const rows = await firstRows(client, info, this.flags.limit);
        result = {
          ...base,
          effect: 'rows',
          rows: rows.map((before) => {
            const after = transform.transformRow(before.slice());
            return {
              before: asRecord(columns, before),
              after: asRecord(columns, after),
              changed: columns.filter((_, i) => before[i] !== after[i]),
            };
          }),
        };
      }
      await client.query('COMMIT');
    } finally {
      await client.close();
    }

    this.render(result);
    return result;
  }

  private render(result: PreviewResult): void {
    if (this.jsonEnabled()) return;
    if (result.effect === 'truncate') {
      this.log(`The rules truncate ${result.table}: a snapshot keeps its schema and none of its rows.`);
      return;
    }
    if (result.effect === 'none') {
      this.log(`No rule applies to ${result.table}: a snapshot captures its rows as they are.`);
      return;
    }
    this.logToStderr(`Real data of database ${result.database} follows (the BEFORE column): keep it on this terminal.`);
    const ruled = Object.keys(result.rules);
    const maskedColumns = result.columns.filter((c) => ruled.some((r) => r === c || r.startsWith(`${c}.`) || r.startsWith(`${c}[`)));
    this.log(`${result.table}: ${result.rows.length} row${result.rows.length === 1 ? '' : 's'}; rules: ${ruled.map((r) => `${r} (${result.rules[r]})`).join(', ')}.`);
    // Rows are labelled by their primary key, unless it is masked (it would show personal data twice).
    const keyColumns = result.primaryKey.every((k) => !maskedColumns.includes(k)) ? result.primaryKey : [];
    const lines: string[][] = [];
    result.rows.forEach((row, i) => {
      const label = keyColumns.length > 0 ? keyColumns.map((k) => `${k}=${shown(row.before[k] ?? null)}`).join(' ') : `#${i + 1}`;
      maskedColumns.forEach((column, j) => {
        lines.push([j === 0 ? label : '', column, shown(row.before[column] ?? null), row.changed.includes(column) ? shown(row.after[column] ?? null) : '(unchanged)']);
      });
    });
    this.log(renderTable([{ header: 'ROW' }, { header: 'COLUMN' }, { header: 'BEFORE' }, { header: 'AFTER' }], lines));
    const unchanged = result.columns.filter((c) => !maskedColumns.includes(c));
    if (unchanged.length > 0) this.log(`Columns without a rule (copied as they are): ${unchanged.join(', ')}.`);
  }
}

/**
 * The first `limit` rows, by primary key when there is one, as the text each type's output function
 * prints: what COPY writes and the transformer sees in a capture (`t`, `192.0.2.10`, `{a,b}`), not
 * what a `::text` cast gives (`true`, `192.0.2.10/32`).
 */
async function firstRows(client: DbSession, table: TableInfo, limit: number): Promise<RowValues[]> {
  const select = table.columns.map((c) => ident(c.name)).join(', ');
  const order = table.primaryKey.length > 0 ? ` ORDER BY ${table.primaryKey.map(ident).join(', ')}` : '';
  const limited = Math.max(0, Math.floor(limit));
  // COPY's own text, decoded as a capture decodes it: exactly what the transformer would see.
  const copied = await text(client.copyOut(`COPY (SELECT ${select} FROM ${ident(table.schema)}.${ident(table.name)}${order} LIMIT ${limited}) TO STDOUT`));
  return copied === '' ? [] : copied.replace(/\n$/, '').split('\n').map(decodeRow);
}

/** This table's rules from the transformer's `schema.table.column` → rule map, keyed by column (or column.path). */
function rulesOf(all: Record<string, string>, table: string): Record<string, string> {
  const prefix = `${table}.`;
  return Object.fromEntries(Object.entries(all).filter(([target]) => target.startsWith(prefix)).map(([target, rule]) => [target.slice(prefix.length), rule]));
}

function asRecord(columns: string[], values: RowValues): Record<string, string | null> {
  return Object.fromEntries(columns.map((c, i) => [c, values[i] ?? null]));
}

/** A value for a terminal: control characters escaped, long values cut, NULL as `NULL`. */
function shown(value: string | null): string {
  if (value === null) return 'NULL';
  const escaped = value.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  const chars = Array.from(escaped);
  return chars.length <= SHOWN_CHARACTERS ? escaped : `${chars.slice(0, SHOWN_CHARACTERS - 1).join('')}…`;
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
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
