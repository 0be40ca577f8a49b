import { describe, expect, it } from 'vitest';
import { foreignKeyOrder } from './fk-order.js';

function assertParentsFirst(order: string[], edges: { from: string; to: string }[], cyclic: Set<string> = new Set()): void {
  for (const { from, to } of edges) {
    if (from === to || (cyclic.has(from) && cyclic.has(to))) continue;
    expect(order.indexOf(to), `${to} before ${from}`).toBeLessThan(order.indexOf(from));
  }
}

describe('foreignKeyOrder', () => {
  it('puts referenced tables before referencing ones', () => {
    const edges = [
      { from: 'order_line', to: 'order' },
      { from: 'order_line', to: 'product' },
      { from: 'order', to: 'customer' },
      { from: 'product', to: 'category' },
    ];
    const { order, cycles } = foreignKeyOrder(['order_line', 'order', 'customer', 'product', 'category'], edges);
    expect(order).toHaveLength(5);
    expect(new Set(order).size).toBe(5);
    assertParentsFirst(order, edges);
    expect(cycles).toEqual([]);
  });

  it('ignores self-references and keeps the table once', () => {
    const { order, cycles } = foreignKeyOrder(['employee', 'dept'], [
      { from: 'employee', to: 'employee' },
      { from: 'employee', to: 'dept' },
    ]);
    expect(order).toEqual(['dept', 'employee']);
    expect(cycles).toEqual([]);
  });

  it('groups a cycle and still orders what depends on it and what it depends on', () => {
    const edges = [
      { from: 'a', to: 'b' },
      { from: 'b', to: 'c' },
      { from: 'c', to: 'a' }, // a → b → c → a
      { from: 'a', to: 'root' },
      { from: 'leaf', to: 'c' },
    ];
    const { order, cycles } = foreignKeyOrder(['leaf', 'c', 'b', 'a', 'root'], edges);
    expect(cycles).toEqual([['a', 'b', 'c']]);
    expect(order[0]).toBe('root');
    expect(order[order.length - 1]).toBe('leaf');
    expect(order.slice(1, 4)).toEqual(['a', 'b', 'c']);
  });

  it('handles two separate cycles and edges to unknown tables', () => {
    const edges = [
      { from: 'x', to: 'y' },
      { from: 'y', to: 'x' },
      { from: 'p', to: 'q' },
      { from: 'q', to: 'p' },
      { from: 'p', to: 'x' },
      { from: 'x', to: 'not_loaded' },
    ];
    const { order, cycles } = foreignKeyOrder(['p', 'q', 'x', 'y'], edges);
    expect(cycles).toHaveLength(2);
    expect(order.indexOf('x')).toBeLessThan(order.indexOf('p'));
    expect(order.indexOf('y')).toBeLessThan(order.indexOf('q'));
  });

  it('does not overflow the stack on a long chain', () => {
    const n = 20_000;
    const tables = Array.from({ length: n }, (_, i) => `t${i}`);
    const edges = tables.slice(1).map((t, i) => ({ from: t, to: `t${i}` }));
    const { order } = foreignKeyOrder([...tables].reverse(), edges);
    expect(order[0]).toBe('t0');
    expect(order[n - 1]).toBe(`t${n - 1}`);
  });
});
