import { throwIfAborted } from '../abort.js';
import type { DbSession, Queryable } from '../db/driver.js';
import { qualified, quoteIdent } from '../db/sql-names.js';
import { ConfigError } from '../errors.js';
import type { TenantScope } from '../format/manifest-schema.js';
import type { ScopeEdge, ScopePlan } from './scope-plan.js';
import { ScopeSql } from './scope-sql.js';

/** The rows a tenant scope selected, ready for COPY. */
export interface ScopeRows {
  /** Captured table → the SELECT whose rows its data file holds (the table's columns, in order). */
  queries: Map<string, string>;
  /** Rows selected per table (shared tables: absent, they are read whole). */
  counts: Map<string, number>;
  /** Foreign keys that pointed at other tenants' rows (only those with at least one row). */
  crossTenant: TenantScope['crossTenant'];
  /** Sets the planner up for the COPY of one table's query; call it right before. */
  beforeCopy(id: string): Promise<void>;
}

/**
 * Selects a tenant's rows inside the capture's transaction (which must be able to create temp
 * tables): the keys of every selected row (primary key columns, or `ctid` for a table without
 * one) go into an `ON COMMIT DROP` temp table per table, filled by semi-naive rounds of
 * `INSERT … SELECT … ON CONFLICT DO NOTHING`: each round joins only the rows the previous round
 * added, through primary keys and foreign key columns, so a small tenant costs index lookups, not
 * table scans. First the owned rows (down from the root rows through owner edges), then the rows
 * they reference (up through any foreign key but those into tenant tables); then rows that need
 * another tenant's row (a NOT NULL key into it) are left out, transitively.
 * Throws a ConfigError when a value matches no root row; nothing has been written to storage then.
 */
