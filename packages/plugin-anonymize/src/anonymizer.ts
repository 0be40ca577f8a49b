import type { RowValues, SchemaInfo, TableInfo, TableTransform, Transformer } from '@strata/contracts';

import type { AnonymizeConfig, ColumnRule } from './anonymize-config.js';
import { AnonymizeError } from './anonymize-error.js';
import { type ColumnType, parseColumnType } from './column-type.js';
import { maskJsonPath, type JsonLeaf } from './json-path.js';
import { derivePrefix } from './keyed-digest.js';
import { localeData } from './locale-data.js';
import { PLUGIN_VERSION } from './plugin-info.js';
import { planRules, type PlannedColumn, type RulePlan } from './rule-plan.js';
import { canonicalJson, rulesHash } from './rules-hash.js';
import { type Masker, TRANSFORMERS } from './transformers.js';

/** Masks one column value (text or NULL); `row` gives the row as read, built only when asked. */
export type ColumnMask = (value: string | null, row: () => Record<string, string | null>) => string | null;

/** Distinct inputs remembered per masker; repeated values (cities, a customer's e-mail in every order) skip the digest. */
const CACHE_LIMIT = 16_384;
/**
 * Maskers slow enough (≥ 2 µs a value: faker's formats, and the three-round permutations) for a
 * memo to pay: a Map lookup of a fresh string costs about 0.5 µs, as much as the fast maskers
 * (email, names, uuid, hash, number, date) spend on a value, so those go without.
 */
const MEMO_WORTHY = new Set(['address', 'city', 'company', 'iban', 'creditCard', 'phone', 'scramble']);
/** Calls without the cache after a window where fewer than a quarter of the values repeated. */
const CACHE_PAUSE = 1 << 20;

/**
 * The transformer of `@strata/plugin-anonymize` for one run: validated rules in, masked rows out.
 * Built by {@link createAnonymizer}; core calls `prepare` once, then `forTable` per table.
 */
export class Anonymizer implements Transformer {
  readonly name = '@strata/plugin-anonymize';
  readonly anonymizes = true;
  readonly rulesHash: string;
  readonly version: string;
  private readonly config: AnonymizeConfig;
  private plan: RulePlan | undefined;
  private readonly maskers = new Map<string, Masker>();

  constructor(config: AnonymizeConfig, version: string) {
    this.config = config;
    this.version = version;
    this.rulesHash = rulesHash(config);
  }

  /**
   * `schema.table.column[.path]` (or `schema.table`) → rule name. Before `prepare`, the rules as
   * configured; after it, also the columns that received a key rule through foreign keys.
   */
  get rules(): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.plan) {
      for (const t of this.plan.truncate) out[t] = 'truncate';
      for (const list of this.plan.columns.values()) for (const p of list) out[p.ruleKey] = p.ruleName;
    } else {
      for (const t of this.config.tables) {
        const q = `${t.schema}.${t.table}`;
        if (t.rule.kind === 'truncate') out[q] = 'truncate';
        else for (const [column, rule] of t.rule.columns) out[`${q}.${column}`] = rule.kind === 'function' ? 'function' : rule.transformer;
      }
    }
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** Throws the first problem of the rules against these tables (all of them: {@link planRules}). */
  prepare(schema: SchemaInfo): void {
    const { plan, problems } = planRules(this.config, schema);
    const first = problems[0];
    if (first) {
      if (problems.length > 1) {
        throw new AnonymizeError(`${first.message} (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''} in the anonymize rules)`, {
          code: first.code,
          ...(first.hint ? { hint: first.hint } : {}),
          exitCode: first.exitCode,
        });
      }
      throw first;
    }
    this.plan = plan;
  }

  /** The rules of this table, or `undefined` when it has none. */
  forTable(table: TableInfo): TableTransform | undefined {
    if (!this.plan) throw new AnonymizeError('The anonymize transformer was used before prepare().', { code: 'anonymize-not-prepared', exitCode: 1 });
    const qualified = `${table.schema}.${table.name}`;
    if (this.plan.truncate.has(qualified)) return { kind: 'truncate' };
    const planned = this.plan.columns.get(qualified);
    if (!planned || planned.length === 0) return undefined;
    const ops: Array<{ index: number; mask: ColumnMask }> = [];
    for (const p of planned) {
      const index = table.columns.findIndex((c) => c.name === p.column);
      if (index < 0) continue;
      if (p.rule.kind === 'transformer' && p.rule.transformer === 'keep') continue;
      ops.push({ index, mask: this.columnMask(p) });
    }
    if (ops.length === 0) return undefined;
    const needsRow = planned.some((p) => p.rule.kind === 'function');
    const names = table.columns.map((c) => c.name);
    return {
      kind: 'rows',
      // Without function rules only the masked columns are read: core then decodes just those.
      ...(needsRow ? {} : { columns: ops.map((op) => op.index) }),
      transformRow(values: RowValues): RowValues {
        let original: RowValues | undefined;
        let rowObject: Record<string, string | null> | undefined;
        if (needsRow) original = values.slice();
        const row = (): Record<string, string | null> => {
          if (!rowObject) {
            rowObject = {};
            names.forEach((n, i) => (rowObject![n] = original?.[i] ?? null));
          }
          return rowObject;
        };
        for (const op of ops) values[op.index] = op.mask(values[op.index] ?? null, row);
        return values;
      },
    };
  }

  /** The mask of one planned column (JSON paths included), sharing maskers across tables. */
  columnMask(p: PlannedColumn): ColumnMask {
    const where = p.ruleKey;
    if (p.rule.kind === 'function') {
      const fn = p.rule.fn;
      const call = (value: string | null, row: () => Record<string, string | null>): string | null => {
        let result: unknown;
        try {
          result = fn(value, row());
        } catch (error) {
          throw new AnonymizeError(`The function rule for ${where} threw: ${error instanceof Error ? error.message : String(error)}`, {
            code: 'anonymize-function-failed',
            hint: 'Fix the function in the anonymize section of the config.',
            cause: error,
          });
        }
        return functionResult(result, where, p.type);
      };
      if (!p.path) return call;
      const path = p.path;
      return (value, row) => (value === null ? null : maskJsonPath(value, path, (leaf) => call(leafText(leaf), row)));
    }
    const rule = p.rule;
    const spec = TRANSFORMERS.get(rule.transformer)!;
    const masker = this.masker(rule, p.path ? undefined : p.type, p.unique, where);
    if (p.path) {
      const path = p.path;
      const name = spec.name;
      const onLeaf = (leaf: JsonLeaf): string | null | undefined => {
        if (name === 'null') return null;
        if (name === 'fixed') return rule.options.value as string;
        if (leaf.kind === 'other') return undefined;
        return masker(leaf.value);
      };
      return (value) => (value === null ? null : maskJsonPath(value, path, onLeaf));
    }
    const nullOutput = spec.nullOutput?.(rule.options) ?? null;
    return (value) => (value === null ? nullOutput : masker(value));
  }

  private masker(rule: Extract<ColumnRule, { kind: 'transformer' }>, type: ColumnType | undefined, unique: boolean, where: string): Masker {
    const spec = TRANSFORMERS.get(rule.transformer)!;
    const { key: _key, unique: _unique, ...options } = rule.options;
    const identity = `${spec.name}\u0000${canonicalJson(options)}\u0000${this.config.locale}`;
    const cacheKey = `${identity}\u0000${type?.raw ?? 'json'}\u0000${unique ? 'u' : ''}`;
    const existing = this.maskers.get(cacheKey);
    if (existing) return existing;
    const masterKey = this.config.masterKey;
    const prefix = spec.salted && masterKey ? derivePrefix(masterKey, identity) : '';
    const roundPrefixes = spec.salted && masterKey ? [1, 2, 3].map((r) => derivePrefix(masterKey, `${identity}\u0000round${r}`)) : [];
    const raw = spec.create({ prefix, roundPrefixes, locale: localeData(this.config.locale), type, unique, where }, rule.options);
    const masker = !spec.salted ? raw : MEMO_WORTHY.has(spec.name) ? cached(raw) : rememberLast(raw);
    this.maskers.set(cacheKey, masker);
    return masker;
  }
}

