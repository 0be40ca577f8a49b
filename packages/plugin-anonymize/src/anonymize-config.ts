import { z } from 'zod';

import { closeNames, rulesError } from './anonymize-error.js';
import { deriveMasterKey } from './keyed-digest.js';
import { LOCALES } from './locale-data.js';
import { TRANSFORMERS } from './transformers.js';

/** A column function from a JS/TS config: gets the value (text or null) and the row as read. */
export type ColumnFunction = (value: string | null, row: Record<string, string | null>) => unknown;

/** One column rule, normalised: a built-in transformer with its options, or a function. */
export type ColumnRule =
  | { kind: 'transformer'; transformer: string; options: Record<string, unknown>; key: boolean }
  | { kind: 'function'; fn: ColumnFunction; key: boolean };

/** The rule of one table key of the config. */
export interface TableRule {
  /** The key as written in the config (`person`, `public.sessions`). */
  configKey: string;
  schema: string;
  table: string;
  rule: { kind: 'truncate' } | { kind: 'columns'; columns: ReadonlyMap<string, ColumnRule> };
}

/** The `anonymize` section, validated. The salt is kept only as a derived key, not enumerable. */
export interface AnonymizeConfig {
  /** Faker locale of generated values (`en` unless configured). */
  locale: string;
  tables: readonly TableRule[];
  /** HMAC-derived key; `undefined` when no salt was given (only unsalted rules then). */
  readonly masterKey: string | undefined;
}

/** Salts shorter than this are refused: a short salt lets anyone recompute the masks by guessing. */
export const MIN_SALT_LENGTH = 16;

const sectionSchema = z.strictObject({
  salt: z.string().optional(),
  locale: z.string().optional(),
  tables: z.record(z.string(), z.unknown()),
});

/** Options for {@link parseAnonymizeConfig}. */
export interface ParseOptions {
  /** Core's `${VAR}` interpolation (from `TransformerHookOptions`); applied to the salt. */
  interpolate?: (value: string, where: string) => string;
}

/**
 * Validates the config's `anonymize` section: shape, locale, table keys, transformer names and
 * their options (zod), the presence and length of the salt when a rule needs one. Throws an
 * `AnonymizeError` (exit code 2) naming the path, e.g. `anonymize.tables.person.email`. Checks
 * against a schema come later, in `Transformer.prepare`.
 */
export function parseAnonymizeConfig(section: unknown, options: ParseOptions = {}): AnonymizeConfig {
  const parsed = sectionSchema.safeParse(section);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = ['anonymize', ...issue.path.map(String)].join('.');
    throw rulesError('anonymize-config-invalid', `The anonymize section is invalid at ${where}: ${issue.message}.`, 'Write "anonymize": { "salt": "${STRATA_ANON_SALT}", "tables": { "person": { "email": "email" } } }.');
  }
  const locale = parsed.data.locale ?? 'en';
  if (!LOCALES.includes(locale)) {
    const near = closeNames(locale, LOCALES);
    throw rulesError('anonymize-unknown-locale', `anonymize.locale "${locale}" is not a faker locale.`, near.length > 0 ? `Did you mean ${near.map((n) => `"${n}"`).join(', ')}?` : 'Use a faker locale such as "en", "de" or "fr".');
  }
  const tables: TableRule[] = [];
  const seen = new Map<string, string>();
  for (const [configKey, value] of Object.entries(parsed.data.tables)) {
    const where = `anonymize.tables.${configKey}`;
    const dot = configKey.indexOf('.');
    const schema = dot >= 0 ? configKey.slice(0, dot) : 'public';
    const table = dot >= 0 ? configKey.slice(dot + 1) : configKey;
    if (schema === '' || table === '' || table.includes('.')) {
      throw rulesError('anonymize-config-invalid', `${where}: a table key is "table" or "schema.table".`, 'Write the table as "person" (schema public) or "crm.person".');
    }
    const previous = seen.get(`${schema}.${table}`);
    if (previous !== undefined) {
      throw rulesError('anonymize-config-invalid', `${where} names the same table as anonymize.tables.${previous}.`, 'Merge the two entries into one.');
    }
    seen.set(`${schema}.${table}`, configKey);
    if (value === 'truncate') {
      tables.push({ configKey, schema, table, rule: { kind: 'truncate' } });
      continue;
    }
    if (!isPlainObject(value)) {
      throw rulesError('anonymize-config-invalid', `${where} must be "truncate" or an object of column rules.`, `Write "${configKey}": { "email": "email" } or "${configKey}": "truncate".`);
    }
    const columns = new Map<string, ColumnRule>();
    for (const [column, raw] of Object.entries(value)) columns.set(column, parseColumnRule(raw, `${where}.${column}`));
    tables.push({ configKey, schema, table, rule: { kind: 'columns', columns } });
  }

  const needsSalt = tables.some((t) => t.rule.kind === 'columns' && [...t.rule.columns.values()].some((r) => r.kind === 'transformer' && TRANSFORMERS.get(r.transformer)!.salted));
  let masterKey: string | undefined;
  if (parsed.data.salt !== undefined) {
    const salt = options.interpolate ? options.interpolate(parsed.data.salt, 'anonymize.salt') : parsed.data.salt;
    if (salt.length > 0 && salt.length < MIN_SALT_LENGTH) {
      throw rulesError('anonymize-salt-too-short', `anonymize.salt is shorter than ${MIN_SALT_LENGTH} characters.`, 'Use a long random secret, e.g. the output of `openssl rand -hex 32`, kept out of the config file (${STRATA_ANON_SALT}).');
    }
    if (salt.length > 0) masterKey = deriveMasterKey(salt);
  }
  if (needsSalt && masterKey === undefined) {
    throw rulesError('anonymize-salt-missing', 'anonymize.salt is required: deterministic rules (email, fullName, date, …) are keyed by it.', 'Add "salt": "${STRATA_ANON_SALT}" to the anonymize section and set STRATA_ANON_SALT to a long random secret.');
  }
  const config: AnonymizeConfig = { locale, tables, masterKey: undefined };
  Object.defineProperty(config, 'masterKey', { value: masterKey, enumerable: false });
  return config;
}

