import { createHash } from 'node:crypto';

import type { AnonymizeConfig, ColumnRule } from './anonymize-config.js';

/**
 * JSON with sorted keys; functions by their source text. Used for the rule-set hash and to compare
 * two rules (a key rule and the rule already on a column it propagates to).
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'function') return JSON.stringify(`function:${value.toString()}`);
  if (value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value instanceof Map) return canonicalJson(Object.fromEntries(value));
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A rule as it is hashed and compared: transformer and options without `key`, or the function's source. */
export function ruleIdentity(rule: ColumnRule): unknown {
  if (rule.kind === 'function') return { function: rule.fn };
  const { key: _key, ...options } = rule.options;
  return { [rule.transformer]: options };
}

/**
 * sha256 (hex) of the canonical rule set: locale and every table's rules, table keys normalised to
 * `schema.table`, `"email"` and `{ "email": {} }` alike. The salt is not part of it.
 */
export function rulesHash(config: AnonymizeConfig): string {
  const tables: Record<string, unknown> = {};
  for (const t of config.tables) {
    tables[`${t.schema}.${t.table}`] =
      t.rule.kind === 'truncate'
        ? 'truncate'
        : Object.fromEntries([...t.rule.columns].map(([column, rule]) => [column, { rule: ruleIdentity(rule), key: rule.key }]));
  }
  return createHash('sha256').update(canonicalJson({ version: 1, locale: config.locale, tables })).digest('hex');
}
