import { describe, expect, it } from 'vitest';

import { createKnex } from '../../packages/core/src/db/pg-connect.js';
import { ConfigError, DatabaseError, MigrationError } from '../../packages/core/src/errors.js';
import { migrateUp, migrationStatus } from '../../packages/core/src/migrations/migration-runner.js';
import { fixtureConfig, shopConfig } from '../fixtures/migrations/fixture-config.js';
import { useKnexDatabase } from '../support/database.js';

const failing = fixtureConfig({ gadgets: { dir: 'failing' } });

const test = useKnexDatabase('migrate_errors');

const tableExists = (name: string): Promise<boolean> => test.tableExists(name);

describe('migration errors', () => {
  it('reports a failing migration by module and name, with the driver message and cause', async () => {
    const ran: string[] = [];
    const error = await migrateUp(test.knex, failing, { onMigration: (ref) => ran.push(ref.name) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    const e = error as MigrationError;
    expect(e.code).toBe('migration-failed');
    expect(e.message).toBe(
      'The migration gadgets:20240102120000_break.ts of module gadgets failed: relation "no_such_table" does not exist.',
    );
    expect(e.hint).toMatch(/rolled back/);
    expect((e.cause as { code?: string }).code).toBe('42P01');
    // The first migration ran and is recorded; the failing one is neither recorded nor half-applied.
    expect(ran).toEqual(['20240101120000_create_gadgets.ts']);
    const [status] = await migrationStatus(test.knex, failing);
    expect(status?.applied).toEqual(['20240101120000_create_gadgets.ts']);
    expect(status?.pending).toEqual(['20240102120000_break.ts']);
    expect(await tableExists('gadgets')).toBe(true);
    expect(await tableExists('gadget_notes')).toBe(false);
    // knex released its lock: a second attempt fails the same way, not with "locked".
    await expect(migrateUp(test.knex, failing)).rejects.toMatchObject({ code: 'migration-failed' });
  });

  it('refuses two modules sharing one migrations table', async () => {
    const config = fixtureConfig({
      a: { dir: 'shop/accounts', tableName: 'knex_migrations' },
      b: { dir: 'shop/catalog', tableName: 'knex_migrations' },
    });
    const error = await migrationStatus(test.knex, config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('migrations-table-shared');
  });

  it('translates an unreachable server into a DatabaseError', async () => {
    const unreachable = createKnex('postgres://postgres@127.0.0.1:1/nowhere');
    try {
      const error = await migrationStatus(unreachable, shopConfig()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as DatabaseError).code).toBe('database-unreachable');
      expect((error as DatabaseError).message).toContain('127.0.0.1:1');
    } finally {
      await unreachable.destroy();
    }
  });

  it('translates a missing database into a DatabaseError', async () => {
    const url = new URL(test.db.url);
    url.pathname = `/${test.db.name}_absent`;
    const absent = createKnex(url.toString());
    try {
      await expect(migrateUp(absent, shopConfig())).rejects.toMatchObject({ code: 'database-not-found' });
    } finally {
      await absent.destroy();
    }
  });
});
