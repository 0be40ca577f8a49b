// The core promise, end to end with the built CLI: a snapshot taken at ANY earlier point of the
// shop's history restores into the latest code, with the data transformed by the data migrations
// exactly as it would have been had the source database been migrated in place.
//
// For every point (after each migration, in global order): migrate a fresh database to it, seed
// it, snapshot it, restore the snapshot into a new database, migrate the source in place to the
// latest code (the oracle), then compare. The points run one after the other in this file.
import { afterAll, describe, expect, it } from 'vitest';

import { expectedFinalState, seedShop } from '../../examples/shop/seed.js';
import { createTestDatabase, databaseUrl, dropDatabase } from '../support/database.js';
import {
  SHOP_MODULES,
  databaseExists,
  dumpTables,
  lastPerModule,
  moduleStatuses,
  query,
  shopHistory,
  snapshotIdOf,
  strataJson,
  stripExtension,
  tempDir,
  type ShopTarget,
} from './shop-fixture.js';

const history = shopHistory();
const latest = lastPerModule(history);
const expected = expectedFinalState();
const cleanups: Array<() => Promise<void>> = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

describe.sequential('restoring a snapshot from every point of the shop history into the latest code', () => {
  it('has the history the tests rely on: at least four migrations per module', () => {
    for (const module of SHOP_MODULES) expect(history.filter((m) => m.module === module).length).toBeGreaterThanOrEqual(4);
  });

  for (const [index, point] of history.entries()) {
    const count = index + 1;
    it(`after ${point.id} (${count}/${history.length})`, async () => {
      const source = await createTestDatabase(`hist${count}`);
      const snapshots = await tempDir();
      const restoredName = `${source.name}_restored`;
      const restoredUrl = databaseUrl(source.adminUrl, restoredName);
      cleanups.push(source.drop, () => dropDatabase(restoredName), snapshots.remove);
      const target: ShopTarget = { databaseUrl: source.url, snapshotDir: snapshots.path };

      // 1. The source at this point, seeded with the shape of the day.
      await strataJson(target, ['migrate', 'up', '--to', point.id]);
      const seeded = await seedShop(source.url);
      const auditAtSnapshot = await countIfExists(source.url, 'order_audit');

      // 2. Snapshot: the manifest records each module's point.
      const taken = await strataJson(target, ['snapshot', '--description', `after ${point.id}`]);
      const id = snapshotIdOf(taken);
      const manifest = taken.manifest ?? unwrapManifest(await strataJson(target, ['show', id]));
      const atPoint = lastPerModule(history, count);
      for (const module of SHOP_MODULES) {
        expect(stripExtension(manifest.modules[module]?.last ?? null), `manifest modules.${module}.last`).toBe(atPoint[module]);
      }
      if (seeded.sessions !== undefined) {
        expect(manifest.excluded, 'the sessions table is excluded').toEqual(expect.arrayContaining([expect.stringMatching(/sessions$/)]));
      }
      expect(manifest.tables.map((t: { name: string }) => t.name)).not.toContain('sessions');

      // 3. Restore with the latest code into a new database.
      const report = await strataJson(target, ['restore', id, '--database', restoredName]);
      expect(await databaseExists(source.adminUrl, restoredName)).toBe(true);
      const loadOrder: string[] = (report.tables ?? []).map((t: { table: string }) => t.table.replace(/^public\./, ''));
      for (const [parent, child] of [['customers', 'orders'], ['orders', 'order_lines'], ['products', 'order_lines'], ['categories', 'products']]) {
        if (loadOrder.includes(child!)) expect(loadOrder.indexOf(parent!), `load order ${loadOrder.join(', ')}`).toBeLessThan(loadOrder.indexOf(child!));
      }
      const loaded = Object.fromEntries((report.tables ?? []).map((t: { table: string; rows: number }) => [t.table.replace(/^public\./, ''), t.rows]));
      for (const [table, rows] of Object.entries(seeded)) {
        if (table === 'sessions') continue;
        expect(loaded[table], `rows loaded into ${table} (report: ${JSON.stringify(report.tables)})`).toBe(rows);
      }

      // 4. The restored database is at the latest migration of every module.
      const status = moduleStatuses(await strataJson({ ...target, databaseUrl: restoredUrl }, ['migrate', 'status']));
      for (const module of SHOP_MODULES) {
        const s = status.find((x) => x.module === module);
        expect(s, `status of ${module}`).toBeDefined();
        expect(s!.pending, `pending migrations of ${module}`).toEqual([]);
        expect(stripExtension(s!.last), `last migration of ${module}`).toBe(latest[module]);
        expect(s!.applied.map(stripExtension), `applied migrations of ${module}`).toEqual(
          history.filter((m) => m.module === module).map((m) => m.key),
        );
      }

      // 5. The oracle: the source migrated in place. Every table must hold exactly the same rows.
      await strataJson(target, ['migrate', 'up']);
      const oracle = await dumpTables(source.url);
      const restored = await dumpTables(restoredUrl);
      expect(Object.keys(restored).sort()).toEqual(Object.keys(oracle).sort());
      for (const table of Object.keys(oracle)) {
        if (table === 'sessions') continue;
        expect(restored[table], `rows of ${table}`).toEqual(oracle[table]);
      }
      expect(restored.sessions, 'excluded sessions are not restored').toEqual([]);

      // 6. And the rows are the ones the data migrations define.
      await expectTransformedData(restoredUrl, seeded);

      // 7. The audit trigger did not fire while loading, and works again afterwards.
      expect(await countIfExists(restoredUrl, 'order_audit')).toBe(auditAtSnapshot);
      await expectFreshIdsAndLiveTriggers(restoredUrl, seeded);
    });
  }
});

