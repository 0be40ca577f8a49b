import type { AnonymizeConfig, ColumnRule } from './anonymize-config.js';
import { parseColumnRule } from './anonymize-config.js';
import { rulesError } from './anonymize-error.js';
import { createAnonymizer } from './anonymizer.js';
import { parseColumnType } from './column-type.js';
import { formatJsonPath, parseJsonPath } from './json-path.js';
import type { PlannedColumn } from './rule-plan.js';
import { TRANSFORMERS } from './transformers.js';

/** One configured rule, for listings (`anonymize check`): no option values, so no secrets. */
export interface RuleListing {
  /** `schema.table`. */
  table: string;
  /** The column; `undefined` for a table rule (`truncate`). */
  column?: string;
  /** The JSON path inside the column (`.contact.email`, `.contacts[].email`), when there is one. */
  path?: string;
  /** `email`, `truncate`, `function`, … */
  rule: string;
  /** A `key: true` rule (propagates along foreign keys). */
  key: boolean;
}

/**
 * The rules of a parsed config, one entry per table rule and per column rule, in config order.
 * A column key with a dot is reported as column + path when its first part is not itself listed;
 * `prepare` decides for sure against the schema (a column may be named `a.b`).
 */
export function listRules(config: AnonymizeConfig): RuleListing[] {
  const out: RuleListing[] = [];
  for (const t of config.tables) {
    const table = `${t.schema}.${t.table}`;
    if (t.rule.kind === 'truncate') {
      out.push({ table, rule: 'truncate', key: false });
      continue;
    }
    for (const [key, rule] of t.rule.columns) {
      const cut = key.search(/[.[]/);
      const path = cut > 0 ? parseJsonPath(key.slice(cut)) : undefined;
      const name = rule.kind === 'function' ? 'function' : rule.transformer;
      out.push(path ? { table, column: key.slice(0, cut), path: formatJsonPath(path), rule: name, key: rule.key } : { table, column: key, rule: name, key: rule.key });
    }
  }
  return out;
}

/** The column a value is masked for in {@link maskValue}; the defaults describe a nullable `text` column. */
export interface MaskColumn {
  /** `format_type()` of the column (`text` by default): decides type handling and length cuts. */
  type?: string;
  /** The column is unique (adds tokens for name transformers). */
  unique?: boolean;
  /** A JSON path inside the value (`contact.email`), as in a `column.path` rule key. */
  path?: string;
}

/**
 * Masks one value with one rule, exactly as a capture would (same salt and locale → same output).
 * `rule` is a config rule (`"email"`, `{ "partial": { "keepLast": 4 } }`, a function). Builds a
 * masker per call: for many values, use `prepare` + `forTable` instead. Throws `AnonymizeError`
 * for a bad rule, or for a salted rule when the config has no salt.
 */
export function maskValue(config: AnonymizeConfig, rule: ColumnRule | unknown, value: string | null, column: MaskColumn = {}): string | null {
  const where = 'maskValue';
  const parsed = isColumnRule(rule) ? rule : parseColumnRule(rule, where);
  if (parsed.kind === 'transformer' && TRANSFORMERS.get(parsed.transformer)?.salted && config.masterKey === undefined) {
    throw rulesError('anonymize-salt-missing', `"${parsed.transformer}" needs anonymize.salt, and the config has none.`, 'Add "salt": "${STRATA_ANON_SALT}" to the anonymize section.');
  }
  const path = column.path === undefined ? undefined : parseJsonPath(column.path.startsWith('.') || column.path.startsWith('[') ? column.path : `.${column.path}`);
  if (column.path !== undefined && !path) throw rulesError('anonymize-bad-path', `"${column.path}" is not a valid JSON path.`, 'Write paths as key.key, with [] for every element of an array.');
  const planned: PlannedColumn = {
    schema: 'public',
    table: 'value',
    column: 'value',
    type: parseColumnType(column.type ?? (path ? 'jsonb' : 'text')),
    rule: parsed,
    unique: column.unique === true || parsed.key,
    ruleKey: 'value',
    ruleName: parsed.kind === 'function' ? 'function' : parsed.transformer,
    ...(path ? { path } : {}),
  };
  const mask = createAnonymizer(config).columnMask(planned);
  return mask(value, () => ({ value }));
}

function isColumnRule(rule: unknown): rule is ColumnRule {
  return typeof rule === 'object' && rule !== null && 'kind' in rule && ((rule as ColumnRule).kind === 'transformer' || (rule as ColumnRule).kind === 'function') && ('transformer' in rule || 'fn' in rule);
}
