import { Args, Flags } from '@oclif/core';
import { normaliseTableName, withCapturedSchema } from '@strata/core';
import { BaseCommand, renderTable } from '@strata/core/command';

import { previewTable, type PreviewResult } from '../../anonymize-preview.js';

export type { PreviewResult, PreviewRow } from '../../anonymize-preview.js';

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

    const result = await withCapturedSchema(loaded.env.databaseUrl, loaded.config, (view) => previewTable(view, transformer, wanted, this.flags.limit));

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

/** A value for a terminal: control characters escaped, long values cut, NULL as `NULL`. */
function shown(value: string | null): string {
  if (value === null) return 'NULL';
  const escaped = value.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  const chars = Array.from(escaped);
  return chars.length <= SHOWN_CHARACTERS ? escaped : `${chars.slice(0, SHOWN_CHARACTERS - 1).join('')}…`;
}
