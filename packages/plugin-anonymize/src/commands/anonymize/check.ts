import { Flags } from '@oclif/core';
import {
  driverFor,
  listTables,
  moduleTableName,
  normaliseTableName,
  readSchemaInfo,
  showSnapshot,
  type LoadedConfig,
  type Manifest,
  type SchemaInfo,
} from '@strata/core';
import { BaseCommand, renderTable } from '@strata/core/command';

// The rule engine (zod, faker's locales) is imported when a check runs, not when oclif loads this
// module to list the commands: every strata command would otherwise pay ~30 MB and its load time.
import type { AnonymizeConfig } from '../../anonymize-config.js';
import { AnonymizeError } from '../../anonymize-error.js';
import { looksPersonal, type PersonalCategory } from '../../personal-columns.js';

/** A column that looks personal and has no rule. */
export interface UnruledColumn {
  table: string;
  column: string;
  type: string;
  category: PersonalCategory;
  reason: string;
  /** A transformer that would fit, as a starting point. */
  suggestion: string;
}

/** A rule that applies: to a column (or a JSON path of it), or to a whole table (`truncate`). */
export interface CoveredTarget {
  /** `schema.table.column[.path]`, or `schema.table` for a table rule. */
  target: string;
  rule: string;
  /** Set when the column got a key rule through a foreign key from this column. */
  propagatedFrom?: string;
  /** Whether the column looks personal (a rule on a column that does not is fine). */
  personal: boolean;
}

/** A rule that does not fit the schema: a missing table or column, a key column without `key: true`, a type it cannot mask… */
export interface RuleProblem {
  code: string;
  message: string;
  hint?: string;
}

/** What `strata anonymize check` found. */
export interface CheckReport {
  ok: boolean;
  source: { kind: 'database'; database: string } | { kind: 'snapshot'; id: string; environment: string };
  /** Tables compared (the ones a snapshot captures). */
  tables: number;
  columns: number;
  unruled: UnruledColumn[];
  ruleProblems: RuleProblem[];
  covered: CoveredTarget[];
  /** Tables the config's `exclude` leaves out of snapshots (never checked). */
  excluded: string[];
}

export default class AnonymizeCheck extends BaseCommand<typeof AnonymizeCheck> {
  static override summary = 'Check the anonymize rules against the schema: personal-looking columns without a rule, rules that match nothing.';

  static override description = `Compares the rules of the config's anonymize section with the tables a snapshot of the environment captures: the live database's schema, or with --snapshot the columns a snapshot's manifest records. It fails (exit code 2) when

  - a column looks personal (by its name or type: email, phone, name parts, address, birth date, IP address, IBAN, card number, national id, password, token, secret…) and has no rule, or
  - a rule names a table or column that does not exist, or cannot apply (a key column without "key": true, a type the transformer cannot write…).

A column that looks personal but is not (or that you decided to keep) passes with the rule "keep": it is copied as it is and counts as covered. Columns of tables the rules truncate and of tables the config's exclude leaves out are not reported.

Meant as a CI step after migrations: it reads no rows, only the catalog, inside a read-only transaction, and it never reads the salt, so CI needs no secret. Exit codes: 0 all covered; 2 a gap or a bad rule (--json prints the whole report with the error); 3 the database cannot be read; 4 the snapshot cannot be read.`;

  static override examples = [
    { description: 'Check the rules against the dev database.', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'In CI, against the database the migrations just ran on, as JSON.', command: '<%= config.bin %> <%= command.id %> --env ci --json' },
    {
      description: "Check the rules against the columns of prod's newest snapshot (before restoring it with --anonymize).",
      command: '<%= config.bin %> <%= command.id %> --env prod --snapshot latest',
    },
  ];

  static override flags = {
    snapshot: Flags.string({
      summary: "Compare with a snapshot's columns (id or `latest`) instead of the live database.",
      helpValue: 'ID',
    }),
  };

  async run(): Promise<CheckReport> {
    const loaded = await this.loadEnvironment();
    const rules = await parseRulesForCheck(loaded.config);
    let report: CheckReport;
    if (this.flags.snapshot === undefined) {
      const { schema, database, excluded } = await readLiveSchema(loaded.config, loaded.env.databaseUrl);
      report = await checkRules(rules, schema, { kind: 'database', database }, excluded);
    } else {
      const ctx = await this.loadContext(loaded);
      const manifest = await showSnapshot(ctx, this.flags.snapshot);
      if (rules.tables.some((t) => t.rule.kind === 'columns' && [...t.rule.columns.values()].some((r) => r.key))) {
        this.note('warn', 'A manifest records no keys, so key rules do not reach the columns that reference them here: such a column shows as unruled unless it has its own rule.');
      }
      report = await checkRules(rules, schemaOfManifest(manifest), { kind: 'snapshot', id: manifest.id, environment: manifest.environment }, manifest.excluded);
    }

    this.render(report);
    if (!report.ok) {
      this.partialResult = report as unknown as Record<string, unknown>;
      throw checkFailed(report);
    }
    return report;
  }

