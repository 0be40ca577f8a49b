import type { TableInfo as SchemaTable } from '../contracts/transformer.js';
import { qualified, quoteIdent } from '../db/sql-names.js';
import type { ScopeEdge, ScopePlan } from './scope-plan.js';

/** How a statement reads a column of the rows it works on: `x."col"` from the table, or `d.f3` from a temp table. */
export type ColumnRef = (column: string) => string;

/**
 * SQL for one scope plan. Each captured table that is not shared gets a temp table of the rows
 * selected so far: their key (`k0…`: primary key columns, or `ctid`), the columns of their
 * foreign keys (`f0…`, carried along so following a key upwards needs no second read of the
 * row), whether the row is owned, and the round that added it.
 */
export class ScopeSql {
  private readonly temps = new Map<string, string>();
  private readonly carried = new Map<string, string[]>();

  constructor(private readonly plan: ScopePlan) {
    plan.captured.forEach((id, i) => {
      this.temps.set(id, `pg_temp.strata_scope_${i}`);
      this.carried.set(id, [...new Set(plan.edges.filter((e) => e.from === id).flatMap((e) => e.columns))]);
    });
  }

  /** The temp table of selected rows of `id`. */
  temp(id: string): string {
    return this.temps.get(id)!;
  }

  /** `"schema"."table"` of `id`. */
  table(id: string): string {
    const t = this.info(id);
    return qualified(t.schema, t.name);
  }

  /**
   * Creates the temp table of `id`. Its columns take their types from the table itself (`AS
   * SELECT … WITH NO DATA`), so domains, typmods and `tid` need no spelling out here.
   */
  createTemp(id: string): string {
    const keys = this.keyColumns(id).map((_, i) => `k${i}`);
    return `CREATE TEMP TABLE ${this.temp(id)} ON COMMIT DROP AS SELECT ${this.rowValues(id, 'x', true)}, true AS owned, 0 AS round FROM ${this.table(id)} x WITH NO DATA;
            ALTER TABLE ${this.temp(id)} ADD PRIMARY KEY (${keys.join(', ')});`;
  }

  /** The values of a new temp row of `id` taken from its table's row `alias`: keys, then carried columns. */
  rowValues(id: string, alias: string, named = false): string {
    const keys = this.keyColumns(id).map((k, i) => `${alias}.${k}${named ? ` AS k${i}` : ''}`);
    const carried = this.carried.get(id)!.map((c, i) => `${alias}.${quoteIdent(c)}${named ? ` AS f${i}` : ''}`);
    return [...keys, ...carried].join(', ');
  }

  /** Columns read from the table's row `alias`. */
  column(alias: string): ColumnRef {
    return (c) => `${alias}.${quoteIdent(c)}`;
  }

  /** Columns read from the temp row `alias` of `id` (only foreign key columns are there). */
  carriedColumn(id: string, alias: string): ColumnRef {
    const carried = this.carried.get(id)!;
    return (c) => `${alias}.f${carried.indexOf(c)}`;
  }

  /** `row.pk = temp.k0 AND …` */
  keyMatch(id: string, row: string, temp: string): string {
    return this.keyColumns(id).map((k, i) => `${row}.${k} = ${temp}.k${i}`).join(' AND ');
  }

  /** Joins from the temp rows `d` of `edge.to` to the rows `c` of `edge.from` that point at them. */
  parentJoin(edge: ScopeEdge, d: string, c: string): string {
    const direct = this.direct(edge);
    if (direct) return `JOIN ${this.table(edge.from)} ${c} ON ${direct.map((col, i) => `${c}.${quoteIdent(col)} = ${d}.k${i}`).join(' AND ')}`;
    return `JOIN ${this.table(edge.to)} p ON ${this.keyMatch(edge.to, 'p', d)} JOIN ${this.table(edge.from)} ${c} ON ${this.fkMatch(edge, this.column(c), 'p')}`;
  }

  /**
   * Adds to `edge.to`'s temp table the rows that rows of `edge.from` point at: the rows added in
   * `round`, or all of them (`undefined`; a shared table's are all of it). A target already
   * there is skipped before it is read.
   */
  referencedInsert(edge: ScopeEdge, round: number | undefined, next: number): string {
    const shared = this.plan.shared.has(edge.from);
    const ref = shared ? this.column('a') : this.carriedColumn(edge.from, 'd');
    const where: string[] = [];
    if (!shared && round !== undefined) where.push(`d.round = ${round}`);
    const direct = this.direct(edge);
    if (direct) where.push(`NOT EXISTS (SELECT 1 FROM ${this.temp(edge.to)} t WHERE ${direct.map((c, i) => `t.k${i} = ${ref(c)}`).join(' AND ')})`);
    return `INSERT INTO ${this.temp(edge.to)} SELECT ${this.rowValues(edge.to, 'b')}, false, ${next}
              FROM ${shared ? `${this.table(edge.from)} a` : `${this.temp(edge.from)} d`}
              JOIN ${this.table(edge.to)} b ON ${this.fkMatch(edge, ref, 'b')}
             ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ON CONFLICT DO NOTHING`;
  }

