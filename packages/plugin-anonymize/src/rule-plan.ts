import type { ColumnInfo, SchemaInfo, TableInfo } from '@strata/contracts';

import type { AnonymizeConfig, ColumnRule } from './anonymize-config.js';
import { AnonymizeError, closeNames, rulesError } from './anonymize-error.js';
import { type ColumnType, parseColumnType } from './column-type.js';
import { formatJsonPath, parseJsonPath, type PathStep } from './json-path.js';
import { canonicalJson, ruleIdentity } from './rules-hash.js';
import { TRANSFORMERS } from './transformers.js';

/** One rule applied to one column (or one JSON path of it), after checks and key propagation. */
export interface PlannedColumn {
  schema: string;
  table: string;
  column: string;
  type: ColumnType;
  /** Set for a rule on a path inside a json/jsonb column. */
  path?: readonly PathStep[];
  rule: ColumnRule;
  /** Outputs must not collide: the column is (part of) a primary key or unique constraint, or the rule is a key rule. */
  unique: boolean;
  /** `schema.table.column` whose `key: true` rule this column received through foreign keys. */
  propagatedFrom?: string;
  /** `schema.table.column[.path]`, the key in the manifest's `rules`. */
  ruleKey: string;
  /** `email`, `fixed`, `function`, … */
  ruleName: string;
}

/** What happens to every table, as decided by `prepare`. */
export interface RulePlan {
  /** `schema.table` of tables written empty. */
  truncate: ReadonlySet<string>;
  /** `schema.table` → its column rules, explicit and propagated. */
  columns: ReadonlyMap<string, PlannedColumn[]>;
}

const WHOLE_VALUE_ONLY = new Set(['date', 'number']);

/**
 * Checks the rules against the tables about to be read and propagates key rules along foreign
 * keys. Returns every problem found (the first is what `prepare` throws; `anonymize check` can
 * show them all) and the plan, which is only meaningful when there are no problems.
 */
export function planRules(config: AnonymizeConfig, schema: SchemaInfo): { plan: RulePlan; problems: AnonymizeError[] } {
  const problems: AnonymizeError[] = [];
  const tables = new Map(schema.tables.map((t) => [`${t.schema}.${t.name}`, t]));
  const keys = keyColumns(schema);
  const truncate = new Set<string>();
  const columns = new Map<string, PlannedColumn[]>();
  const explicit = new Map<string, PlannedColumn>();
  const add = (p: PlannedColumn): void => {
    const list = columns.get(`${p.schema}.${p.table}`) ?? [];
    list.push(p);
    columns.set(`${p.schema}.${p.table}`, list);
  };

  for (const t of config.tables) {
    const qualified = `${t.schema}.${t.table}`;
    const info = tables.get(qualified);
    if (!info) {
      const near = closeNames(t.table, schema.tables.map((x) => (x.schema === 'public' ? x.name : `${x.schema}.${x.name}`)));
      problems.push(rulesError('anonymize-unknown-table', `anonymize.tables.${t.configKey}: there is no table ${qualified}.`, near.length > 0 ? `Did you mean ${near.join(', ')}? Remove or rename the rule.` : 'Remove the rule, or check the schema name ("schema.table").'));
      continue;
    }
    if (t.rule.kind === 'truncate') {
      truncate.add(qualified);
      continue;
    }
    for (const [columnKey, rule] of t.rule.columns) {
      const where = `anonymize.tables.${t.configKey}.${columnKey}`;
      const resolved = resolveColumn(info, columnKey);
      if ('problem' in resolved) {
        problems.push(rulesError(resolved.code, `${where}: ${resolved.problem}`, resolved.hint));
        continue;
      }
      const { column, path } = resolved;
      const node = `${qualified}.${column.name}`;
      const type = parseColumnType(column.type);
      const unique = rule.key || keys.unique.has(node) || (rule.kind === 'transformer' && rule.options.unique === true);
      const planned: PlannedColumn = {
        schema: t.schema,
        table: t.table,
        column: column.name,
        type,
        rule,
        unique: path ? rule.key : unique,
        ruleKey: path ? `${node}${formatJsonPath(path)}` : node,
        ruleName: rule.kind === 'function' ? 'function' : rule.transformer,
        ...(path ? { path } : {}),
      };
      const isKey = keys.key.has(node);
      if (path && rule.key) {
        problems.push(rulesError('anonymize-key-path', `${where}: "key: true" applies to whole columns, not to a path inside ${node}.`, 'Remove "key: true" from the path rule.'));
        continue;
      }
      if (!path && isKey && !rule.key && !(rule.kind === 'transformer' && rule.transformer === 'keep')) {
        const what = keys.primary.has(node) ? 'part of the primary key' : keys.referenced.has(node) ? 'referenced by a foreign key' : 'a foreign key';
        const example = rule.kind === 'function' ? `{ "function": …, "key": true }` : `{ "${rule.transformer}": { …, "key": true } }`;
        problems.push(rulesError('anonymize-key-column', `${where}: column ${node} is ${what}; masking it would break joins.`, `Write "${column.name}": ${example} to mask it and every column linked to it by foreign keys the same way.`));
        continue;
      }
      const problem = checkRule(planned, column, where);
      if (problem) problems.push(problem);
      else {
        add(planned);
        if (!path) explicit.set(node, planned);
      }
    }
  }

  // Key rules: every column linked through foreign keys (both directions, transitively) gets the
  // same rule, so a masked key and the columns referring to it still join.
  for (const source of [...explicit.values()].filter((p) => p.rule.key)) {
    const from = `${source.schema}.${source.table}.${source.column}`;
    for (const node of keys.component(from)) {
      if (node === from) continue;
      const existing = explicit.get(node);
      if (existing) {
        if (canonicalJson(ruleIdentity(existing.rule)) !== canonicalJson(ruleIdentity(source.rule))) {
          problems.push(rulesError('anonymize-key-conflict', `Column ${node} is linked by foreign keys to ${from}, whose key rule differs from its own rule.`, `Give both columns the same rule (or rule only ${from} and let it propagate).`));
        }
        continue;
      }
      const [schemaName, tableName, columnName] = splitNode(node);
      const info = tables.get(`${schemaName}.${tableName}`)!;
      const column = info.columns.find((c) => c.name === columnName)!;
      const planned: PlannedColumn = { ...source, schema: schemaName, table: tableName, column: columnName, type: parseColumnType(column.type), unique: true, propagatedFrom: from, ruleKey: node };
      const problem = checkRule(planned, column, `the key rule of ${from}, propagated to ${node}`);
      if (problem) problems.push(problem);
      else {
        explicit.set(node, planned);
        if (truncate.has(`${schemaName}.${tableName}`)) continue;
        add(planned);
      }
    }
  }
  return { plan: { truncate, columns }, problems };
}