  private render(report: CheckReport): void {
    if (this.jsonEnabled()) return;
    const source = report.source.kind === 'database' ? `database ${report.source.database}` : `snapshot ${report.source.id} of ${report.source.environment}`;
    this.log(`Checked the anonymize rules against ${source}: ${report.tables} tables, ${report.columns} columns.`);
    if (report.unruled.length > 0) {
      this.log(`\nPersonal-looking columns without a rule (${report.unruled.length}):`);
      this.log(
        renderTable(
          [{ header: 'COLUMN' }, { header: 'TYPE' }, { header: 'WHY' }, { header: 'SUGGESTED RULE' }],
          report.unruled.map((u) => [`${u.table}.${u.column}`, u.type, u.reason, `"${u.suggestion}"`]),
        ),
      );
    }
    if (report.ruleProblems.length > 0) {
      this.log(`\nRules that do not fit the schema (${report.ruleProblems.length}):`);
      for (const p of report.ruleProblems) this.log(`  ${p.message}${p.hint ? ` ${p.hint}` : ''}`);
    }
    this.log(`\nCovered by a rule (${report.covered.length}):`);
    if (report.covered.length > 0) {
      this.log(
        renderTable(
          [{ header: 'TARGET' }, { header: 'RULE' }, { header: 'NOTE' }],
          report.covered.map((c) => [c.target, c.rule, c.propagatedFrom ? `key rule of ${c.propagatedFrom}` : c.personal ? '' : 'does not look personal']),
        ),
      );
    }
    if (report.excluded.length > 0) this.log(`\nNot checked (excluded from snapshots): ${report.excluded.join(', ')}.`);
    if (report.ok) this.logToStderr('Every personal-looking column has a rule, and every rule fits the schema.');
  }
}

/**
 * Parses the anonymize section for a check. The salt only keys the masks, which a check never
 * computes, so a `${VAR}` salt is not read: CI can run the check without the secret.
 */
async function parseRulesForCheck(config: LoadedConfig): Promise<AnonymizeConfig> {
  const section = (config as unknown as Record<string, unknown>).anonymize;
  if (section === undefined) {
    throw new AnonymizeError('The config has no anonymize section, so there are no rules to check.', {
      code: 'anonymize-not-configured',
      hint: 'Add "anonymize": { "salt": "${STRATA_ANON_SALT}", "tables": { … } } to the config (see the @strata/plugin-anonymize README).',
      exitCode: 2,
    });
  }
  const { parseAnonymizeConfig } = await import('../../anonymize-config.js');
  return parseAnonymizeConfig(section, { interpolate: (value) => (value.includes('${') ? 'unread-salt-placeholder-for-check' : value) });
}

/**
 * The check itself: plans the rules against `schema` (every problem, not only the first) and lists
 * the personal-looking columns that no rule covers.
 */
export async function checkRules(rules: AnonymizeConfig, schema: SchemaInfo, source: CheckReport['source'], excluded: string[]): Promise<CheckReport> {
  const { planRules } = await import('../../rule-plan.js');
  const { plan, problems } = planRules(rules, schema);
  const covered: CoveredTarget[] = [];
  const ruled = new Set<string>();
  const personal = new Set<string>();
  const unruled: UnruledColumn[] = [];
  for (const table of schema.tables) {
    const qualified = `${table.schema}.${table.name}`;
    for (const column of table.columns) {
      const match = looksPersonal(column, { name: table.name, columns: table.columns });
      if (match) personal.add(`${qualified}.${column.name}`);
    }
  }
  for (const t of [...plan.truncate].sort()) covered.push({ target: t, rule: 'truncate', personal: false });
  for (const list of plan.columns.values()) {
    for (const p of list) {
      const node = `${p.schema}.${p.table}.${p.column}`;
      ruled.add(node);
      covered.push({ target: p.ruleKey, rule: p.ruleName, ...(p.propagatedFrom ? { propagatedFrom: p.propagatedFrom } : {}), personal: personal.has(node) });
    }
  }
  // A rule that failed its own check still shows that someone thought about the column: it is
  // reported as a problem, not a second time as a gap.
  for (const t of rules.tables) {
    if (t.rule.kind !== 'columns') continue;
    for (const key of t.rule.columns.keys()) {
      ruled.add(`${t.schema}.${t.table}.${key}`);
      ruled.add(`${t.schema}.${t.table}.${key.split(/[.[]/)[0]}`);
    }
  }
  for (const table of schema.tables) {
    const qualified = `${table.schema}.${table.name}`;
    if (plan.truncate.has(qualified)) continue;
    for (const column of table.columns) {
      if (ruled.has(`${qualified}.${column.name}`)) continue;
      const match = looksPersonal(column, { name: table.name, columns: table.columns });
      if (match) unruled.push({ table: qualified, column: column.name, type: column.type, ...match });
    }
  }
  covered.sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  return {
    ok: unruled.length === 0 && problems.length === 0,
    source,
    tables: schema.tables.length,
    columns: schema.tables.reduce((n, t) => n + t.columns.length, 0),
    unruled,
    ruleProblems: problems.map((p) => ({ code: p.code, message: p.message, ...(p.hint ? { hint: p.hint } : {}) })),
    covered,
    excluded,
  };
}

