import type { ScopeConfig } from '../config/config-schema.js';
import type { TableInfo as SchemaTable } from '../contracts/transformer.js';
import { normaliseTableName, tableId } from '../db/pg-introspect.js';
import { ConfigError } from '../errors.js';

/** A foreign key between two tables a tenant scope considers, seen from the referencing side. */
export interface ScopeEdge {
  /** Referencing table, `schema.table`. */
  from: string;
  columns: string[];
  /** Referenced table, `schema.table` (may equal `from`). */
  to: string;
  refColumns: string[];
  /** The key's columns that may be NULL (empty: the key is all NOT NULL). */
  nullableColumns: string[];
  /**
   * `owner`: rows of `from` belong to the tenant of the row they point at (followed downwards
   * from owned rows). `reference`: followed upwards only.
   */
  kind: 'owner' | 'reference';
  /** `to` is a tenant table (in T): the cross-tenant rule applies to this key. */
  intoTenant: boolean;
}

/** What a tenant scope captures, decided from the schema alone, before any row is read. */
export interface ScopePlan {
  name: string;
  /** Root table, `schema.table`, and the unique column the values are matched against. */
  root: string;
  key: string;
  /** Tenant tables T: the root and every non-shared table that reaches it through foreign keys. */
  tenant: Set<string>;
  /** Tables captured whole. */
  shared: Set<string>;
  /** T, the shared tables and every table a reference edge reaches from them, in name order. */
  captured: string[];
  /** Tables nothing reaches: not captured, in name order. */
  leftOut: string[];
  /** Every foreign key among captured tables. */
  edges: ScopeEdge[];
  /** Schema of every captured table, by `schema.table`. */
  tables: Map<string, SchemaTable>;
}

/**
 * Plans a tenant scope over `tables` (every table a full snapshot would capture, with columns,
 * keys and foreign keys): which tables hold the tenant's rows, which foreign keys carry ownership
 * downwards and which are only followed upwards, and which tables are left out. Foreign keys to
 * tables outside `tables` (excluded or migration history tables) are ignored, as in a full
 * snapshot. Throws a ConfigError for a root or shared table that does not exist and for a key
 * that is not a single-column unique key of the root.
 */
export function planScope(name: string, scope: ScopeConfig, tables: SchemaTable[]): ScopePlan {
  const byId = new Map(tables.map((t) => [tableId(t.schema, t.name), t]));
  const root = normaliseTableName(scope.table);
  const rootInfo = byId.get(root);
  if (!rootInfo) throw unknownTable(name, [root], 'root table');
  const sharedIds = [...new Set(scope.shared.map(normaliseTableName))];
  const unknownShared = sharedIds.filter((t) => !byId.has(t));
  if (unknownShared.length > 0) throw unknownTable(name, unknownShared, 'shared table');
  if (sharedIds.includes(root)) {
    throw new ConfigError(`Scope ${name} lists its root table ${root} as shared.`, {
      code: 'scope-invalid',
      hint: `Remove ${root} from scopes.${name}.shared: the root table holds the tenants themselves.`,
    });
  }
  const key = scopeKey(name, rootInfo, scope.key);
  const shared = new Set(sharedIds);

  const fks = tables.flatMap((t) =>
    t.foreignKeys
      .map((fk) => ({ from: tableId(t.schema, t.name), columns: fk.columns, to: tableId(fk.references.schema, fk.references.table), refColumns: fk.references.columns }))
      .filter((fk) => byId.has(fk.to)),
  );

  // T grows "downwards": a table that points at a tenant table holds tenant rows too.
  const tenant = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const fk of fks) {
      if (!tenant.has(fk.from) && !shared.has(fk.from) && tenant.has(fk.to)) {
        tenant.add(fk.from);
        grew = true;
      }
    }
  }

  // Captured: T and the shared tables, plus whatever their rows point at, transitively.
  const captured = new Set([...tenant, ...shared]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const fk of fks) {
      if (captured.has(fk.from) && !captured.has(fk.to)) {
        captured.add(fk.to);
        grew = true;
      }
    }
  }

  const nullable = (fk: { from: string; columns: string[] }): string[] => {
    const columns = byId.get(fk.from)!.columns;
    return fk.columns.filter((c) => columns.find((col) => col.name === c)?.nullable !== false);
  };
  const edges: ScopeEdge[] = [];
  for (const fk of fks) {
    if (!captured.has(fk.from)) continue;
    const nullableColumns = nullable(fk);
    const intoTenant = tenant.has(fk.to);
    let kind: ScopeEdge['kind'] = 'reference';
    if (intoTenant && tenant.has(fk.from) && fk.from !== root) {
      // A NOT NULL key into T says whose row this is; only a table without one falls back on its
      // nullable keys (a row reachable through any of them belongs to that tenant).
      const intoT = fks.filter((f) => f.from === fk.from && tenant.has(f.to));
      const strict = intoT.some((f) => nullable(f).length === 0);
      if (!strict || nullableColumns.length === 0) kind = 'owner';
    }
    edges.push({ ...fk, nullableColumns, kind, intoTenant });
  }

  // A shared table is read whole: a NOT NULL key of it into tenant tables would need every
  // tenant's rows, which a scope never captures.
  const bound = edges.find((e) => shared.has(e.from) && e.intoTenant && e.nullableColumns.length === 0);
  if (bound) {
    throw new ConfigError(`Scope ${name}: the shared table ${bound.from} references the tenant table ${bound.to} through ${bound.columns.join(', ')}, which cannot be NULL.`, {
      code: 'scope-invalid',
      hint: `Remove ${bound.from} from scopes.${name}.shared: its rows belong to tenants.`,
    });
  }

  const tablesOut = new Map([...captured].map((id) => [id, byId.get(id)!]));
  return {
    name,
    root,
    key,
    tenant,
    shared,
    captured: [...captured].sort(),
    leftOut: [...byId.keys()].filter((id) => !captured.has(id)).sort(),
    edges,
    tables: tablesOut,
  };
}

/**
 * The column scope values are matched against: the configured `key` when it is a single-column
 * primary key or unique key of the root, else the root's single-column primary key.
 */
function scopeKey(name: string, root: SchemaTable, key: string | undefined): string {
  const id = tableId(root.schema, root.name);
  if (key === undefined) {
    if (root.primaryKey.length === 1) return root.primaryKey[0]!;
    throw new ConfigError(`Scope ${name}: ${id} has no single-column primary key to match values against.`, {
      code: 'scope-key-missing',
      hint: `Set scopes.${name}.key to a unique column of ${id}.`,
    });
  }
  const single = [root.primaryKey, ...root.unique].some((u) => u.length === 1 && u[0] === key);
  if (!single) {
    throw new ConfigError(`Scope ${name}: column ${key} of ${id} is not a single-column unique key.`, {
      code: 'scope-key-not-unique',
      hint: `Set scopes.${name}.key to a column with a primary key or unique index of its own, or leave it out to use the primary key.`,
    });
  }
  return key;
}

function unknownTable(name: string, ids: string[], what: string): ConfigError {
  return new ConfigError(`Scope ${name} names the ${what}${ids.length > 1 ? 's' : ''} ${ids.join(', ')}, which the database does not have (or the config excludes).`, {
    code: 'scope-table-unknown',
    hint: `Fix scopes.${name} in the config: name tables as schema.table (schema public by default).`,
  });
}