function resolveColumn(info: TableInfo, key: string): { column: ColumnInfo; path?: PathStep[] } | { problem: string; code: string; hint: string } {
  const exact = info.columns.find((c) => c.name === key);
  if (exact) return { column: exact };
  const cut = key.search(/[.[]/);
  const name = cut > 0 ? key.slice(0, cut) : key;
  const column = info.columns.find((c) => c.name === name);
  const qualified = `${info.schema}.${info.name}`;
  if (!column) {
    const near = closeNames(name, info.columns.map((c) => c.name));
    return { code: 'anonymize-unknown-column', problem: `table ${qualified} has no column ${name}.`, hint: near.length > 0 ? `Did you mean ${near.join(', ')}? Remove or rename the rule.` : `Its columns: ${info.columns.slice(0, 8).map((c) => c.name).join(', ')}.` };
  }
  if (parseColumnType(column.type).kind !== 'json') {
    return { code: 'anonymize-path-not-json', problem: `column ${qualified}.${name} is ${column.type}; a path (${key}) only applies to json and jsonb columns.`, hint: `Write the rule on "${name}" itself.` };
  }
  const path = parseJsonPath(key.slice(cut));
  if (!path) return { code: 'anonymize-bad-path', problem: `"${key}" is not a valid JSON path.`, hint: 'Write paths as column.key.key, with [] for every element of an array: "prefs.contacts[].email".' };
  return { column, path };
}

/** Type, nullability, uniqueness and length checks of one rule on one column. */
function checkRule(p: PlannedColumn, column: ColumnInfo, where: string): AnonymizeError | undefined {
  const node = `${p.schema}.${p.table}.${p.column}`;
  if (p.rule.kind === 'function') return undefined;
  const spec = TRANSFORMERS.get(p.rule.transformer)!;
  const name = spec.name;
  if (p.path) return undefined;
  if (!spec.accepts.includes(p.type.kind)) {
    const hint = WHOLE_VALUE_ONLY.has(name) ? `"${name}" applies to ${spec.accepts.join(', ')} columns.` : `"${name}" writes text; use it on text or character varying columns, or use a function rule.`;
    return rulesError('anonymize-incompatible-type', `${where}: "${name}" cannot mask column ${node} of type ${column.type}.`, hint);
  }
  if (name === 'null' && !column.nullable) {
    return rulesError('anonymize-not-null', `${where}: column ${node} is NOT NULL, so "null" cannot mask it.`, 'Use "fixed", "scramble" or a realistic transformer instead.');
  }
  if (p.unique && spec.uniqueness === 'none' && !(name === 'null' && column.nullable)) {
    return rulesError('anonymize-not-unique', `${where}: "${name}" cannot keep column ${node} unique (it is a key or under a unique constraint), so the masked data would not load.`, 'Use a transformer that keeps uniqueness: email, username, uuid, hash, phone, scramble, or a name transformer (which adds a token).');
  }
  const max = p.type.maxLength;
  if (max !== undefined && spec.minLength) {
    const needed = spec.minLength(p.rule.options, p.unique);
    if (max < needed) {
      return rulesError('anonymize-column-too-short', `${where}: column ${node} (${column.type}) is too short for "${name}"${p.unique ? ' with its uniqueness token' : ''}: it needs at least ${needed} characters.`, `Use "hash" with a length that fits, "scramble", or a function rule.`);
    }
  }
  if (name === 'fixed') {
    const value = p.rule.options.value as string;
    if (max !== undefined && Array.from(value).length > max) {
      return rulesError('anonymize-fixed-too-long', `${where}: the fixed value is longer than column ${node} (${column.type}) allows.`, 'Use a shorter value.');
    }
    if (!fixedFits(value, p.type)) {
      return rulesError('anonymize-fixed-type', `${where}: the fixed value is not a valid ${column.type}.`, `Give a value of type ${column.type}.`);
    }
  }
  return undefined;
}

function fixedFits(value: string, type: ColumnType): boolean {
  switch (type.kind) {
    case 'integer':
      return /^[+-]?\d+$/.test(value.trim());
    case 'numeric':
    case 'float':
      return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value.trim()) || /^(NaN|[+-]?Infinity)$/i.test(value.trim());
    case 'date':
    case 'timestamp':
    case 'timestamptz':
      return /^\d{4,}-\d{2}-\d{2}/.test(value) || /^-?infinity$/.test(value);
    case 'uuid':
      return /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(value);
    case 'boolean':
      return /^(t|f|true|false|yes|no|on|off|1|0)$/i.test(value.trim());
    case 'json':
      try {
        JSON.parse(value);
        return true;
      } catch {
        return false;
      }
    default:
      return true;
  }
}

