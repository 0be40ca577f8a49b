import type { SchemaInfo } from '../contracts/transformer.js';
import type { DbSession } from '../db/driver.js';
import { readSchemaInfo, tableId, type TableInfo } from '../db/pg-introspect.js';
import { ConfigError } from '../errors.js';
import type { SnapshotScope } from '../format/manifest-schema.js';
import type { OperationContext } from '../operation-context.js';
import { resolveTableNames } from '../tables/table-names.js';
import { planScope } from './scope-plan.js';
import { selectScopeRows } from './scope-select.js';
import type { CaptureSelection } from './snapshot-types.js';

/** What a capture reads once its selection is applied. */
export interface AppliedSelection {
  /** The tables to capture, in the order given (load order). */
  tables: TableInfo[];
  /** Per table id, the SELECT to COPY instead of the whole table (tenant scopes). */
  queries?: Map<string, string>;
  /** Runs right before a table's COPY (tenant scopes: planner settings for its query). */
  beforeCopy?: (id: string) => Promise<void>;
  /** Rows per table id when known before reading (tenant scopes), for progress. */
  counts?: Map<string, number>;
  /** The schema of every candidate table, when the selection had to read it. */
  schema?: SchemaInfo;
  scope: SnapshotScope | null;
}

/**
 * Narrows `candidates` (every table a full snapshot would capture, in load order) to a
 * selection, inside the capture's transaction and before any data file is written: named tables
 * must exist and not be excluded; a tenant scope is planned from the foreign keys and its rows
 * are selected into temp tables (which needs a transaction that is not READ ONLY). Cross-tenant
 * references are logged as warnings.
 */
export async function applySelection(
  client: DbSession,
  ctx: Pick<OperationContext, 'config' | 'log' | 'signal'>,
  candidates: TableInfo[],
  allTableIds: string[],
  selection: CaptureSelection | undefined,
): Promise<AppliedSelection> {
  if (!selection) return { tables: candidates, scope: null };
  const ids = candidates.map((t) => tableId(t.schema, t.name));

  if (selection.kind === 'tables') {
    if (selection.tables.length === 0) {
      throw new ConfigError('The selection names no table to capture.', { code: 'invalid-arguments', hint: 'Name tables with --tables or modules with --modules.' });
    }
    const wanted = resolveTableNames(selection.tables, allTableIds, 'The database');
    const skipped = wanted.filter((t) => !ids.includes(t));
    if (skipped.length > 0) {
      throw new ConfigError(`${skipped.join(', ')} ${skipped.length > 1 ? 'are' : 'is'} never captured (excluded by the config, or migration history).`, {
        code: 'table-excluded',
        hint: "Leave them out of --tables, or remove them from the config's exclude list.",
      });
    }
    const tables = candidates.filter((t) => wanted.includes(tableId(t.schema, t.name)));
    return {
      tables,
      scope: { kind: 'tables', tables: tables.map((t) => tableId(t.schema, t.name)), ...(selection.modules ? { modules: selection.modules } : {}) },
    };
  }

  const scopeConfig = ctx.config.scopes?.[selection.name];
  if (!scopeConfig) throw unknownScope(ctx.config.scopes, selection.name);
  const values = [...new Set(selection.values)];
  if (values.length === 0) {
    throw new ConfigError(`Scope ${selection.name} needs at least one value.`, { code: 'invalid-arguments', hint: `Pass --scope ${selection.name}=VALUE.` });
  }
  const schema = await readSchemaInfo(client, candidates);
  const plan = planScope(selection.name, scopeConfig, schema.tables);
  const estimatedRows = new Map(candidates.map((t) => [tableId(t.schema, t.name), t.estimatedRows]));
  const rows = await selectScopeRows(client, plan, values, { estimatedRows, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  for (const entry of rows.crossTenant) {
    const columns = entry.columns.join(', ');
    ctx.log?.(
      'warn',
      entry.action === 'nulled'
        ? `${entry.rows} captured rows of ${entry.table} point through ${columns} at rows of ${entry.references} outside the scope (another tenant's): captured with ${columns} set to NULL.`
        : `${entry.rows} rows of ${entry.table} are left out: their ${columns} (NOT NULL) points at rows of ${entry.references} outside the scope (another tenant's), which are never captured.`,
    );
  }
  const captured = new Set(plan.captured);
  return {
    tables: candidates.filter((t) => captured.has(tableId(t.schema, t.name))),
    queries: rows.queries,
    counts: rows.counts,
    beforeCopy: rows.beforeCopy,
    schema,
    scope: {
      kind: 'tenant',
      name: selection.name,
      table: plan.root,
      key: plan.key,
      values: selection.values,
      shared: [...plan.shared].sort(),
      leftOut: plan.leftOut,
      crossTenant: rows.crossTenant,
    },
  };
}

/** The config error for a scope name the config does not define. */
export function unknownScope(scopes: Record<string, unknown> | undefined, name: string): ConfigError {
  const names = Object.keys(scopes ?? {});
  return new ConfigError(`There is no scope "${name}" in the config.`, {
    code: 'scope-unknown',
    hint: names.length > 0 ? `Scopes: ${names.join(', ')}.` : 'Define one under "scopes" in the config, e.g. "company": { "table": "company" }.',
  });
}
