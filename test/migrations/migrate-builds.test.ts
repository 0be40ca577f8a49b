// A database migrated by the compiled `.js` build must look up to date to the `.ts` sources and
// the other way round: names compare without extension.
import { describe, expect, it } from 'vitest';

import { migrateUp, migrationStatus, runMigrations } from '../../packages/core/src/migrations/migration-runner.js';
import { listMigrations } from '../../packages/core/src/migrations/migration-source.js';
import { fixtureConfig } from '../fixtures/migrations/fixture-config.js';
import { useKnexDatabase } from '../support/database.js';

const compiled = fixtureConfig({ inventory: { dir: 'build/compiled' } });
const sources = fixtureConfig({ inventory: { dir: 'build/src' } });

const test = useKnexDatabase('migrate_builds');

describe('.js records against .ts code', () => {
  it('sees the compiled build’s records as applied by the sources', async () => {
    const ran = await migrateUp(test.knex, compiled, { to: 'inventory:20240101120000_create_widgets' });
    expect(ran.map((r) => r.name)).toEqual(['20240101120000_create_widgets.js']);

    const [status] = await migrationStatus(test.knex, sources);
    expect(status).toEqual({
      module: 'inventory',
      tableName: 'knex_migrations_inventory',
      applied: ['20240101120000_create_widgets.js'],
      pending: ['20240102120000_add_widget_color.ts'],
      last: '20240101120000_create_widgets.js',
      missing: [],
    });
  });

  it('skips a migration already recorded under the other extension instead of running it twice', async () => {
    const [createWidgetsTs] = await listMigrations(sources);
    expect(createWidgetsTs?.name).toBe('20240101120000_create_widgets.ts');
    const seen: string[] = [];
    // Running it again would fail: "relation widgets already exists".
    await runMigrations(test.knex, sources, [createWidgetsTs!], { onMigration: (ref) => seen.push(ref.name) });
    expect(seen).toEqual([]);
  });

  it('runs only the missing migration from the sources, without test.knex calling the folder corrupt', async () => {
    const ran = await migrateUp(test.knex, sources);
    expect(ran.map((r) => r.name)).toEqual(['20240102120000_add_widget_color.ts']);
    const rows = await test.knex('knex_migrations_inventory').select('name').orderBy('id');
    expect(rows.map((r: { name: string }) => r.name)).toEqual([
      '20240101120000_create_widgets.js',
      '20240102120000_add_widget_color.ts',
    ]);
  });

  it('is up to date for both builds', async () => {
    for (const config of [sources, compiled]) {
      const [status] = await migrationStatus(test.knex, config);
      expect(status?.pending).toEqual([]);
      expect(status?.missing).toEqual([]);
      expect(await migrateUp(test.knex, config)).toEqual([]);
    }
  });
});
