// strata restore --tables / --with-dependencies / --into through the built CLI, on one snapshot of
// the seeded shop at its latest migration: a fresh-database restore of two tables, the refusal of a
// selection whose foreign keys point outside it, the dry run's plan, and a table put back into a
// live database (its dry run, and the real run with its safety snapshot).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { seedShop } from '../../examples/shop/seed.js';
import { describeRun } from '../support/cli.js';
import { createTestDatabase, databaseUrl, dropDatabase, type TestDatabase, countRows as count } from '../support/database.js';
import { databaseExists, expectUserError, query, strata, strataJson, takeSnapshot, tempDir, type ShopTarget } from './shop-fixture.js';

let source: TestDatabase;
let snapshots: Awaited<ReturnType<typeof tempDir>>;
let target: ShopTarget;
let id: string;
const created: string[] = [];

function newName(label: string): string {
  const name = `${source.name}_${label}`;
  created.push(name);
  return name;
}

/** Every table `table` references through foreign keys, transitively, read from the catalog. */
async function referencedTables(url: string, table: string): Promise<string[]> {
  const rows = await query<{ t: string }>(
    url,
    `WITH RECURSIVE refs(t) AS (
       SELECT confrelid FROM pg_constraint WHERE contype = 'f' AND conrelid = $1::regclass AND confrelid <> conrelid
       UNION
       SELECT c.confrelid FROM pg_constraint c JOIN refs ON c.conrelid = refs.t WHERE c.contype = 'f'
     )
     SELECT DISTINCT n.nspname || '.' || c.relname AS t FROM refs JOIN pg_class c ON c.oid = refs.t JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid <> $1::regclass ORDER BY 1`,
    [`public.${table}`],
  );
  return rows.map((r) => r.t);
}

beforeAll(async () => {
  source = await createTestDatabase('cli_selective');
  snapshots = await tempDir();
  target = { databaseUrl: source.url, snapshotDir: snapshots.path };
  await strataJson(target, ['migrate', 'up']);
  await seedShop(source.url);
  id = await takeSnapshot(target, 'selective restore e2e');
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  await source?.drop();
  await snapshots?.remove();
});

describe('strata restore --tables', () => {
  it('restores only the named tables into a fresh database and prints them', async () => {
    const database = newName('tables');
    const result = await strata(target, ['restore', id, '--tables', 'customers', '--tables', 'categories', '--database', database]);
    expect(result.exitCode, describeRun(result)).toBe(0);
    expect(result.stdout).toContain('public.customers');
    expect(result.stdout).toContain('public.categories');
    expect(result.stdout).not.toContain('public.orders');
    const url = databaseUrl(source.url, database);
    for (const table of ['customers', 'categories']) expect(await count(url, table), table).toBe(await count(source.url, table));
    // Not selected: as the migrations left it, though the snapshot holds rows of it.
    expect(await count(source.url, 'orders')).toBeGreaterThan(0);
    expect(await count(url, 'orders')).toBe(0);
  });

  it('refuses a selection that references tables it leaves empty: exit 2, one sentence and a hint', async () => {
    const database = newName('refused');
    const result = await strata(target, ['restore', id, '--tables', 'orders', '--database', database]);
    expect(result.exitCode, describeRun(result)).toBe(2);
    const error = expectUserError(result);
    for (const table of await referencedTables(source.url, 'orders')) expect(error.message).toContain(table);
    expect(error.hint).toContain('--with-dependencies');
    expect(await databaseExists(source.adminUrl, database)).toBe(false);

    const json = expectUserError(await strata(target, ['restore', id, '--tables', 'orders', '--database', database, '--json']), { json: true });
    expect(json.code).toBe('selection-incomplete');
  });

  it('refuses --with-dependencies without a selection', async () => {
    const result = await strata(target, ['restore', id, '--with-dependencies', '--database', newName('nosel')]);
    expect(result.exitCode, describeRun(result)).toBe(2);
    expect(expectUserError(result).message).toContain('--with-dependencies');
  });

  it('--dry-run lists the tables with their rows and the dependencies it adds, and creates nothing', async () => {
    const database = newName('dry');
    const needed = await referencedTables(source.url, 'order_lines');
    expect(needed.length).toBeGreaterThan(1);

    const text = await strata(target, ['restore', id, '--tables', 'order_lines', '--with-dependencies', '--dry-run', '--database', database]);
    expect(text.exitCode, describeRun(text)).toBe(0);
    expect(text.stdout).toContain(`Added because selected tables reference them: ${needed.join(', ')}.`);
    for (const table of ['order_lines', ...needed.map((t) => t.replace(/^public\./, ''))]) {
      const line = text.stdout.split('\n').find((l) => l.trim().startsWith(`public.${table} `));
      expect(line, `no line for ${table} in:\n${text.stdout}`).toBeDefined();
      expect(line!.replace(/[\s,]/g, '')).toMatch(new RegExp(`${await count(source.url, table)}$`));
    }
    expect(text.stderr).toContain('Dry run');

    const report = await strataJson(target, ['restore', id, '--tables', 'order_lines', '--with-dependencies', '--dry-run', '--database', database]);
    expect(report.plan.addedDependencies).toEqual(needed);
    expect(report.plan.tables.map((t: { table: string }) => t.table).sort()).toEqual(['public.order_lines', ...needed].sort());
    expect(await databaseExists(source.adminUrl, database)).toBe(false);
  });
});

