import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { LoadedConfig } from '../config/config-loader.js';
import { ConfigError } from '../errors.js';
import {
  isMigrationFile,
  listMigrations,
  listModuleMigrations,
  migrationKey,
  migrationTimestamp,
  moduleTableName,
  orderMigrations,
} from './migration-source.js';
import type { MigrationRef } from './migration-types.js';

function configOf(baseDir: string, modules: LoadedConfig['modules']): LoadedConfig {
  return { project: 'unit', modules, environments: {}, exclude: [], configPath: path.join(baseDir, 'strata.config.ts'), baseDir };
}

function ref(module: string, name: string): MigrationRef {
  return { module, name, key: migrationKey(name), file: `/m/${module}/${name}` };
}

const ids = (refs: MigrationRef[]): string[] => refs.map((r) => `${r.module}:${r.name}`);

describe('migrationKey', () => {
  it('drops every supported extension and nothing else', () => {
    expect(migrationKey('20240101_a.ts')).toBe('20240101_a');
    expect(migrationKey('20240101_a.js')).toBe('20240101_a');
    expect(migrationKey('20240101_a.mjs')).toBe('20240101_a');
    expect(migrationKey('20240101_a.cjs')).toBe('20240101_a');
    expect(migrationKey('20240101_a.cts')).toBe('20240101_a');
    expect(migrationKey('20240101_v1.2')).toBe('20240101_v1.2');
  });
});

describe('moduleTableName', () => {
  it('defaults to knex_migrations_<module> and honours tableName', () => {
    const config = configOf('/x', { a: { migrations: '/x/a' }, b: { migrations: '/x/b', tableName: 'knex_migrations' } });
    expect(moduleTableName(config, 'a')).toBe('knex_migrations_a');
    expect(moduleTableName(config, 'b')).toBe('knex_migrations');
  });
});

describe('isMigrationFile', () => {
  it('accepts .js .mjs .cjs .ts and skips declarations, maps and others', () => {
    expect(['a.js', 'a.mjs', 'a.cjs', 'a.ts'].map(isMigrationFile)).toEqual([true, true, true, true]);
    expect(['a.d.ts', 'a.d.mts', 'a.js.map', 'README.md', '.a.js', 'a.json', 'a.tsx'].map(isMigrationFile)).toEqual([
      false, false, false, false, false, false, false,
    ]);
  });
});

describe('migrationTimestamp', () => {
  it('is the leading digits, or null', () => {
    expect(migrationTimestamp('20240101120000_create_users.ts')).toBe('20240101120000');
    expect(migrationTimestamp('create_users.ts')).toBeNull();
  });
});

describe('orderMigrations', () => {
  it('interleaves modules by timestamp and breaks ties by module order, not by name', () => {
    const orders = [ref('orders', '20240201_create_orders.ts'), ref('orders', '20240301_note.js')];
    const accounts = [ref('accounts', '20240101_users.ts'), ref('accounts', '20240301_email.cjs')];
    const catalog = [ref('catalog', '20240115_products.js'), ref('catalog', '20240301_index.mjs')];
    // Config order: orders, catalog, accounts.
    expect(ids(orderMigrations([orders, catalog, accounts]))).toEqual([
      'accounts:20240101_users.ts',
      'catalog:20240115_products.js',
      'orders:20240201_create_orders.ts',
      'orders:20240301_note.js',
      'catalog:20240301_index.mjs',
      'accounts:20240301_email.cjs',
    ]);
  });

  it('compares prefixes of different precision left-aligned, as timestamps', () => {
    const a = [ref('a', '20240301_day.ts')];
    const b = [ref('b', '20240101120000_full.ts')];
    expect(ids(orderMigrations([a, b]))).toEqual(['b:20240101120000_full.ts', 'a:20240301_day.ts']);
  });

  it("keeps each module's own order even when its prefixes are not monotone", () => {
    // knex sorts `10_x` before `1_y` (by code units); strata must not reorder a module.
    const a = [ref('a', '10_x.js'), ref('a', '1_y.js')];
    const b = [ref('b', '05_z.js')];
    const out = ids(orderMigrations([a, b]));
    expect(out.indexOf('a:10_x.js')).toBeLessThan(out.indexOf('a:1_y.js'));
    expect(out).toHaveLength(3);
  });

  it('runs a name without a timestamp right after its predecessor in its module', () => {
    const a = [ref('a', '20240101_first.js'), ref('a', 'zz_seed.js')];
    const b = [ref('b', '20240102_second.js')];
    expect(ids(orderMigrations([a, b]))).toEqual(['a:20240101_first.js', 'a:zz_seed.js', 'b:20240102_second.js']);
  });
});

describe('listMigrations (folders)', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'strata-migrations-unit-'));
    await mkdir(path.join(root, 'a', 'nested.js'), { recursive: true });
    await mkdir(path.join(root, 'b'));
    await mkdir(path.join(root, 'dup'));
    for (const f of ['20240102_two.js', '20240101_one.ts', '20240101_one.d.ts', '20240102_two.js.map', 'notes.md']) {
      await writeFile(path.join(root, 'a', f), '');
    }
    await writeFile(path.join(root, 'b', '20240101_b.cjs'), '');
    await writeFile(path.join(root, 'dup', '20240101_x.js'), '');
    await writeFile(path.join(root, 'dup', '20240101_x.ts'), '');
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('lists migration files only, sorted like knex, with absolute paths and keys', async () => {
    const config = configOf(root, { a: { migrations: path.join(root, 'a') } });
    const refs = await listModuleMigrations(config, 'a');
    expect(refs).toEqual([
      { module: 'a', name: '20240101_one.ts', key: '20240101_one', file: path.join(root, 'a', '20240101_one.ts') },
      { module: 'a', name: '20240102_two.js', key: '20240102_two', file: path.join(root, 'a', '20240102_two.js') },
    ]);
  });

  it('orders all modules globally', async () => {
    const config = configOf(root, { a: { migrations: path.join(root, 'a') }, b: { migrations: path.join(root, 'b') } });
    expect(ids(await listMigrations(config))).toEqual(['a:20240101_one.ts', 'b:20240101_b.cjs', 'a:20240102_two.js']);
  });

  it('refuses a folder holding both x.js and x.ts', async () => {
    const config = configOf(root, { dup: { migrations: path.join(root, 'dup') } });
    const error = await listMigrations(config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('migration-duplicate');
    expect((error as ConfigError).message).toContain('20240101_x.js');
  });

  it('reports a missing folder as a ConfigError naming the module', async () => {
    const config = configOf(root, { gone: { migrations: path.join(root, 'nope') } });
    const error = await listMigrations(config).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('migrations-folder-missing');
    expect((error as ConfigError).message).toContain('module gone');
  });
});
