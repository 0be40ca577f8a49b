/** A foreign-key edge: rows of `from` point at rows of `to`. */
export interface DependencyEdge {
  from: string;
  to: string;
}

/** Load order, and the groups of tables that reference each other in a cycle. */
export interface LoadOrder {
  /** Every table once: referenced tables before the tables that reference them. */
  order: string[];
  /** Strongly connected groups of two or more tables (a self-reference alone is not listed). */
  cycles: string[][];
}

/**
 * Orders tables so that referenced tables load first. Cycles cannot be ordered, so each cycle is
 * loaded as a group (members in name order) at the point the group as a whole can go; the loader
 * sets foreign keys aside during the load, so a cycle costs nothing but a note in the report.
 * Tarjan's algorithm finds the groups; output is deterministic for a given input.
 */
export function foreignKeyOrder(tables: readonly string[], edges: readonly DependencyEdge[]): LoadOrder {
  const known = new Set(tables);
  const deps = new Map<string, string[]>(tables.map((t) => [t, []]));
  for (const { from, to } of edges) {
    if (from === to || !known.has(from) || !known.has(to)) continue;
    deps.get(from)!.push(to);
  }
  for (const list of deps.values()) list.sort();

  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];

  // Iterative Tarjan: a recursive one overflows on long FK chains.
  for (const root of [...tables].sort()) {
    if (index.has(root)) continue;
    const work: { node: string; next: number }[] = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const children = deps.get(frame.node)!;
      if (frame.next < children.length) {
        const child = children[frame.next++]!;
        if (!index.has(child)) {
          index.set(child, counter);
          low.set(child, counter++);
          stack.push(child);
          onStack.add(child);
          work.push({ node: child, next: 0 });
        } else if (onStack.has(child)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(child)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        components.push(component.sort());
      }
    }
  }
  // Tarjan emits a component only after everything it depends on: that is already load order.
  return { order: components.flat(), cycles: components.filter((c) => c.length > 1) };
}
