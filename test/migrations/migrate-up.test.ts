import type { Knex } from 'knex';
import { describe, expect, it } from 'vitest';

import { ConfigError } from '../../packages/core/src/errors.js';
import {
  migrateUp,
  migrationStatus,
  planRestoreMigrations,
} from '../../packages/core/src/migrations/migration-runner.js';
import { listMigrations } from '../../packages/core/src/migrations/migration-source.js';
import type { MigrationRef, ModuleMigrationStatus } from '../../packages/core/src/migrations/migration-types.js';
import { shopConfig } from '../fixtures/migrations/fixture-config.js';
import { useKnexDatabase } from '../support/database.js';

const config = shopConfig();
const ids = (refs: MigrationRef[]): string[] => refs.map((r) => `${r.module}:${r.name}`);
const byModule = (status: ModuleMigrationStatus[]): Record<string, ModuleMigrationStatus> =>
  Object.fromEntries(status.map((s) => [s.module, s]));

const GLOBAL_ORDER = [
  'accounts:20240101120000_create_users.ts',
  'catalog:20240115080000_create_products.js',
  'orders:20240201100000_create_orders.ts',
  'accounts:20240301090000_add_user_email.cjs',
  'orders:20240301090000_add_order_note.js',
  'catalog:20240301090000_index_products.mjs',
  'catalog:20240401000000_add_product_price.js',
  'accounts:20240501000000_add_user_phone.ts',
];

const test = useKnexDatabase('migrate_up');

const tableExists = (name: string): Promise<boolean> => test.tableExists(name);

async function recorded(table: string): Promise<{ name: string; batch: number }[]> {
  return test.knex(table).select('name', 'batch').orderBy('id');
}

// A plain knex migrator over the same folder and table, as the app itself would configure it.
function plainKnexConfig(module: 'accounts' | 'orders' | 'catalog'): Knex.MigratorConfig {
  return {
    directory: config.modules[module]!.migrations,
    tableName: module === 'catalog' ? 'knex_migrations' : `knex_migrations_${module}`,
    loadExtensions: ['.js', '.mjs', '.cjs', '.ts'],
  };
}