function splitNode(node: string): [string, string, string] {
  // Schema and table names come from the catalog; column names may contain dots, tables may not.
  const first = node.indexOf('.');
  const second = node.indexOf('.', first + 1);
  return [node.slice(0, first), node.slice(first + 1, second), node.slice(second + 1)];
}

/** Primary-key, unique, foreign-key and referenced columns as `schema.table.column`, and the FK graph. */
function keyColumns(schema: SchemaInfo): {
  primary: Set<string>;
  unique: Set<string>;
  referenced: Set<string>;
  key: Set<string>;
  component(node: string): string[];
} {
  const primary = new Set<string>();
  const unique = new Set<string>();
  const referenced = new Set<string>();
  const key = new Set<string>();
  const edges = new Map<string, Set<string>>();
  const link = (a: string, b: string): void => {
    if (!edges.has(a)) edges.set(a, new Set());
    if (!edges.has(b)) edges.set(b, new Set());
    edges.get(a)!.add(b);
    edges.get(b)!.add(a);
  };
  const known = new Set(schema.tables.map((t) => `${t.schema}.${t.name}`));
  for (const t of schema.tables) {
    const q = `${t.schema}.${t.name}`;
    for (const c of t.primaryKey) {
      primary.add(`${q}.${c}`);
      unique.add(`${q}.${c}`);
      key.add(`${q}.${c}`);
    }
    for (const set of t.unique) for (const c of set) unique.add(`${q}.${c}`);
    for (const fk of t.foreignKeys) {
      const r = `${fk.references.schema}.${fk.references.table}`;
      fk.columns.forEach((c, i) => {
        const target = fk.references.columns[i];
        key.add(`${q}.${c}`);
        if (target === undefined) return;
        key.add(`${r}.${target}`);
        referenced.add(`${r}.${target}`);
        // A referenced table outside this run cannot receive a rule; the link still marks the key.
        if (known.has(r)) link(`${q}.${c}`, `${r}.${target}`);
      });
    }
  }
  return {
    primary,
    unique,
    referenced,
    key,
    component(node) {
      const seen = new Set([node]);
      const queue = [node];
      for (let n = queue.pop(); n !== undefined; n = queue.pop()) {
        for (const next of edges.get(n) ?? []) {
          if (!seen.has(next)) {
            seen.add(next);
            queue.push(next);
          }
        }
      }
      return [...seen];
    },
  };
}
