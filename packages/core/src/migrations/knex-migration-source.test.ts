// Loads the fixture migrations (no database): every module style must come out as up/down/config.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { MigrationError } from '../errors.js';
import { ModuleMigrationSource, loadMigration } from './knex-migration-source.js';
import { migrationKey } from './migration-source.js';
import type { MigrationRef } from './migration-types.js';

const shop = fileURLToPath(new URL('../../../../test/fixtures/migrations/shop/', import.meta.url));

function fixture(module: string, name: string): MigrationRef {
  return { module, name, key: migrationKey(name), file: path.join(shop, module, name) };
}

describe('loadMigration', () => {
  it.each([
    ['ESM TypeScript', fixture('accounts', '20240101120000_create_users.ts')],
    ['CommonJS exports.up', fixture('accounts', '20240301090000_add_user_email.cjs')],
    ['ESM JavaScript', fixture('catalog', '20240115080000_create_products.js')],
    ['default-exported object', fixture('orders', '20240201100000_create_orders.ts')],
  ])('loads %s', async (_, ref) => {
    const migration = await loadMigration(ref);
    expect(typeof migration.up).toBe('function');
    expect(typeof migration.down).toBe('function');
    expect(migration.config?.transaction).toBeUndefined();
  });

  it('keeps config.transaction = false', async () => {
    const migration = await loadMigration(fixture('catalog', '20240301090000_index_products.mjs'));
    expect(migration.config).toEqual({ transaction: false });
  });

  it('refuses a file without down, and one that does not load', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'strata-load-unit-'));
    try {
      await writeFile(path.join(dir, '1_only_up.mjs'), 'export async function up() {}\n');
      await writeFile(path.join(dir, '2_syntax.mjs'), 'export async function up( {\n');
      const noDown = await loadMigration({ module: 'm', name: '1_only_up.mjs', key: '1_only_up', file: path.join(dir, '1_only_up.mjs') }).catch((e: unknown) => e);
      expect(noDown).toBeInstanceOf(MigrationError);
      expect((noDown as MigrationError).message).toBe('The migration m:1_only_up.mjs has no down function.');
      const broken = await loadMigration({ module: 'm', name: '2_syntax.mjs', key: '2_syntax', file: path.join(dir, '2_syntax.mjs') }).catch((e: unknown) => e);
      expect(broken).toBeInstanceOf(MigrationError);
      expect((broken as MigrationError).code).toBe('migration-invalid');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ModuleMigrationSource', () => {
  it('names migrations by file name, as knex records them', async () => {
    const refs = [fixture('accounts', '20240101120000_create_users.ts')];
    const source = new ModuleMigrationSource(refs);
    expect(await source.getMigrations()).toEqual(refs);
    expect(source.getMigrationName(refs[0]!)).toBe('20240101120000_create_users.ts');
    // Same promise on repeated calls: knex asks several times per run.
    expect(source.getMigration(refs[0]!)).toBe(source.getMigration(refs[0]!));
  });
});