/**
 * One column rule: `"email"`, `{ "email": { "key": true } }`, `{ "fixed": "x" }`, a function, or
 * `{ "function": fn, "key": true }`. `where` is the config path used in error messages.
 */
export function parseColumnRule(raw: unknown, where: string): ColumnRule {
  if (typeof raw === 'function') return { kind: 'function', fn: raw as ColumnFunction, key: false };
  if (typeof raw === 'string') return transformerRule(raw, {}, where);
  if (isPlainObject(raw)) {
    if (typeof raw.function === 'function') {
      const extra = Object.keys(raw).filter((k) => k !== 'function' && k !== 'key');
      if (extra.length > 0 || (raw.key !== undefined && typeof raw.key !== 'boolean')) {
        throw rulesError('anonymize-config-invalid', `${where}: a function rule takes only "key" besides "function".`, 'Write { "function": (value, row) => …, "key": true }.');
      }
      return { kind: 'function', fn: raw.function as ColumnFunction, key: raw.key === true };
    }
    const names = Object.keys(raw);
    if (names.length === 1) {
      const name = names[0]!;
      let opts = raw[name];
      if (name === 'fixed' && (typeof opts === 'string' || typeof opts === 'number')) opts = { value: opts };
      if (opts === null || opts === undefined) opts = {};
      return transformerRule(name, opts, where);
    }
  }
  throw rulesError('anonymize-config-invalid', `${where} must be a transformer name, { "<transformer>": { …options } } or a function.`, 'Write "email", { "partial": { "keepLast": 4 } } or { "fixed": "x" }.');
}

function transformerRule(name: string, rawOptions: unknown, where: string): ColumnRule {
  const spec = TRANSFORMERS.get(name);
  if (!spec) {
    const near = closeNames(name, TRANSFORMERS.keys());
    throw rulesError(
      'anonymize-unknown-transformer',
      `${where}: unknown transformer "${name}".`,
      near.length > 0 ? `Did you mean ${near.map((n) => `"${n}"`).join(', ')}? Known: ${[...TRANSFORMERS.keys()].join(', ')}.` : `Known transformers: ${[...TRANSFORMERS.keys()].join(', ')}.`,
    );
  }
  const parsed = spec.options.safeParse(rawOptions);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.path.length > 0 ? `.${name}.${issue.path.join('.')}` : `.${name}`;
    throw rulesError('anonymize-bad-options', `${where}${at}: ${issue.message}.`, `See the options of "${name}" in the plugin-anonymize README.`);
  }
  const options = parsed.data;
  return { kind: 'transformer', transformer: name, options, key: options.key === true };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
