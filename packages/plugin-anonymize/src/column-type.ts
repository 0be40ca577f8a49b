/** What a masker needs to know about a column's PostgreSQL type (from `format_type()`). */
export interface ColumnType {
  /** The broad family the maskers reason about. */
  kind: 'text' | 'integer' | 'numeric' | 'float' | 'date' | 'timestamp' | 'timestamptz' | 'json' | 'uuid' | 'inet' | 'boolean' | 'array' | 'other';
  /** The type as given. */
  raw: string;
  /** `character varying(n)` / `character(n)`: at most n characters. */
  maxLength?: number;
  /** Integer types: inclusive bounds. */
  min?: bigint;
  max?: bigint;
  /** `numeric(p,s)`: precision and scale. */
  precision?: number;
  scale?: number;
}

const INTEGER_BOUNDS: Record<string, [bigint, bigint]> = {
  smallint: [-32768n, 32767n],
  integer: [-2147483648n, 2147483647n],
  bigint: [-9223372036854775808n, 9223372036854775807n],
};

const TEXT_TYPES = new Set(['text', 'citext', 'name', 'character varying', 'varchar', 'character', 'bpchar', 'char']);

/** Reads a `format_type()` string, e.g. `character varying(64)`, `numeric(12,2)`, `timestamp(3) with time zone`. */
export function parseColumnType(raw: string): ColumnType {
  const type = raw.trim().toLowerCase();
  if (type.endsWith('[]')) return { kind: 'array', raw };
  const bounds = INTEGER_BOUNDS[type];
  if (bounds) return { kind: 'integer', raw, min: bounds[0], max: bounds[1] };
  const m = /^([a-z" ]+?)\s*(?:\((\d+)(?:\s*,\s*(\d+))?\))?(\s+with(?:out)? time zone)?$/.exec(type);
  const base = (m?.[1] ?? type).replaceAll('"', '').trim();
  const arg1 = m?.[2] === undefined ? undefined : Number(m[2]);
  const arg2 = m?.[3] === undefined ? undefined : Number(m[3]);
  if (TEXT_TYPES.has(base)) {
    if (base === 'character' || base === 'bpchar' || base === 'char') return { kind: 'text', raw, maxLength: arg1 ?? 1 };
    return arg1 === undefined ? { kind: 'text', raw } : { kind: 'text', raw, maxLength: arg1 };
  }
  if (base === 'numeric' || base === 'decimal') {
    return arg1 === undefined ? { kind: 'numeric', raw } : { kind: 'numeric', raw, precision: arg1, scale: arg2 ?? 0 };
  }
  if (base === 'real' || base === 'double precision') return { kind: 'float', raw };
  if (base === 'date') return { kind: 'date', raw };
  if (base === 'timestamp') return { kind: m?.[4]?.includes('without') === false ? 'timestamptz' : 'timestamp', raw };
  if (base === 'timestamp with time zone' || base === 'timestamptz') return { kind: 'timestamptz', raw };
  if (base === 'timestamp without time zone') return { kind: 'timestamp', raw };
  if (base === 'json' || base === 'jsonb') return { kind: 'json', raw };
  if (base === 'uuid') return { kind: 'uuid', raw };
  if (base === 'inet') return { kind: 'inet', raw };
  if (base === 'boolean') return { kind: 'boolean', raw };
  return { kind: 'other', raw };
}

/**
 * Cuts a value to a column's `character varying(n)` / `character(n)` limit, counted in characters
 * as PostgreSQL does (code points), never splitting a surrogate pair.
 */
export function fitLength(value: string, maxLength: number | undefined): string {
  if (maxLength === undefined || value.length <= maxLength) return value;
  const chars = Array.from(value);
  return chars.length <= maxLength ? value : chars.slice(0, maxLength).join('');
}
