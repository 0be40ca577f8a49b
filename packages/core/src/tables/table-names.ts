import { normaliseTableName } from '../db/pg-introspect.js';
import { ConfigError } from '../errors.js';

/**
 * Resolves `--tables` names (`table` means `public.table`) against the tables a snapshot or a
 * database holds; an unknown name is a config error that names it.
 */
export function resolveTableNames(names: string[], available: Iterable<string>, where: string): string[] {
  const known = new Set(available);
  const resolved = [...new Set(names.map(normaliseTableName))];
  const unknown = resolved.filter((t) => !known.has(t));
  if (unknown.length > 0) {
    throw new ConfigError(`${where} has no table${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}.`, {
      code: 'table-unknown',
      hint: 'Name tables as schema.table (schema public by default); `strata show <id>` lists a snapshot\'s tables.',
    });
  }
  return resolved;
}