describe('migrations of several modules against PostgreSQL', () => {
  it('lists every migration in global order, ties broken by config order', async () => {
    expect(ids(await listMigrations(config))).toEqual(GLOBAL_ORDER);
  });

  it('reports a fresh database as all pending without creating any table', async () => {
    const status = byModule(await migrationStatus(test.knex, config));
    expect(status.accounts).toEqual({
      module: 'accounts',
      tableName: 'knex_migrations_accounts',
      applied: [],
      pending: ['20240101120000_create_users.ts', '20240301090000_add_user_email.cjs', '20240501000000_add_user_phone.ts'],
      last: null,
      missing: [],
    });
    expect(status.catalog?.tableName).toBe('knex_migrations');
    expect(await tableExists('knex_migrations_accounts')).toBe(false);
    expect(await tableExists('knex_migrations')).toBe(false);
  });

  it('refuses an unknown --to, naming it', async () => {
    const error = await migrateUp(test.knex, config, { to: 'orders:20990101_nope' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('migration-unknown');
    expect((error as ConfigError).message).toContain('orders:20990101_nope');
    expect((error as ConfigError).hint).toContain('strata migrate status');
    // The migration exists, but in another module: still unknown.
    await expect(migrateUp(test.knex, config, { to: 'accounts:20240201100000_create_orders' })).rejects.toBeInstanceOf(ConfigError);
    expect(await tableExists('users')).toBe(false);
  });

  it('with --to (no extension) runs interleaved across modules and stops after it', async () => {
    const seen: string[] = [];
    const ran = await migrateUp(test.knex, config, {
      to: 'orders:20240201100000_create_orders',
      onMigration: (ref) => seen.push(`${ref.module}:${ref.name}`),
    });
    // orders' FKs to users and products only succeed if accounts and catalog ran first.
    expect(ids(ran)).toEqual(GLOBAL_ORDER.slice(0, 3));
    expect(seen).toEqual(GLOBAL_ORDER.slice(0, 3));
    expect(await tableExists('orders')).toBe(true);
    const { rows } = await test.knex.raw<{ rows: { n: string }[] }>(
      "SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email'",
    );
    expect(rows[0]?.n).toBe('0');

    const status = byModule(await migrationStatus(test.knex, config));
    expect(status.accounts?.applied).toEqual(['20240101120000_create_users.ts']);
    expect(status.accounts?.pending).toEqual(['20240301090000_add_user_email.cjs', '20240501000000_add_user_phone.ts']);
    expect(status.orders?.last).toBe('20240201100000_create_orders.ts');
    expect(status.catalog?.applied).toEqual(['20240115080000_create_products.js']);
    expect(status.catalog?.pending).toEqual(['20240301090000_index_products.mjs', '20240401000000_add_product_price.js']);
    expect(Object.values(status).flatMap((s) => s.missing)).toEqual([]);
  });

  it('plans a restore of this state: the applied set before the load, the rest after', async () => {
    const status = await migrationStatus(test.knex, config);
    const manifestModules = Object.fromEntries(
      status.map((s) => [s.module, { tableName: s.tableName, last: s.last, applied: s.applied }]),
    );
    const plan = await planRestoreMigrations(config, manifestModules);
    expect(ids(plan.before)).toEqual(GLOBAL_ORDER.slice(0, 3));
    expect(ids(plan.after)).toEqual(GLOBAL_ORDER.slice(3));
    expect(plan.newModules).toEqual([]);
    expect(plan.removedModules).toEqual([]);
  });

  it('runs a migration with config.transaction = false outside a transaction (CREATE INDEX CONCURRENTLY)', async () => {
    const ran = await migrateUp(test.knex, config, { to: 'catalog:20240301090000_index_products.mjs' });
    expect(ids(ran)).toEqual(GLOBAL_ORDER.slice(3, 6));
    expect(await tableExists('products_sku_idx')).toBe(true);
  });

  it('writes records the same as plain knex: test.knex continues where strata stopped, and strata after knex', async () => {
    const [, log] = (await test.knex.migrate.latest(plainKnexConfig('catalog'))) as [number, string[]];
    expect(log).toEqual(['20240401000000_add_product_price.js']);

    const ran = await migrateUp(test.knex, config);
    expect(ids(ran)).toEqual(['accounts:20240501000000_add_user_phone.ts']);
    expect(await migrateUp(test.knex, config)).toEqual([]);
  });

  it('leaves nothing pending for the app’s own test.knex migrator', async () => {
    for (const module of ['accounts', 'orders', 'catalog'] as const) {
      const [completed, pending] = (await test.knex.migrate.list(plainKnexConfig(module))) as [{ name: string }[], unknown[]];
      expect(pending).toEqual([]);
      expect(completed.map((c) => c.name)).toEqual(
        GLOBAL_ORDER.filter((id) => id.startsWith(`${module}:`)).map((id) => id.slice(module.length + 1)),
      );
    }
    expect(await test.knex.migrate.currentVersion({ tableName: 'knex_migrations_accounts' })).toBe('20240501000000');
    // One knex batch per migration, as `knex migrate:up` writes.
    expect(await recorded('knex_migrations_orders')).toEqual([
      { name: '20240201100000_create_orders.ts', batch: 1 },
      { name: '20240301090000_add_order_note.js', batch: 2 },
    ]);
  });

  it('reports everything applied', async () => {
    const status = await migrationStatus(test.knex, config);
    for (const s of status) {
      expect(s.pending).toEqual([]);
      expect(s.missing).toEqual([]);
    }
    expect(byModule(status).accounts?.last).toBe('20240501000000_add_user_phone.ts');
    expect(byModule(status).catalog?.applied).toHaveLength(3);
  });

  it('reports migrations recorded but absent from the code as missing', async () => {
    await test.knex('knex_migrations_orders').insert({ name: '20240401000000_gone.js', batch: 3, migration_time: new Date() });
    const orders = byModule(await migrationStatus(test.knex, config)).orders;
    expect(orders?.missing).toEqual(['20240401000000_gone.js']);
    expect(orders?.last).toBe('20240401000000_gone.js');
    expect(orders?.pending).toEqual([]);

    const manifestModules = Object.fromEntries(
      (await migrationStatus(test.knex, config)).map((s) => [s.module, { tableName: s.tableName, last: s.last, applied: s.applied }]),
    );
    await expect(planRestoreMigrations(config, manifestModules)).rejects.toMatchObject({
      code: 'migration-missing',
      message: 'The snapshot needs migration orders:20240401000000_gone of module orders, which this code base does not have.',
    });
  });
});
