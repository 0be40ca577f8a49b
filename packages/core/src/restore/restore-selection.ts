import { ConfigError } from '../errors.js';
import type { DependencyEdge } from '../tables/fk-order.js';

/**
 * The tables a selection needs for its foreign keys to hold: every table a selected table
 * references, transitively, that is not selected itself (self-references need nothing). With
 * `add`, they join the selection; without, a restore refuses and names them all. A needed table
 * that `available` lacks cannot be added either way.
 */
export function selectionDependencies(
  selected: string[],
  edges: readonly DependencyEdge[],
  options: { add: boolean; available: ReadonlySet<string> },
): { tables: string[]; added: string[] } {
  const chosen = new Set(selected);
  const needed = new Set<string>();
  const queue = [...selected];
  const reason = new Map<string, string>();
  while (queue.length > 0) {
    const table = queue.shift()!;
    for (const edge of edges) {
      if (edge.from !== table || edge.to === table || chosen.has(edge.to) || needed.has(edge.to)) continue;
      needed.add(edge.to);
      reason.set(edge.to, table);
      queue.push(edge.to);
    }
  }
  const added = [...needed].sort();
  const unavailable = added.filter((t) => !options.available.has(t));
  if (unavailable.length > 0) {
    throw new ConfigError(
      `The selected tables need ${unavailable.join(', ')} (referenced by ${unavailable.map((t) => reason.get(t)).join(', ')}), which the snapshot does not hold.`,
      { code: 'selection-dependency-missing', hint: 'Restore into a fresh database without --tables/--modules, or pick tables that do not reference them.' },
    );
  }
  if (added.length > 0 && !options.add) {
    throw new ConfigError(
      `The selected tables reference ${added.join(', ')}, which would stay empty: ${added.map((t) => `${reason.get(t)} → ${t}`).join(', ')}.`,
      { code: 'selection-incomplete', hint: `Add them to --tables, or pass --with-dependencies to restore them too.` },
    );
  }
  return { tables: [...selected, ...added], added };
}
