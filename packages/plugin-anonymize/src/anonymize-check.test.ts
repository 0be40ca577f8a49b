import type { SchemaInfo } from '@strata/contracts';
import { describe, expect, it } from 'vitest';

import { checkAnonymization, checkFailed, readCheckRules } from './anonymize-check.js';

const schema: SchemaInfo = {
  tables: [
    {
      schema: 'public',
      name: 'customers',
      columns: [
        { name: 'id', type: 'integer', nullable: false },
        { name: 'email', type: 'text', nullable: false },
        { name: 'first_name', type: 'text', nullable: true },
        { name: 'phone', type: 'text', nullable: true },
        { name: 'note', type: 'text', nullable: true },
      ],
      primaryKey: ['id'],
      unique: [['email']],
      foreignKeys: [],
    },
    {
      schema: 'public',
      name: 'orders',
      columns: [
        { name: 'id', type: 'bigint', nullable: false },
        { name: 'customer_id', type: 'integer', nullable: false },
        { name: 'total', type: 'numeric(12,2)', nullable: false },
      ],
      primaryKey: ['id'],
      unique: [],
      foreignKeys: [{ columns: ['customer_id'], references: { schema: 'public', table: 'customers', columns: ['id'] } }],
    },
  ],
};

describe('checkAnonymization', () => {
  it('lists the personal-looking column without a rule and the rule that names a missing column, never reading the salt', async () => {
    const rules = await readCheckRules({ salt: '${NOT_SET_IN_THIS_TEST}', tables: { customers: { email: 'email', first_name: 'firstName', nickname: 'firstName' } } });
    const { report, warnings } = await checkAnonymization(rules, { kind: 'database', database: 'shop', schema, excluded: ['public.sessions'] });

    expect(warnings).toEqual([]);
    expect(report.ok).toBe(false);
    expect(report.source).toEqual({ kind: 'database', database: 'shop' });
    expect([report.tables, report.columns]).toEqual([2, 8]);
    expect(report.unruled.map((u) => `${u.table}.${u.column}`)).toEqual(['public.customers.phone']);
    expect(report.unruled[0]!.category).toBe('phone');
    expect(report.ruleProblems).toHaveLength(1);
    expect(report.ruleProblems[0]!.message).toContain('nickname');
    expect(report.covered.map((c) => [c.target, c.rule, c.personal])).toEqual([
      ['public.customers.email', 'email', true],
      ['public.customers.first_name', 'firstName', true],
    ]);
    expect(report.excluded).toEqual(['public.sessions']);

    const error = checkFailed(report);
    expect(error.code).toBe('anonymize-check-failed');
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/1 personal-looking column has no rule \(public\.customers\.phone\)/);
    expect(error.message).toMatch(/1 rule does not fit the schema/);
  });

  it('passes once every personal-looking column has a rule, "keep" included', async () => {
    const rules = await readCheckRules({ salt: '${NOT_SET}', tables: { customers: { email: 'email', first_name: 'firstName', phone: 'keep' } } });
    const { report } = await checkAnonymization(rules, { kind: 'database', database: 'shop', schema, excluded: [] });
    expect(report.ok).toBe(true);
    expect(report.unruled).toEqual([]);
    expect(report.covered.find((c) => c.target === 'public.customers.phone')?.rule).toBe('keep');
  });

  it("checks a snapshot's columns, and warns that a manifest records no keys for key rules to follow", async () => {
    const rules = await readCheckRules({ salt: '${NOT_SET}', tables: { customers: { email: { email: { key: true } } } } });
    const manifest = {
      id: '01JSNAPSHOT0000000000000000',
      environment: 'prod',
      excluded: [],
      tables: [{ schema: 'public', name: 'customers', columns: [{ name: 'id', type: 'integer' }, { name: 'email', type: 'text' }, { name: 'mobile_phone', type: 'text' }] }],
    };
    const { report, warnings } = await checkAnonymization(rules, { kind: 'snapshot', manifest });
    expect(report.source).toEqual({ kind: 'snapshot', id: manifest.id, environment: 'prod' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/manifest records no keys/);
    expect(report.unruled.map((u) => u.column)).toEqual(['mobile_phone']);
  });

  it('refuses a config without an anonymize section in one sentence', async () => {
    await expect(readCheckRules(undefined)).rejects.toMatchObject({ code: 'anonymize-not-configured', exitCode: 2 });
  });
});