describe('strata restore --into', () => {
  // The test server trusts local connections, so any password works: it is there to check that
  // no output shows it.
  const PASSWORD = 'into-Secret-51c2';
  let live: string;

  beforeAll(async () => {
    // A live copy of the source, then changed: categories relabelled and one added.
    live = newName('live');
    const copy = await strata(target, ['restore', id, '--database', live]);
    expect(copy.exitCode, describeRun(copy)).toBe(0);
    await query(databaseUrl(source.url, live), `UPDATE categories SET label = label || ' (changed)'; INSERT INTO categories (slug, label, path) VALUES ('new-one', 'New', 'new-one')`);
  });

  it('--dry-run names the tables to empty with their rows now and the rows to load, and changes nothing', async () => {
    const liveUrl = databaseUrl(source.url, live);
    const withPassword = new URL(liveUrl);
    withPassword.password = PASSWORD;
    const before = await query(liveUrl, 'SELECT id, label FROM categories ORDER BY id');
    const now = await count(liveUrl, 'categories');
    const loaded = await count(source.url, 'categories');
    expect(now).not.toBe(loaded);

    const text = await strata(target, ['restore', id, '--tables', 'categories', '--into', withPassword.toString(), '--dry-run']);
    expect(text.exitCode, describeRun(text)).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^Target: into — the existing database ${live} keeps everything but the tables listed`, 'm'));
    const line = text.stdout.split('\n').find((l) => l.trim().startsWith('public.categories '));
    expect(line, text.stdout).toBeDefined();
    expect(line!.trim().split(/\s+/).slice(1).map((n) => Number(n.replace(/,/g, '')))).toEqual([now, loaded]);
    expect(text.stdout + text.stderr).not.toContain(PASSWORD);

    const report = await strataJson(target, ['restore', id, '--tables', 'categories', '--into', live, '--dry-run']);
    expect(report.plan.targetKind).toBe('into');
    expect(report.plan.into.emptied).toEqual([{ table: 'public.categories', rows: now }]);
    expect(await query(liveUrl, 'SELECT id, label FROM categories ORDER BY id')).toEqual(before);
  });

  it('replaces the table and prints the safety snapshot it took first', async () => {
    const liveUrl = databaseUrl(source.url, live);
    const changedBefore = await query(liveUrl, 'SELECT id, slug, label FROM categories ORDER BY id');
    const result = await strata(target, ['restore', id, '--tables', 'categories', '--into', live]);
    expect(result.exitCode, describeRun(result)).toBe(0);
    const safetyId = /Safety snapshot of the replaced tables: (\S+)\./.exec(result.stdout)?.[1];
    expect(safetyId, result.stdout).toBeDefined();
    expect(await query(liveUrl, 'SELECT id, slug, label FROM categories ORDER BY id')).toEqual(
      await query(source.url, 'SELECT id, slug, label FROM categories ORDER BY id'),
    );
    // The safety snapshot holds the table as it was just before.
    const shown = await strataJson(target, ['show', safetyId!]);
    const manifest = shown.manifest ?? shown;
    expect(manifest.tables.map((t: { name: string; rows: number }) => [t.name, t.rows])).toEqual([['categories', changedBefore.length]]);
  });
});