  /** `EXISTS`: the row of `edge.to` that the row's key points at is selected (and meets `extra`, on `t`). */
  captured(edge: ScopeEdge, ref: ColumnRef, extra?: string): string {
    const direct = this.direct(edge);
    const also = extra ? ` AND ${extra}` : '';
    if (direct) return `EXISTS (SELECT 1 FROM ${this.temp(edge.to)} t WHERE ${direct.map((c, i) => `t.k${i} = ${ref(c)}`).join(' AND ')}${also})`;
    return `EXISTS (SELECT 1 FROM ${this.table(edge.to)} b JOIN ${this.temp(edge.to)} t ON ${this.keyMatch(edge.to, 'b', 't')} WHERE ${this.fkMatch(edge, ref, 'b')}${also})`;
  }

  /** The row keeps its reference through a nullable key: some column of it is NULL, or its target is captured. */
  kept(edge: ScopeEdge, ref: ColumnRef): string {
    return `(${[...edge.columns.map((c) => `${ref(c)} IS NULL`), this.captured(edge, ref)].join(' OR ')})`;
  }

  /** `FROM …` over the captured rows of `id` for counting, and how to read their key columns. */
  countSource(id: string): { from: string; ref: ColumnRef } {
    if (this.plan.shared.has(id)) return { from: `FROM ${this.table(id)} x`, ref: this.column('x') };
    return { from: `FROM ${this.temp(id)} s`, ref: this.carriedColumn(id, 's') };
  }

  /**
   * Nullable keys whose target rows may be missing: those into tenant tables (another tenant's
   * rows are never followed) and those into tables rows were left out of (`pruned`). The output
   * writes them as NULL where the target is not captured.
   */
  nullingEdges(pruned: ReadonlySet<string>): ScopeEdge[] {
    return this.plan.edges.filter((e) => e.nullableColumns.length > 0 && !this.plan.shared.has(e.to) && (e.intoTenant || pruned.has(e.to)));
  }

  /** The query whose rows a captured table's data file holds: its columns in order, a nullable key to a row not captured set to NULL. */
  output(id: string, pruned: ReadonlySet<string>): string {
    const x = this.column('x');
    const nulling = this.nullingEdges(pruned).filter((e) => e.from === id);
    const columns = this.info(id).columns.map((col) => {
      const conditions = nulling.filter((e) => e.nullableColumns.includes(col.name)).map((e) => this.kept(e, x));
      return conditions.length === 0 ? x(col.name) : `CASE WHEN ${conditions.join(' AND ')} THEN ${x(col.name)} END`;
    });
    const from = this.plan.shared.has(id) ? `FROM ${this.table(id)} x` : `FROM ${this.temp(id)} s JOIN ${this.table(id)} x ON ${this.keyMatch(id, 'x', 's')}`;
    return `SELECT ${columns.join(', ')} ${from}`;
  }

  private info(id: string): SchemaTable {
    return this.plan.tables.get(id)!;
  }

  /** The SQL of the columns that identify a row: the primary key, or `ctid` when there is none. */
  private keyColumns(id: string): string[] {
    const t = this.info(id);
    return t.primaryKey.length === 0 ? ['ctid'] : t.primaryKey.map(quoteIdent);
  }

  /**
   * For an edge whose referenced columns are exactly the target's primary key: the referencing
   * columns in primary key order (the temp table can be matched without reading the target).
   */
  private direct(edge: ScopeEdge): string[] | undefined {
    const pk = this.info(edge.to).primaryKey;
    if (pk.length === 0 || pk.length !== edge.refColumns.length || !pk.every((c) => edge.refColumns.includes(c))) return undefined;
    return pk.map((c) => edge.columns[edge.refColumns.indexOf(c)]!);
  }

  private fkMatch(edge: ScopeEdge, ref: ColumnRef, target: string): string {
    return edge.columns.map((c, i) => `${target}.${quoteIdent(edge.refColumns[i]!)} = ${ref(c)}`).join(' AND ');
  }
}
