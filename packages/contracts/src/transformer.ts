/**
 * Transformers change rows while they stream: on capture (`strata snapshot --anonymize`) between
 * the database and the data file, on restore (`strata restore --anonymize`) between the data file
 * and the database. Core owns the data format: it decodes each row of PostgreSQL COPY text into
 * values, hands them to the transformer, and encodes what comes back, so a transformer never sees
 * escapes or file formats. Transformers are provided by plugins through the `strata:transformer`
 * hook; core never knows what a rule means.
 *
 * A transformer throws errors shaped like core's StrataError (`message`, `code`, `hint`,
 * `exitCode`: 2 for bad rules) and never puts a secret (a salt) in a message.
 */

/** A column as the transformer sees it. */
export interface ColumnInfo {
  name: string;
  /** `format_type()` of the column: `text`, `character varying(255)`, `jsonb`, `date`, `numeric(12,2)`, `text[]`, … */
  type: string;
  /** False when the column is NOT NULL (unknown when read from a snapshot: true). */
  nullable: boolean;
}

/** A foreign key of a table: `columns` reference `references.columns` of another (or the same) table. */
export interface ForeignKeyInfo {
  columns: string[];
  references: { schema: string; table: string; columns: string[] };
}

/** One table, with the keys a transformer must know about to keep joins and uniqueness intact. */
export interface TableInfo {
  schema: string;
  name: string;
  /** In the order of the values handed to `transformRow`. */
  columns: ColumnInfo[];
  /** Columns of the primary key (empty when there is none). */
  primaryKey: string[];
  /** Columns of each unique constraint or unique index (the primary key excluded). */
  unique: string[][];
  /** Foreign keys of this table. */
  foreignKeys: ForeignKeyInfo[];
}

/** The tables a transformer will see: every table about to be captured or loaded. */
export interface SchemaInfo {
  tables: TableInfo[];
}

/**
 * One row: each column's value in PostgreSQL's text representation (what `COPY … TO STDOUT`
 * prints, unescaped: `2024-01-31`, `t`, `{"a": 1}`, `{1,2}`), or `null` for SQL NULL.
 */
export type RowValues = Array<string | null>;

/** What happens to a table's rows. */
export type TableTransform =
  /** The table keeps its schema and is empty. */
  | { kind: 'truncate' }
  /**
   * Every row goes through `transformRow`, which may change the array in place and return it.
   * With `columns`, only the values at those positions are decoded, handed over and re-encoded:
   * the others are left out (`undefined`) and must not be set; the row's own text is kept for
   * them. Giving `columns` saves most of the per-row cost on wide tables; leave it out when a
   * rule needs the whole row.
   */
  | { kind: 'rows'; columns?: readonly number[]; transformRow(values: RowValues): RowValues };

/** A transformer for one run (one capture or one restore). */
export interface Transformer {
  /** The plugin's package name, e.g. `@strata/plugin-anonymize`. */
  readonly name: string;
  /** The plugin's version. */
  readonly version: string;
  /** True when applying this transformer makes a snapshot anonymized (`requireAnonymized` accepts it). */
  readonly anonymizes: boolean;
  /** sha256 (hex) of the canonical rule set: equal rules give equal hashes. Never covers a secret. */
  readonly rulesHash: string;
  /**
   * What each rule does, for the manifest and for people: `schema.table.column` (or
   * `schema.table` for a table rule) → rule name (`email`, `truncate`, `fixed`, `function`, …).
   * Never option values that could be secrets.
   */
  readonly rules: Record<string, string>;
  /**
   * Checks the rules against the tables before any data is read, and throws one clear error for a
   * rule on a missing table or column, an unknown transformer, or a key column without `key: true`.
   */
  prepare(schema: SchemaInfo): void | Promise<void>;
  /** How rows of one table change (called after `prepare`); `undefined` leaves the table unchanged. */
  forTable(table: TableInfo): TableTransform | undefined;
}

/** What core passes to the `strata:transformer` hook. */
export interface TransformerHookOptions {
  /**
   * The whole strata config as loaded (a JS/TS config may hold functions). The anonymize plugin
   * reads its `anonymize` section; other keys belong to other plugins. (Not `config`: oclif hands
   * every hook its own `config`, which would hide this one.)
   */
  strataConfig: Record<string, unknown>;
  /** The environment the command runs for. */
  environment: string;
  /** Directory of the config file. */
  baseDir: string;
  /** Interpolates `${VAR}` the way core does for URLs, naming `where` when a variable is unset. */
  interpolate(value: string, where: string): string;
}

/** What a `strata:transformer` hook returns: a transformer, or `undefined` when it has nothing to apply. */
export type TransformerHookResult = Transformer | undefined;

/** A runtime guard for whatever a plugin hands back, so a broken plugin fails before data is read. */
export function isTransformer(value: unknown): value is Transformer {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.name === 'string' &&
    typeof v.version === 'string' &&
    typeof v.rulesHash === 'string' &&
    typeof v.anonymizes === 'boolean' &&
    typeof v.rules === 'object' &&
    v.rules !== null &&
    typeof v.prepare === 'function' &&
    typeof v.forTable === 'function'
  );
}
