/**
 * One text per JSON value, to hash: object keys sorted by UTF-16 code units, no whitespace,
 * strings and numbers as `JSON.stringify` writes them. For JSON data that is RFC 8785 (JCS), so
 * another tool can recompute a hash of it. Like `JSON.stringify`, it calls `toJSON`, drops
 * `undefined` members and writes `null` for `undefined` in arrays; unlike it, it refuses NaN and
 * Infinity (which `JSON.stringify` turns into `null`, so two different values would hash alike).
 */
export function canonicalJson(value: unknown): string {
  const text = serialize(value);
  if (text === undefined) throw new TypeError('canonicalJson: the value has no JSON form');
  return text;
}

function serialize(value: unknown): string | undefined {
  const plain = typeof (value as { toJSON?: unknown } | null)?.toJSON === 'function' ? (value as { toJSON(): unknown }).toJSON() : value;
  if (plain === null || typeof plain === 'boolean' || typeof plain === 'string') return JSON.stringify(plain);
  if (typeof plain === 'number') {
    if (!Number.isFinite(plain)) throw new TypeError(`canonicalJson: ${plain} has no JSON form`);
    return JSON.stringify(plain);
  }
  if (typeof plain === 'bigint') throw new TypeError('canonicalJson: a bigint has no JSON form');
  if (Array.isArray(plain)) return `[${plain.map((item) => serialize(item) ?? 'null').join(',')}]`;
  if (typeof plain === 'object') {
    const members: string[] = [];
    // Array.prototype.sort with no comparator orders by UTF-16 code units, as RFC 8785 asks.
    for (const key of Object.keys(plain).sort()) {
      const member = serialize((plain as Record<string, unknown>)[key]);
      if (member !== undefined) members.push(`${JSON.stringify(key)}:${member}`);
    }
    return `{${members.join(',')}}`;
  }
  return undefined; // undefined, functions and symbols, which JSON leaves out
}