async function countIfExists(url: string, table: string): Promise<number> {
  const [found] = await query<{ present: boolean }>(url, `SELECT to_regclass('public.' || $1) IS NOT NULL AS present`, [table]);
  if (!found?.present) return 0;
  const [count] = await query<{ n: number }>(url, `SELECT count(*)::int AS n FROM "${table}"`);
  return count!.n;
}

/** `show --json` may print the manifest itself or wrap it. */
function unwrapManifest(output: any): any {
  return output?.manifest ?? output;
}

async function expectTransformedData(url: string, seeded: Record<string, number>): Promise<void> {
  if (seeded.customers !== undefined) {
    const customers = await query(url, 'SELECT id::int, email, first_name, last_name, referred_by::int, email_verified FROM customers ORDER BY id');
    expect(customers, 'customers: names split, e-mails lower-cased').toEqual(expected.customers);
    const columns = await columnsOf(url, 'customers');
    expect(columns).not.toContain('full_name');
  }
  if (seeded.categories !== undefined) {
    expect(await query(url, 'SELECT id, parent_id, slug, label, path FROM categories ORDER BY id'), 'categories: path backfilled').toEqual(expected.categories);
  }
  if (seeded.products !== undefined) {
    const products = await query(url, 'SELECT id, sku, name, price::text, tags, attributes FROM products ORDER BY id');
    expect(products, 'products: title renamed to name, tags moved out of attributes').toEqual(expected.products);
    expect(await columnsOf(url, 'products')).not.toContain('title');
  }
  if (seeded.orders !== undefined) {
    const orders = await query(url, `SELECT id::int, customer_id::int, status::text, total_cents::int, currency FROM orders ORDER BY id`);
    expect(orders, 'orders: total_cents backfilled from lines, currency backfilled').toEqual(expected.orders);
    const [lines] = await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM order_lines');
    expect(lines!.n).toBe(expected.orderLines);
    // The generated column was recomputed, not loaded.
    const [wrong] = await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM order_lines WHERE line_total IS DISTINCT FROM quantity * unit_price');
    expect(wrong!.n).toBe(0);
  }
}

async function columnsOf(url: string, table: string): Promise<string[]> {
  const rows = await query<{ column_name: string }>(
    url,
    `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1`,
    [table],
  );
  return rows.map((r) => r.column_name);
}

/** Sequences and identities continue past the loaded maxima; triggers are back on after the load. */
async function expectFreshIdsAndLiveTriggers(url: string, seeded: Record<string, number>): Promise<void> {
  const [customer] = await query<{ id: number }>(
    url,
    `INSERT INTO customers (email, first_name, last_name) VALUES ('after.restore@example.com', 'After', 'Restore') RETURNING id::int`,
  );
  expect(customer!.id, 'a new customer gets an id past the loaded ones').toBeGreaterThan(seeded.customers ?? 0);
  const [category] = await query<{ id: number }>(url, `INSERT INTO categories (slug, label, path) VALUES ('new', 'New', '/new') RETURNING id`);
  expect(category!.id).toBeGreaterThan(seeded.categories ?? 0);
  const [product] = await query<{ id: number }>(
    url,
    `INSERT INTO products (sku, name, price, category_id) VALUES ('SKU-NEW', 'New', 1, $1) RETURNING id`,
    [category!.id],
  );
  expect(product!.id).toBeGreaterThan(seeded.products ?? 0);
  const auditBefore = await countIfExists(url, 'order_audit');
  const [order] = await query<{ id: number }>(
    url,
    `INSERT INTO orders (customer_id, placed_on, placed_at, total_cents, currency) VALUES ($1, current_date, now(), 0, 'EUR') RETURNING id::int`,
    [customer!.id],
  );
  expect(order!.id).toBeGreaterThan(seeded.orders ?? 0);
  const [line] = await query<{ id: number }>(
    url,
    `INSERT INTO order_lines (order_id, product_id, quantity, unit_price) VALUES ($1, $2, 1, 1) RETURNING id::int`,
    [order!.id, product!.id],
  );
  expect(line!.id).toBeGreaterThan(seeded.order_lines ?? 0);
  expect(await countIfExists(url, 'order_audit'), 'the audit trigger fires again after the restore').toBe(auditBefore + 1);
  const [audit] = await query<{ n: number }>(url, 'SELECT count(*)::int AS n FROM order_audit WHERE order_id = $1', [order!.id]);
  expect(audit!.n).toBe(1);
}
