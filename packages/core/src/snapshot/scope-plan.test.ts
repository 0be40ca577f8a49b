import { describe, expect, it } from 'vitest';

import type { TableInfo } from '../contracts/transformer.js';
import { planScope } from './scope-plan.js';

/** A table with an `id` primary key; `fks` maps a column to `table` (nullable unless `!` follows). */
function table(name: string, fks: Record<string, string> = {}, extra: Partial<TableInfo> = {}): TableInfo {
  const columns = [{ name: 'id', type: 'integer', nullable: false }];
  const foreignKeys: TableInfo['foreignKeys'] = [];
  for (const [column, target] of Object.entries(fks)) {
    const notNull = target.endsWith('!');
    columns.push({ name: column, type: 'integer', nullable: !notNull });
    foreignKeys.push({ columns: [column], references: { schema: 'public', table: target.replace(/!$/, ''), columns: ['id'] } });
  }
  return { schema: 'public', name, columns, primaryKey: ['id'], unique: [], foreignKeys, ...extra };
}

const SCHEMA: TableInfo[] = [
  table('country'),
  table('region'),
  table('company', { country_id: 'country!' }),
  table('users', { company_id: 'company!', manager_id: 'users', region_id: 'region' }),
  table('task', { owner_id: 'users!', assignee_id: 'users' }),
  table('note', { task_id: 'task', user_id: 'users' }),
  table('tag'),
  table('unrelated'),
];

describe('planScope', () => {
  const plan = planScope('company', { table: 'company', shared: ['country'] }, SCHEMA);
  const kind = (from: string, column: string) => plan.edges.find((e) => e.from === `public.${from}` && e.columns[0] === column)?.kind;

  it('puts the root and every table that reaches it downwards in T, and leaves out what nothing reaches', () => {
    expect([...plan.tenant].sort()).toEqual(['public.company', 'public.note', 'public.task', 'public.users']);
    expect(plan.captured).toEqual(['public.company', 'public.country', 'public.note', 'public.region', 'public.task', 'public.users']);
    expect(plan.leftOut).toEqual(['public.tag', 'public.unrelated']);
    expect(plan.key).toBe('id');
  });

  it('takes NOT NULL keys into T as owner edges, and all keys into T for a table without one', () => {
    expect(kind('users', 'company_id')).toBe('owner');
    expect(kind('users', 'manager_id')).toBe('reference');
    expect(kind('users', 'region_id')).toBe('reference');
    expect(kind('task', 'owner_id')).toBe('owner');
    expect(kind('task', 'assignee_id')).toBe('reference');
    expect(kind('note', 'task_id')).toBe('owner');
    expect(kind('note', 'user_id')).toBe('owner');
    expect(kind('company', 'country_id')).toBe('reference');
    expect(plan.edges.find((e) => e.columns[0] === 'assignee_id')).toMatchObject({ intoTenant: true, nullableColumns: ['assignee_id'] });
  });

  it('does not put a shared table in T, even when it references a tenant table', () => {
    const shared = planScope('company', { table: 'company', shared: ['note'] }, SCHEMA);
    expect(shared.tenant.has('public.note')).toBe(false);
    expect(shared.captured).toContain('public.note');
  });

  it('checks the key and the tables', () => {
    const withName = SCHEMA.map((t) => (t.name === 'company' ? { ...t, columns: [...t.columns, { name: 'name', type: 'text', nullable: false }], unique: [['name'], ['id', 'name']] } : t));
    expect(planScope('c', { table: 'company', key: 'name', shared: [] }, withName).key).toBe('name');
    expect(() => planScope('c', { table: 'company', key: 'country_id', shared: [] }, SCHEMA)).toThrow(expect.objectContaining({ code: 'scope-key-not-unique' }));
    expect(() => planScope('c', { table: 'companies', shared: [] }, SCHEMA)).toThrow(expect.objectContaining({ code: 'scope-table-unknown' }));
    expect(() => planScope('c', { table: 'company', shared: ['nation', 'public.country'] }, SCHEMA)).toThrow(expect.objectContaining({ code: 'scope-table-unknown', message: expect.stringContaining('public.nation') }));
    const noPk = SCHEMA.map((t) => (t.name === 'company' ? { ...t, primaryKey: [] } : t));
    expect(() => planScope('c', { table: 'company', shared: [] }, noPk)).toThrow(expect.objectContaining({ code: 'scope-key-missing' }));
  });

  it('ignores foreign keys to tables outside the candidates (excluded ones)', () => {
    const p = planScope('c', { table: 'company', shared: [] }, SCHEMA.filter((t) => t.name !== 'region' && t.name !== 'country'));
    expect(p.edges.some((e) => e.to === 'public.region' || e.to === 'public.country')).toBe(false);
    expect(p.captured).not.toContain('public.region');
  });

  it('refuses a shared table whose NOT NULL key points into tenant tables, and accepts a nullable one', () => {
    const schema = [...SCHEMA, table('currency', { created_by: 'users!' })];
    expect(() => planScope('company', { table: 'company', shared: ['country', 'currency'] }, schema)).toThrow(
      expect.objectContaining({ code: 'scope-invalid', message: expect.stringContaining('public.currency references the tenant table public.users through created_by') }),
    );
    const loose = [...SCHEMA, table('currency', { created_by: 'users' })];
    const edge = planScope('company', { table: 'company', shared: ['country', 'currency'] }, loose).edges.find((e) => e.from === 'public.currency');
    expect(edge).toMatchObject({ intoTenant: true, nullableColumns: ['created_by'] });
  });
});
