// Planning only: no database. Runs against throwaway folders of empty migration files, since
// planning lists names and never loads a migration.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LoadedConfig } from '../config/config-loader.js';
import { MigrationError } from '../errors.js';
import { planRestoreMigrations } from './migration-runner.js';
import type { MigrationRef } from './migration-types.js';

const ids = (refs: MigrationRef[]): string[] => refs.map((r) => `${r.module}:${r.key}`);

let root: string;
let config: LoadedConfig;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'strata-plan-unit-'));
  const files: Record<string, string[]> = {
    accounts: ['20240101_users.ts', '20240301_email.ts', '20240501_phone.ts'],
    orders: ['20240201_orders.ts', '20240401_note.ts'],
    billing: ['20240115_invoices.ts'],
  };
  for (const [module, names] of Object.entries(files)) {
    await mkdir(path.join(root, module));
    for (const name of names) await writeFile(path.join(root, module, name), '');
  }
  config = {
    project: 'unit',
    modules: {
      accounts: { migrations: path.join(root, 'accounts') },
      orders: { migrations: path.join(root, 'orders'), tableName: 'knex_migrations' },
      billing: { migrations: path.join(root, 'billing') },
    },
    environments: {},
    exclude: [],
    configPath: path.join(root, 'strata.config.ts'),
    baseDir: root,
  };
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('planRestoreMigrations', () => {
  it('runs exactly the applied set before the load and everything else after, each in global order', async () => {
    const plan = await planRestoreMigrations(config, {
      // Recorded by a compiled build: `.js` names match `.ts` files by key.
      accounts: { tableName: 'knex_migrations_accounts', last: '20240301_email.js', applied: ['20240101_users.js', '20240301_email.js'] },
      // The snapshot used another table name; the plan follows the config, and must not care.
      orders: { tableName: 'old_orders_migrations', last: '20240201_orders.ts', applied: ['20240201_orders.ts'] },
      legacy: { tableName: 'knex_migrations_legacy', last: '20230101_x.js', applied: ['20230101_x.js'] },
    });
    expect(ids(plan.before)).toEqual(['accounts:20240101_users', 'orders:20240201_orders', 'accounts:20240301_email']);
    expect(ids(plan.after)).toEqual(['billing:20240115_invoices', 'orders:20240401_note', 'accounts:20240501_phone']);
    expect(plan.removedModules).toEqual(['legacy']);
    expect(plan.newModules).toEqual(['billing']);
  });

  it('skips a migration in the middle of the history only if the snapshot skipped it', async () => {
    // Applied out of order in production (20240301 before 20240201 existed): before gets exactly that set.
    const plan = await planRestoreMigrations(config, {
      accounts: { tableName: 'knex_migrations_accounts', last: '20240301_email.ts', applied: ['20240101_users.ts', '20240301_email.ts'] },
      orders: { tableName: 'knex_migrations', last: null, applied: [] },
      billing: { tableName: 'knex_migrations_billing', last: '20240115_invoices.ts', applied: ['20240115_invoices.ts'] },
    });
    expect(ids(plan.before)).toEqual(['accounts:20240101_users', 'billing:20240115_invoices', 'accounts:20240301_email']);
    expect(ids(plan.after)).toEqual(['orders:20240201_orders', 'orders:20240401_note', 'accounts:20240501_phone']);
    expect(plan.newModules).toEqual([]);
    expect(plan.removedModules).toEqual([]);
  });

  it('refuses a snapshot that needs a migration the code base lacks, naming module and migration', async () => {
    const error = await planRestoreMigrations(config, {
      orders: { tableName: 'knex_migrations', last: '20240301_x.ts', applied: ['20240201_orders.ts', '20240301_x.ts'] },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    const e = error as MigrationError;
    expect(e.code).toBe('migration-missing');
    expect(e.message).toBe('The snapshot needs migration orders:20240301_x of module orders, which this code base does not have.');
    expect(e.hint).toMatch(/code base that took the snapshot/);
  });

  it('does not hold a removed module to the code base', async () => {
    const plan = await planRestoreMigrations(config, {
      gone: { tableName: 'knex_migrations_gone', last: '20240101_a.ts', applied: ['20240101_a.ts'] },
    });
    expect(plan.removedModules).toEqual(['gone']);
    expect(plan.before).toEqual([]);
    expect(plan.after).toHaveLength(6);
  });
});
