// What each command of the kill suite runs, and what its next run must have produced, checked on
// the database and the storage directly.
import { expect, inject } from 'vitest';

import { describeRun } from '../support/cli.js';
import { createTestDatabase, databaseUrl, queryAt } from '../support/database.js';
import { divergeLiveDatabase, seedSource, SOURCE_POINT, TABLES } from './fixtures/kill-project.js';
import { databaseChecksums, foldersWithManifest } from './support/checks.js';
import { targetName, type CommandPlan, type KillOutcome, type ScenarioContext } from './kill-scenario.js';

/** Row counts of the fixture's tables at `url`. */
async function rowCounts(url: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of TABLES) counts[table] = Number((await queryAt<{ n: string }>(url, `SELECT count(*) AS n FROM ${table}`))[0]!.n);
  return counts;
}

/** The restored database exists, holds the source's rows, and the migrations after the snapshot's point ran on them. */
async function expectRestored(ctx: ScenarioContext, database: string): Promise<void> {
  expect(await ctx.role.databases(), `${database} was not created`).toContain(database);
  const url = databaseUrl(inject('adminDatabaseUrl'), database);
  expect(await rowCounts(url)).toEqual(await rowCounts(ctx.project.source.url));
  const [migrated] = await queryAt<{ domains: string; totals: string }>(
    url,
    'SELECT (SELECT count(email_domain) FROM customers) AS domains, (SELECT count(total_cents) FROM orders) AS totals',
  );
  expect(Number(migrated!.domains), 'the final data migration of accounts did not run').toBe(5000);
  expect(Number(migrated!.totals), 'the final data migration of sales did not run').toBe(20000);
}

/** `env`'s folder `id` holds exactly the files of the primary's, byte for byte. */
async function expectSameSnapshot(ctx: ScenarioContext, o: KillOutcome, env: string, id: string): Promise<void> {
  const original = o.next.folders[ctx.primary]![id]!;
  expect(o.next.folders[env]![id], `${env} has no folder ${id}`).toEqual(original);
  for (const file of original) {
    const [a, b] = await Promise.all([ctx.views[ctx.primary]!.read(id, file), ctx.views[env]!.read(id, file)]);
    expect(b.equals(a), `${env}/${id}/${file} differs from the original`).toBe(true);
  }
}

export const snapshotPlan: CommandPlan = {
  async prepare(ctx) {
    // A complete, older snapshot is there first: `latest` must keep naming it, not the newer partial one.
    await ctx.seed(ctx.primary, ctx.baseIds[0]!);
    return {
      args: ['snapshot', '--env', ctx.primary, '--description', 'killed, then run again'],
      catalogues: [ctx.primary],
      async checkNextRun(ctx, o) {
        const before = foldersWithManifest(o.afterKill.folders[ctx.primary]!);
        const made = foldersWithManifest(o.next.folders[ctx.primary]!).filter((f) => !before.includes(f));
        expect(made, 'the next snapshot left no folder with a manifest').toHaveLength(1);
        const files = o.next.folders[ctx.primary]![made[0]!]!;
        const manifest = JSON.parse((await ctx.views[ctx.primary]!.read(made[0]!, 'manifest.json')).toString('utf8')) as {
          tables: Array<{ name: string; file: string; rows: number }>;
        };
        for (const table of manifest.tables) expect(files, `no data file for ${table.name}`).toContain(table.file);
        const counts = await rowCounts(ctx.project.source.url);
        expect(Object.fromEntries(manifest.tables.map((t) => [t.name, t.rows]))).toEqual(counts);
      },
    };
  },
};

export const restorePlan: CommandPlan = {
  async prepare(ctx) {
    const id = ctx.baseIds[0]!;
    await ctx.seed(ctx.primary, id);
    const database = targetName('restored');
    return {
      args: ['restore', id, '--env', ctx.primary, '--database', database],
      catalogues: [ctx.primary],
      checkNextRun: (ctx) => expectRestored(ctx, database),
    };
  },
};

export const restoreIntoPlan: CommandPlan = {
  async prepare(ctx) {
    const id = ctx.baseIds[0]!;
    await ctx.seed(ctx.primary, id);
    // A live database at the snapshot's migrations whose orders differ from the snapshot's.
    const live = await createTestDatabase('faults_live');
    ctx.onCleanup(() => live.drop());
    const migrated = await ctx.project.strata(['migrate', 'up', '--to', SOURCE_POINT, '--env', ctx.primary], { ...ctx.vars, STRATA_DATABASE_URL: live.url });
    expect(migrated.exitCode, describeRun(migrated)).toBe(0);
    await seedSource(live.url);
    await divergeLiveDatabase(live.url);
    return {
      args: ['restore', id, '--env', ctx.primary, '--tables', 'orders,order_lines', '--into', live.name],
      catalogues: [ctx.primary],
      intoUrl: live.url,
      async checkNextRun(_ctx, o) {
        const [now, source] = await Promise.all([databaseChecksums(live.url), databaseChecksums(_ctx.project.source.url)]);
        for (const table of ['table public.orders', 'table public.order_lines']) expect(now[table], `${table} was not replaced`).toBe(source[table]);
        for (const table of ['table public.customers', 'table public.products']) expect(now[table], `${table} was touched`).toBe(o.before.into![table]);
      },
    };
  },
};

export const copyPlan: CommandPlan = {
  async prepare(ctx) {
    const id = ctx.baseIds[0]!;
    await ctx.seed(ctx.primary, id);
    return {
      args: ['copy', id, '--from-env', ctx.primary, '--to-env', ctx.secondary],
      catalogues: [ctx.primary, ctx.secondary],
      checkNextRun: (ctx, o) => expectSameSnapshot(ctx, o, ctx.secondary, id),
    };
  },
};

export const promotePlan: CommandPlan = {
  async prepare(ctx) {
    const id = ctx.baseIds[0]!;
    await ctx.seed(ctx.primary, id);
    const database = targetName('promoted');
    return {
      // The two environments' storages differ, so a promotion copies before it restores.
      args: ['promote', '--from', ctx.primary, '--to', ctx.secondary, '--snapshot', id, '--database', database, '--yes'],
      catalogues: [ctx.primary, ctx.secondary],
      async checkNextRun(ctx, o) {
        await expectSameSnapshot(ctx, o, ctx.secondary, id);
        await expectRestored(ctx, database);
      },
    };
  },
};

export const prunePlan: CommandPlan = {
  async prepare(ctx) {
    const [older, newer] = ctx.baseIds as [string, string];
    await ctx.seed(ctx.primary, older);
    await ctx.seed(ctx.primary, newer);
    return {
      args: ['prune', '--env', ctx.primary, '--keep-last', '1'],
      catalogues: [ctx.primary],
      async checkNextRun(ctx, o) {
        // Whether the older folder's remains are gone is the clean-up check's business.
        expect(foldersWithManifest(o.next.folders[ctx.primary]!), 'prune --keep-last 1 keeps the newer snapshot only').toEqual([newer]);
        expect(o.next.folders[ctx.primary]![newer], 'the kept snapshot was touched').toEqual(o.before.folders[ctx.primary]![newer]);
      },
    };
  },
};