/** The error a failed check ends with: one sentence naming the first findings, and what to do. */
function checkFailed(report: CheckReport): AnonymizeError {
  const parts: string[] = [];
  const few = (items: string[]): string => (items.length <= 3 ? items.join(', ') : `${items.slice(0, 3).join(', ')} and ${items.length - 3} more`);
  if (report.unruled.length > 0) {
    const n = report.unruled.length;
    parts.push(`${n} personal-looking column${n === 1 ? ' has' : 's have'} no rule (${few(report.unruled.map((u) => `${u.table}.${u.column}`))})`);
  }
  if (report.ruleProblems.length > 0) {
    const n = report.ruleProblems.length;
    parts.push(`${n} rule${n === 1 ? ' does' : 's do'} not fit the schema`);
  }
  const hints: string[] = [];
  if (report.unruled.length > 0) hints.push('add a rule for each listed column ("keep" marks one that is not personal)');
  if (report.ruleProblems.length > 0) hints.push('fix or remove the rules listed above');
  const hint = hints.join(', and ');
  return new AnonymizeError(`The anonymize check failed: ${parts.join(' and ')}.`, {
    code: 'anonymize-check-failed',
    hint: `${hint.charAt(0).toUpperCase()}${hint.slice(1)}.`,
    exitCode: 2,
  });
}

/** The tables of a snapshot as a transformer would see them; a manifest records neither keys nor NOT NULL. */
function schemaOfManifest(manifest: Manifest): SchemaInfo {
  return {
    tables: manifest.tables.map((t) => ({
      schema: t.schema,
      name: t.name,
      columns: t.columns.map((c) => ({ name: c.name, type: c.type, nullable: true })),
      primaryKey: [],
      unique: [],
      foreignKeys: [],
    })),
  };
}

type CapturedTable = Awaited<ReturnType<typeof listTables>>[number];

/**
 * The tables `strata snapshot` would capture (every user table but the modules' migration tables
 * and the config's `exclude`), read in the caller's transaction, and the excluded ones.
 */
export async function capturedTables(client: Parameters<typeof listTables>[0], config: LoadedConfig): Promise<{ tables: CapturedTable[]; excluded: string[] }> {
  const names = Object.keys(config.modules).flatMap((m) => {
    const t = moduleTableName(config, m);
    return [t, `${t}_lock`];
  });
  const { rows } = await client.query<{ id: string }>(
    `SELECT n.nspname || '.' || c.relname AS id FROM unnest($1::text[]) AS t(name)
       JOIN pg_class c ON c.oid = to_regclass(quote_ident(t.name)) JOIN pg_namespace n ON n.oid = c.relnamespace`,
    [names],
  );
  const migrationTables = new Set(rows.map((r) => r.id));
  const exclude = new Set(config.exclude.map(normaliseTableName));
  const all = (await listTables(client)).filter((t) => !migrationTables.has(`${t.schema}.${t.name}`));
  return {
    tables: all.filter((t) => !exclude.has(`${t.schema}.${t.name}`)),
    excluded: all.filter((t) => exclude.has(`${t.schema}.${t.name}`)).map((t) => `${t.schema}.${t.name}`),
  };
}

/** The live schema of the captured tables, read from the catalog in a read-only transaction. */
async function readLiveSchema(config: LoadedConfig, databaseUrl: string): Promise<{ schema: SchemaInfo; database: string; excluded: string[] }> {
  const client = await driverFor(databaseUrl).connect(databaseUrl);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    const { rows } = await client.query<{ database: string }>('SELECT current_database() AS database');
    const { tables, excluded } = await capturedTables(client, config);
    const schema = await readSchemaInfo(client, tables);
    await client.query('COMMIT');
    return { schema, database: rows[0]!.database, excluded };
  } finally {
    await client.close();
  }
}
