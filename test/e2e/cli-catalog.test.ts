// list, show, verify and the restore guards (dry run, existing target) through the built CLI, on
// one snapshot of the shop taken at an early point of its history.
import { readFile } from 'node:fs/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { seedShop } from '../../examples/shop/seed.js';
import { describeRun } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import {
  databasesLike,
  expectUserError,
  listFiles,
  query,
  restoreLeftovers,
  shopHistory,
  strata,
  strataJson,
  stripExtension,
  takeSnapshot,
  tempDir,
  type ShopTarget,
} from './shop-fixture.js';

const history = shopHistory();
// Before the rename, the split and the backfills: the restore has work to do after the load.
const EARLY = history.find((m) => m.key.endsWith('create_order_audit'))!;
// The test server trusts local connections, so any password works: the URL carries one to check
// that no output and no stored file ever shows it.
const PASSWORD = 'catalog-Secret-9f3a';

let source: TestDatabase;
let snapshots: Awaited<ReturnType<typeof tempDir>>;
let target: ShopTarget;
let id: string;

beforeAll(async () => {
  source = await createTestDatabase('catalog');
  snapshots = await tempDir();
  const url = new URL(source.url);
  url.password = PASSWORD;
  target = { databaseUrl: url.toString(), snapshotDir: snapshots.path };
  await strataJson(target, ['migrate', 'up', '--to', EARLY.id]);
  await seedShop(source.url);
  id = await takeSnapshot(target, 'catalog e2e');
});

afterAll(async () => {
  await source?.drop();
  await snapshots?.remove();
});

describe('strata list / show / verify', () => {
  it('lists the snapshot, as text and as JSON', async () => {
    const list = await strataJson(target, ['list']);
    const entries: Array<{ id: string; tables: number; rows: number; tags: string[]; modules: Record<string, string | null> }> = Array.isArray(list)
      ? list
      : (list.snapshots ?? []);
    const entry = entries.find((e) => e.id === id);
    expect(entry, JSON.stringify(list)).toBeDefined();
    expect(entry!.tags).toContain('e2e');
    expect(entry!.rows).toBeGreaterThan(0);
    expect(stripExtension(entry!.modules.orders)).toBe(EARLY.key);

    const text = await strata(target, ['list']);
    expect(text.exitCode, describeRun(text)).toBe(0);
    expect(text.stdout).toContain(id);
  });

  it('shows the manifest by id and as latest, without credentials', async () => {
    const shown = await strataJson(target, ['show', id]);
    const manifest = shown.manifest ?? shown;
    expect(manifest.id).toBe(id);
    expect(manifest.project).toBe('shop');
    expect(manifest.formatVersion).toMatch(/^1\./);
    expect(Object.keys(manifest.modules).sort()).toEqual(['accounts', 'catalog', 'orders']);
    const customers = manifest.tables.find((t: { name: string }) => t.name === 'customers');
    expect(customers.rows).toBe(20);
    expect(customers.sha256).toMatch(/^[0-9a-f]{64}$/);

    const latest = await strataJson(target, ['show', 'latest']);
    expect((latest.manifest ?? latest).id).toBe(id);

    const text = await strata(target, ['show', 'latest']);
    expect(text.exitCode, describeRun(text)).toBe(0);
    expect(text.stdout).toContain(id);
    expect(text.stdout).toContain('customers');
    // zstd level 1 is the default; the shop's config sets no compression.
    expect(manifest.data).toMatchObject({ compression: 'zstd', level: 1 });
    expect(text.stdout).toMatch(/^Compression\s+zstd level 1$/m);

    expect(JSON.stringify(shown)).not.toContain(PASSWORD);
    expect(text.stdout + text.stderr).not.toContain(PASSWORD);
    for (const file of await listFiles(snapshots.path)) {
      if (file.endsWith('.json')) expect(await readFile(file, 'utf8'), file).not.toContain(PASSWORD);
    }
    const snapshotRun = await strata(target, ['snapshot', '--description', 'second']);
    expect(snapshotRun.exitCode, describeRun(snapshotRun)).toBe(0);
    expect(snapshotRun.stdout + snapshotRun.stderr).not.toContain(PASSWORD);
  });

  it('verifies every file of the snapshot', async () => {
    const verified = await strataJson(target, ['verify', 'latest']);
    expect(verified.ok).toBe(true);
    expect(verified.tables.length).toBeGreaterThan(0);
    for (const table of verified.tables) expect(table.status, JSON.stringify(table)).toBe('ok');
    const text = await strata(target, ['verify', id]);
    expect(text.exitCode, describeRun(text)).toBe(0);
  });
});