export async function selectScopeRows(
  client: DbSession,
  plan: ScopePlan,
  values: string[],
  options: { estimatedRows: ReadonlyMap<string, number>; signal?: AbortSignal },
): Promise<ScopeRows> {
  // One statement of a big tenant can run for a while. An interruption drops the session at
  // once rather than after it: the server rolls the transaction back, temp tables included, and
  // the capture's cleanup runs as for any failure.
  const onAbort = (): void => void client.close({ force: true });
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await select(client, plan, values, options);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** The selection itself; see `selectScopeRows`. */
async function select(
  client: Queryable,
  plan: ScopePlan,
  values: string[],
  options: { estimatedRows: ReadonlyMap<string, number>; signal?: AbortSignal },
): Promise<ScopeRows> {
  const { signal } = options;
  const sql = new ScopeSql(plan);
  // A scope reads a few rows out of big tables by key. At the default random_page_cost (4, a
  // spinning disk) the planner prices thousands of index lookups above one sequential scan and
  // hashes whole tables: ten times slower on the bench for one tenant of a hundred. 1.1 (what
  // SSDs and cached data cost) keeps index lookups for small selections and still lets large
  // ones scan. Only lowered, never raised; for this transaction only.
  // Temp tables live in temp_buffers (8 MB by default) and spill to disk past it; a big tenant's
  // keys fit in 64 MB. It can only be set before the session's first temp table: this is it.
  await client.query(`SELECT set_config('random_page_cost', least(current_setting('random_page_cost')::float8, 1.1)::text, true), set_config('temp_buffers', '64MB', true)`);
  const selected = plan.captured.filter((id) => !plan.shared.has(id));
  // One round trip for all of them: a scope costs many small statements, and each one counts.
  await client.query(selected.map((id) => sql.createTemp(id)).join('\n'));

  const size = new Map<string, number>();
  const byRound = new Map<string, number>();
  const analyzed = new Map<string, number>();
  const added = (id: string, round: number, n: number): void => {
    size.set(id, (size.get(id) ?? 0) + n);
    byRound.set(`${id}\0${round}`, (byRound.get(`${id}\0${round}`) ?? 0) + n);
  };
  const addedAt = (id: string, round: number): number => byRound.get(`${id}\0${round}`) ?? 0;
  const estimated = (id: string): number => options.estimatedRows.get(id) ?? 0;

  // Even at a low random_page_cost the planner often merges or hashes a few thousand keys
  // against a whole table (it prices a full index scan in key order as nearly free). When the
  // keys are few next to the table (under a tenth), index lookups win by far: hash and merge
  // joins are switched off for that statement. For big selections the planner chooses freely.
  let lookups: boolean | undefined;
  const joinFor = async (rows: number, tables: string[]): Promise<void> => {
    const want = rows * 10 < Math.max(...tables.map(estimated));
    if (want === lookups) return;
    const value = want ? 'off' : 'DEFAULT';
    await client.query(`SET LOCAL enable_hashjoin TO ${value}; SET LOCAL enable_mergejoin TO ${value}`);
    lookups = want;
  };
  // Temp tables are never analyzed by autovacuum; without statistics the planner misjudges how
  // many rows a round holds. Re-analyze a table whenever it has grown a lot.
  const analyzeGrown = async (): Promise<void> => {
    for (const [id, n] of size) {
      if (n <= 2 * (analyzed.get(id) ?? 0) + 100) continue;
      await client.query(`ANALYZE ${sql.temp(id)}`);
      analyzed.set(id, n);
    }
  };

  for (const value of values) {
    if (!(await rootExists(client, plan, value))) {
      throw new ConfigError(`Scope ${plan.name}: no row of ${plan.root} has ${plan.key} = ${value}.`, {
        code: 'scope-root-not-found',
        hint: `Check the value, e.g. SELECT ${quoteIdent(plan.key)} FROM ${plan.root}; values are matched exactly.`,
      });
    }
    const { rowCount } = await client.query(
      `INSERT INTO ${sql.temp(plan.root)} SELECT ${sql.rowValues(plan.root, 'r')}, true, 0 FROM ${sql.table(plan.root)} r
        WHERE r.${quoteIdent(plan.key)} = $1 ON CONFLICT DO NOTHING`,
      [value],
    );
    added(plan.root, 0, rowCount ?? 0);
  }

  // Owned rows: down through owner edges from the rows the last round added.
  let round = 0;
  const owners = plan.edges.filter((e) => e.kind === 'owner');
  for (let grew = true; grew; round++) {
    throwIfAborted(signal, 'snapshot');
    await analyzeGrown();
    grew = false;
    for (const edge of owners) {
      if (addedAt(edge.to, round) === 0) continue;
      await joinFor(addedAt(edge.to, round), [edge.from, edge.to]);
      const { rowCount } = await client.query(
        `INSERT INTO ${sql.temp(edge.from)} SELECT ${sql.rowValues(edge.from, 'c')}, true, ${round + 1}
           FROM ${sql.temp(edge.to)} d ${sql.parentJoin(edge, 'd', 'c')}
          WHERE d.round = ${round} ON CONFLICT DO NOTHING`,
      );
      if (rowCount) {
        added(edge.from, round + 1, rowCount);
        grew = true;
      }
    }
  }

  // Referenced rows: up through every key but those into tenant tables. Those point at owned rows
  // (already here) or at another tenant's rows, which are never followed: a nullable reference is
  // written as NULL, and a row that cannot be without it is left out below. The first pass starts
  // from everything owned and from the shared tables' rows; later passes from what the pass before added.
  const followed = plan.edges.filter((e) => !plan.shared.has(e.to) && !e.intoTenant);
  for (let first = true, grew = true; grew; first = false, round++) {
    throwIfAborted(signal, 'snapshot');
    await analyzeGrown();
    grew = false;
    for (const edge of followed) {
      if (plan.shared.has(edge.from) && !first) continue;
      // A shared table is read whole; its planner estimate may say 0 rows (never analyzed).
      const rows = plan.shared.has(edge.from) ? Infinity : first ? (size.get(edge.from) ?? 0) : addedAt(edge.from, round);
      if (rows === 0) continue;
      await joinFor(rows, [edge.from, edge.to]);
      const { rowCount } = await client.query(sql.referencedInsert(edge, first ? undefined : round, round + 1));
      if (rowCount) {
        added(edge.to, round + 1, rowCount);
        grew = true;
      }
    }
  }

  // Rows whose NOT NULL key points at another tenant's row (a comment of Acme's task written by a
  // Globex user) are left out rather than drag that tenant's rows in; so, in turn, are rows whose
  // NOT NULL key points at a row left out. Nullable references to left-out rows become NULL.
  const crossTenant: TenantScope['crossTenant'] = [];
  const pruned = new Set<string>();
  const required = plan.edges.filter((e) => e.nullableColumns.length === 0 && !plan.shared.has(e.from) && !plan.shared.has(e.to));
  // A row of a table with one NOT NULL key into tenant tables was owned through that very key, so
  // its target is owned: only the root's keys, self-references and tables with several such keys
  // can point at another tenant in the first pass.
  const intoTenantKeys = (id: string): number => required.filter((e) => e.from === id && e.intoTenant).length;
  const mayCross = (e: ScopeEdge): boolean => e.intoTenant && (e.from === plan.root || e.from === e.to || intoTenantKeys(e.from) > 1);
  for (let changed: Set<string> | undefined; changed === undefined || changed.size > 0; ) {
    throwIfAborted(signal, 'snapshot');
    const now = new Set<string>();
    for (const edge of required) {
      // First pass: only keys into tenant tables can point at a row that is not here.
      if (changed === undefined ? !mayCross(edge) : !changed.has(edge.to)) continue;
      if ((size.get(edge.from) ?? 0) === 0) continue;
      await joinFor(size.get(edge.from)!, [edge.from, edge.to]);
      const { rowCount } = await client.query(`DELETE FROM ${sql.temp(edge.from)} d WHERE NOT ${sql.captured(edge, sql.carriedColumn(edge.from, 'd'))}`);
      if (!rowCount) continue;
      size.set(edge.from, size.get(edge.from)! - rowCount);
      now.add(edge.from);
      pruned.add(edge.from);
      const entry = crossTenant.find((c) => c.table === edge.from && c.references === edge.to && c.columns.join() === edge.columns.join());
      if (entry) entry.rows += rowCount;
      else crossTenant.push({ table: edge.from, columns: edge.columns, references: edge.to, rows: rowCount, action: 'excluded' });
    }
    changed = now;
  }
  await analyzeGrown();

  // Nullable references written as NULL, counted in one pass over each table's captured rows.
  const nulling = sql.nullingEdges(pruned);
  for (const from of [...new Set(nulling.map((e) => e.from))]) {
    const edges = nulling.filter((e) => e.from === from);
    await joinFor(plan.shared.has(from) ? Infinity : (size.get(from) ?? 0), [from, ...edges.map((e) => e.to)]);
    const source = sql.countSource(from);
    const counts = edges.map((edge, i) => `count(*) FILTER (WHERE NOT ${sql.kept(edge, source.ref)}) AS c${i}`);
    const { rows: [row] } = await client.query<Record<string, string>>(`SELECT ${counts.join(', ')} ${source.from}`);
    edges.forEach((edge, i) => {
      const rows = Number(row?.[`c${i}`] ?? 0);
      if (rows > 0) crossTenant.push({ table: edge.from, columns: edge.columns, references: edge.to, rows, action: 'nulled' });
    });
  }

  const queries = new Map<string, string>();
  for (const id of plan.captured) queries.set(id, sql.output(id, pruned));
  // ON CONFLICT DO NOTHING reports only the rows it inserted: the sums are the tables' sizes.
  return {
    queries,
    counts: new Map(selected.map((id) => [id, size.get(id) ?? 0])),
    crossTenant,
    beforeCopy: (id) => joinFor(plan.shared.has(id) ? Infinity : (size.get(id) ?? 0), [id]),
  };
}

/** Whether a root row has `key = value`; a value the key's type cannot hold matches nothing. */
async function rootExists(client: Queryable, plan: ScopePlan, value: string): Promise<boolean> {
  const root = plan.tables.get(plan.root)!;
  try {
    const { rows } = await client.query(`SELECT 1 FROM ${qualified(root.schema, root.name)} WHERE ${quoteIdent(plan.key)} = $1 LIMIT 1`, [value]);
    return rows.length > 0;
  } catch (error) {
    // Class 22 (data exception): 'Acme' for an integer key. The transaction is lost, but the
    // capture stops here anyway.
    if (String((error as { code?: unknown }).code ?? '').startsWith('22')) return false;
    throw error;
  }
}
