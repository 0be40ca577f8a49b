import type { SchemaInfo } from '@strata/contracts';

// `strata anonymize check` as library code: the command, the typed API and the dashboard call
// `checkAnonymization` with a schema (the live database's, from core's `withCapturedSchema`, or a
// snapshot's manifest) and get the same report. The rule engine (zod, faker's locales) is imported
// when a check runs, not when this module loads: oclif loads the commands' modules to list them.
import type { AnonymizeConfig } from './anonymize-config.js';
import { AnonymizeError } from './anonymize-error.js';
import { looksPersonal, type PersonalCategory } from './personal-columns.js';

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

/** What a snapshot's manifest says of its tables: enough to check rules against its columns. */
export interface ManifestTables {
  id: string;
  environment: string;
  excluded: string[];
  tables: Array<{ schema: string; name: string; columns: Array<{ name: string; type: string }> }>;
}

/** What to check the rules against: a live database's captured tables, or a snapshot's. */
export type CheckSource =
  | { kind: 'database'; database: string; schema: SchemaInfo; excluded: string[] }
  | { kind: 'snapshot'; manifest: ManifestTables };

/**
 * Checks the rules (`readCheckRules`) against the source's tables: every problem of every rule,
 * and every personal-looking column no rule covers. A failed check is a report with `ok: false`
 * (`checkFailed` gives its one sentence). `warnings` are sentences for the person running it.
 */
export async function checkAnonymization(rules: AnonymizeConfig, source: CheckSource): Promise<{ report: CheckReport; warnings: string[] }> {
  if (source.kind === 'database') {
    return { report: await checkRules(rules, source.schema, { kind: 'database', database: source.database }, source.excluded), warnings: [] };
  }
  const { manifest } = source;
  const warnings: string[] = [];
  if (rules.tables.some((t) => t.rule.kind === 'columns' && [...t.rule.columns.values()].some((r) => r.key))) {
    warnings.push('A manifest records no keys, so key rules do not reach the columns that reference them here: such a column shows as unruled unless it has its own rule.');
  }
  const report = await checkRules(rules, schemaOfManifest(manifest), { kind: 'snapshot', id: manifest.id, environment: manifest.environment }, manifest.excluded);
  return { report, warnings };
}

/**
 * Parses the config's anonymize section for a check, before anything is read, failing in one
 * sentence when there is none. The salt only keys the masks, which a check never computes, so a
 * `${VAR}` salt is not read: CI can run the check without the secret.
 */
export async function readCheckRules(section: unknown): Promise<AnonymizeConfig> {
  if (section === undefined) {
    throw new AnonymizeError('The config has no anonymize section, so there are no rules to check.', {
      code: 'anonymize-not-configured',
      hint: 'Add "anonymize": { "salt": "${STRATA_ANON_SALT}", "tables": { … } } to the config (see the @strata/plugin-anonymize README).',
      exitCode: 2,
    });
  }
  const { parseAnonymizeConfig } = await import('./anonymize-config.js');
  return parseAnonymizeConfig(section, { interpolate: (value) => (value.includes('${') ? 'unread-salt-placeholder-for-check' : value) });
}

/**
 * The check itself: plans the rules against `schema` (every problem, not only the first) and lists
 * the personal-looking columns that no rule covers.
 */
async function checkRules(rules: AnonymizeConfig, schema: SchemaInfo, source: CheckReport['source'], excluded: string[]): Promise<CheckReport> {
  const { planRules } = await import('./rule-plan.js');
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
export function checkFailed(report: CheckReport): AnonymizeError {
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
function schemaOfManifest(manifest: ManifestTables): SchemaInfo {
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