describe('strata restore guards', () => {
  it('--dry-run prints the plan and creates nothing', async () => {
    const name = `${source.name}_dry`;
    const report = await strataJson(target, ['restore', id, '--database', name, '--dry-run']);
    const plan = report.plan ?? report;
    expect(plan.database).toBe(name);
    expect(plan.migrationsBefore.map((m: string) => stripExtension(m))).toEqual(
      history.slice(0, history.indexOf(EARLY) + 1).map((m) => m.id),
    );
    expect(plan.migrationsAfter.map((m: string) => stripExtension(m))).toEqual(history.slice(history.indexOf(EARLY) + 1).map((m) => m.id));
    expect(plan.tables.map((t: { table: string }) => t.table.replace(/^public\./, ''))).toEqual(
      expect.arrayContaining(['customers', 'products', 'orders', 'order_lines']),
    );
    expect(await restoreLeftovers(source.adminUrl, name)).toEqual([]);

    expect(plan.targetKind).toBe('fresh');

    const text = await strata(target, ['restore', id, '--database', name, '--dry-run']);
    expect(text.exitCode, describeRun(text)).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^Target: fresh — a new database ${name} `, 'm'));
    expect(await restoreLeftovers(source.adminUrl, name)).toEqual([]);
  });

  it('--dry-run of --replace says the existing database is the target and leaves it as it is', async () => {
    const existing = await createTestDatabase('catalog_replace_dry');
    try {
      await query(existing.url, 'CREATE TABLE marker (x int); INSERT INTO marker VALUES (7)');
      const workBefore = await databasesLike(source.adminUrl, 'strata_tmp_');
      const args = ['restore', id, '--replace', '--confirm', existing.name, '--database', existing.name, '--dry-run'];
      const report = await strataJson(target, args);
      expect(report.plan.targetKind).toBe('replace');
      expect(report.plan.replace).toEqual({ database: existing.name });
      const text = await strata(target, args);
      expect(text.exitCode, describeRun(text)).toBe(0);
      expect(text.stdout).toMatch(new RegExp(`^Target: replace — the existing database ${existing.name} is swapped`, 'm'));
      expect(await query(existing.url, 'SELECT x FROM marker')).toEqual([{ x: 7 }]);
      expect(await databasesLike(source.adminUrl, 'strata_tmp_')).toEqual(workBefore);
    } finally {
      await existing.drop();
    }
  });

  it('--dry-run lists the tables in load order: parents before children', async () => {
    const report = await strataJson(target, ['restore', id, '--database', `${source.name}_dry`, '--dry-run']);
    const order = (report.plan ?? report).tables.map((t: { table: string }) => t.table.replace(/^public\./, ''));
    expect(order.indexOf('customers'), order.join(', ')).toBeLessThan(order.indexOf('orders'));
    expect(order.indexOf('orders'), order.join(', ')).toBeLessThan(order.indexOf('order_lines'));
    expect(order.indexOf('products'), order.join(', ')).toBeLessThan(order.indexOf('order_lines'));
    expect(order.indexOf('categories'), order.join(', ')).toBeLessThan(order.indexOf('products'));
  });

  it('--dry-run without --database names the default <project>_<env>_<YYYYMMDD> database', async () => {
    const before = await databasesLike(source.adminUrl, 'shop_dev_');
    const report = await strataJson(target, ['restore', 'latest', '--dry-run']);
    expect((report.plan ?? report).database).toMatch(/^shop_dev_\d{8}$/);
    expect(await databasesLike(source.adminUrl, 'shop_dev_')).toEqual(before);
  });

  it('refuses to restore into a database that exists, and leaves it untouched', async () => {
    const existing = await createTestDatabase('catalog_existing');
    try {
      await query(existing.url, 'CREATE TABLE marker (x int); INSERT INTO marker VALUES (42)');
      const before = await databasesLike(source.adminUrl, existing.name);
      const result = await strata(target, ['restore', id, '--database', existing.name]);
      const error = expectUserError(result);
      expect(error.message).toContain(existing.name);
      expect(error.message).toMatch(/--replace|--database|another name|exists/i);
      expect(await databasesLike(source.adminUrl, existing.name)).toEqual(before);

      const json = await strata(target, ['restore', id, '--database', existing.name, '--json']);
      const body = expectUserError(json, { json: true });
      expect(body.message).toContain(existing.name);
      expect(await query(existing.url, 'SELECT x FROM marker')).toEqual([{ x: 42 }]);
      expect(await query(existing.url, `SELECT to_regclass('public.customers') AS t`)).toEqual([{ t: null }]);
    } finally {
      await existing.drop();
    }
  });
});