/** The masker with its last input and output remembered: runs of one value cost one comparison. */
function rememberLast(masker: Masker): Masker {
  let lastIn: string | undefined;
  let lastOut: string | null = null;
  return (value) => {
    if (value !== lastIn) {
      lastOut = masker(value);
      lastIn = value;
    }
    return lastOut;
  };
}

/**
 * A memo in front of a masker (its last value first, then a Map). Filling a Map costs about as much as a digest, so on data where
 * values seldom repeat (a unique e-mail column) the memo switches itself off for a while: each
 * window of CACHE_LIMIT distinct values measures the hit rate, below 25% the next CACHE_PAUSE
 * values go straight to the masker, then it measures again.
 */
function cached(masker: Masker): Masker {
  let cache = new Map<string, string | null>();
  let calls = 0;
  let hits = 0;
  let paused = 0;
  // Repeats often come in runs (the lines of one order, rows sorted by a key): the previous value
  // answers those for one comparison, before any Map lookup.
  let lastIn: string | undefined;
  let lastOut: string | null = null;
  return (value) => {
    if (value === lastIn) return lastOut;
    lastIn = value;
    lastOut = lookup(value);
    return lastOut;
  };

  function lookup(value: string): string | null {
    if (paused > 0) {
      paused--;
      return masker(value);
    }
    calls++;
    const hit = cache.get(value);
    if (hit !== undefined) {
      hits++;
      return hit;
    }
    const out = masker(value);
    if (cache.size >= CACHE_LIMIT) {
      if (hits * 4 < calls) paused = CACHE_PAUSE;
      cache = new Map();
      calls = 0;
      hits = 0;
    }
    cache.set(value, out);
    return out;
  }
}

function leafText(leaf: JsonLeaf): string {
  return leaf.kind === 'other' ? leaf.text : leaf.value;
}

/** What a function rule returned, as column text: strings as they are, numbers and booleans printed, objects as JSON for json columns. */
function functionResult(result: unknown, where: string, type: ColumnType): string | null {
  if (result === null) return null;
  if (typeof result === 'string') return result;
  if (typeof result === 'number' || typeof result === 'bigint') return String(result);
  if (typeof result === 'boolean') return result ? 't' : 'f';
  if (result instanceof Date) return result.toISOString();
  if (typeof result === 'object' && type.kind === 'json') return JSON.stringify(result);
  throw new AnonymizeError(`The function rule for ${where} returned ${result === undefined ? 'undefined' : `a ${typeof result}`}, not a value.`, {
    code: 'anonymize-function-result',
    hint: 'Return a string, a number, a boolean or null from the function.',
  });
}

/** Options for {@link createAnonymizer}. */
export interface CreateAnonymizerOptions {
  /** The plugin version recorded in the manifest; the package's own by default. */
  version?: string;
}

/** The `Transformer` for a parsed `anonymize` section (see `parseAnonymizeConfig`). */
export function createAnonymizer(config: AnonymizeConfig, options: CreateAnonymizerOptions = {}): Anonymizer {
  return new Anonymizer(config, options.version ?? PLUGIN_VERSION);
}
