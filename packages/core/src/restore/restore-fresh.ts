import { throwIfAborted, normaliseAbort } from '../abort.js';
import { faultPoint } from '../fault-point.js';
import { isConnectionLoss } from '../db/connection-loss.js';
import type { DatabaseServer, DbSession } from '../db/driver.js';
import { driverFor } from '../db/drivers.js';
import { tableId } from '../db/pg-introspect.js';
import { DatabaseError, redactUrl } from '../errors.js';
import type { Manifest } from '../format/manifest-schema.js';
import { planRestoreMigrations, runMigrations } from '../migrations/migration-runner.js';
import { checkModuleNames, migrateRecordingModules, tablesOfModules } from '../migrations/module-tables.js';
import type { MigrationRef } from '../migrations/migration-types.js';
import type { OperationContext } from '../operation-context.js';
import { captureDatabase } from '../snapshot/snapshot-capture.js';
import { resolveTableNames } from '../tables/table-names.js';
import { loadData, planLoad, type LoadPlan } from './restore-load.js';
import { openRestoreSource, planHeader, type CheckedRestore } from './restore-plan.js';
import { hasSelection, tablesLeftEmpty } from './restore-rules.js';
import { databaseExistsError } from './restore-target.js';
import type { RestoreOptions, RestorePlan, RestoreReport } from './restore-types.js';

/**
 * Restores a snapshot into a new database at today's schema (the `fresh` and `replace` targets of
 * `restore()`, which checked the request and resolved its target):
 * 1. a fresh database (never over an existing one, unless `replace` with `confirm`),
 * 2. each module migrated to exactly the migrations the snapshot recorded,
 * 3. the data loaded in foreign-key order with triggers off (see `loadData`),
 * 4. sequences reset and row counts checked,
 * 5. the remaining migrations run, so data migrations transform the old data.
 * The database is built under a temporary name and renamed at the end; on any failure or abort
 * it is dropped, and no other database is touched. Work databases of restores that are gone are
 * dropped first (see `DatabaseServer.dropAbandoned`). A lost maintenance session is replaced once
 * for the rename and once for the clean-up. Of two restores into one new name, the first to
 * rename wins; the other fails with `database-exists` and drops its work database.
 */
export async function restoreFresh(options: RestoreOptions, request: CheckedRestore & { targetKind: 'fresh' | 'replace' }): Promise<RestoreReport> {
  const started = Date.now();
  const ctx: OperationContext = options;
  const { config, env, signal } = options;
  const { target } = request;
  const replacing = request.targetKind === 'replace';
  const warnings: string[] = [];
  const warn = (message: string): void => {
    warnings.push(message);
    ctx.log?.('warn', message);
  };

  const driver = driverFor(target.url);
  const { server } = driver.describe(target.url);
  const source = await openRestoreSource(options);
  const { from, opened, manifest, transformer, prefix } = source;
  const migrations = await planRestoreMigrations(config, manifest.modules);
  for (const module of migrations.removedModules) warn(`Module ${module} is in the snapshot but no longer in the config; its tables are skipped.`);
  for (const module of migrations.newModules) warn(`Module ${module} is not in the snapshot; it is migrated fully after the load.`);
  // Names are checked against the snapshot before any database is created: a typo costs nothing.
  if (options.tables) resolveTableNames(options.tables, manifest.tables.map((t) => tableId(t.schema, t.name)), `Snapshot ${manifest.id}`);
  checkModuleNames(config, options.modules ?? []);
  const exclude = tablesLeftEmpty(env, options.excludeTables);

  const plan: RestorePlan = {
    ...planHeader(source, request, server),
    migrationsBefore: migrations.before.map(refName),
    migrationsAfter: migrations.after.map(refName),
    tables: manifest.tables.map((t) => ({ table: `${t.schema}.${t.name}`, rows: t.rows })),
    skipped: [],
  };

  const admin = await driver.server(target.url);
  // The maintenance session may be lost while the load runs (an administrator ends it, a proxy
  // drops an idle connection): the rename and the clean-up get one new session each.
  const withSession = async <T>(step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (error) {
      if (!admin.reconnect || !isConnectionLoss(error)) throw error;
      ctx.log?.('info', `The maintenance connection to ${server} was lost; reconnecting.`);
      await admin.reconnect();
      return step();
    }
  };
  let work: string | undefined;
  let guard: DbSession | undefined;
  try {
    const exists = await admin.exists(target.database);
    if (exists && !replacing) throw databaseExistsError(target.database, server);
    if (!exists && replacing) {
      throw new DatabaseError(`There is no database "${target.database}" on ${server} to replace.`, {
        code: 'database-not-found',
        hint: 'Leave out --replace and --confirm to restore into a new database of that name.',
      });
    }
    if (options.dryRun) {
      // A selection's tables depend on the schema at the snapshot's point (its foreign keys, which
      // tables a module created): a scratch database is migrated there to tell, then dropped.
      const scratch = hasSelection(options) ? await planOnScratch(ctx, admin, target, manifest, migrations, exclude, options) : undefined;
      const planned: RestorePlan = scratch
        ? {
            ...plan,
            tables: scratch.load.map(({ entry }) => ({ table: tableId(entry.schema, entry.name), rows: entry.rows })),
            skipped: scratch.skipped,
            addedDependencies: scratch.addedDependencies,
          }
        : plan;
      return { plan: planned, dryRun: true, database: target.database, tables: [], rebuilt: { indexes: 0, constraints: 0, foreignKeys: 0 }, sequencesReset: 0, warnings, durationMs: Date.now() - started };
    }

    for (const leftover of await admin.dropAbandoned()) {
      ctx.log?.('info', `Dropped ${leftover}, left behind by an interrupted restore.`);
    }

    let safetySnapshotId: string | undefined;
    if (replacing) {
      const safety = await captureDatabase(ctx, driver.withDatabase(target.url, target.database), {
        description: `Safety snapshot of ${target.database} before restoring ${manifest.id} over it`,
        tags: ['safety'],
      });
      safetySnapshotId = safety.id;
      ctx.log?.('info', `Safety snapshot ${safety.id} taken of ${target.database}.`);
    }

    throwIfAborted(signal, 'restore');
    work = await admin.createWork(target.database);
    const workUrl = driver.withDatabase(target.url, work);
    // Held for the whole run: a database with a session is never taken for a killed restore's
    // leftover. A single-session engine has no other process to race with, and the guard would
    // take the only session the restore itself needs.
    if (driver.maxSessions > 1) guard = await driver.connect(workUrl);

    const loadPlan = await prepareWorkDatabase(ctx, workUrl, manifest, migrations, exclude, options);
    for (const s of loadPlan.skipped) warn(`Table ${s.table} is skipped: ${s.reason}.`);
    if (loadPlan.cycles.length > 0) {
      ctx.log?.('info', `Foreign-key cycles loaded as groups: ${loadPlan.cycles.map((c) => c.join(' ↔ ')).join('; ')}.`);
    }
    const loaded = await loadData(from, workUrl, manifest, prefix, loadPlan, transformer, opened.identity);
    await faultPoint('restore:final-migrations', signal);
    await migrate(ctx, workUrl, migrations.after);
    throwIfAborted(signal, 'restore');
    if (options.beforeRename) await options.beforeRename(workUrl, target.database);

    throwIfAborted(signal, 'restore');
    await faultPoint('restore:rename', signal);
    // The maintenance session is checked (and replaced if lost) while the guard still holds the
    // work database, so it is never unguarded and unlocked at once. Another restore may have
    // taken the name meanwhile: then this one stops here.
    const taken = await withSession(() => admin.exists(target.database));
    if (taken && !replacing) throw databaseExistsError(target.database, server);
    await guard?.close();
    guard = undefined;
    const workName = work;
    const replacedDatabaseRenamedTo = await withSession(() => admin.promote(workName, target.database, replacing));
    work = undefined;
    return {
      plan: {
        ...plan,
        skipped: loaded.skipped,
        tables: loaded.tables.map((t) => ({ table: t.table, rows: t.rows })),
        ...(hasSelection(options) ? { addedDependencies: loadPlan.addedDependencies } : {}),
      },
      dryRun: false,
      database: target.database,
      tables: loaded.tables,
      rebuilt: loaded.rebuilt,
      sequencesReset: loaded.sequencesReset,
      warnings,
      ...(safetySnapshotId ? { safetySnapshotId } : {}),
      ...(replacedDatabaseRenamedTo ? { replacedDatabaseRenamedTo } : {}),
      durationMs: Date.now() - started,
    };
  } catch (error) {
    if (guard) await guard.close({ force: true });
    if (work) {
      const workName = work;
      await withSession(() => admin.drop(workName)).catch((dropError: unknown) => {
        ctx.log?.('warn', `Could not drop the incomplete database ${workName}: ${(dropError as Error).message}. Drop it by hand.`);
      });
    }
    // Another restore gave the database its name first (two restores into one new name).
    const failure = isDuplicateDatabase(error) ? databaseExistsError(target.database, server) : error;
    throw driver.translateError(normaliseAbort(failure, signal, 'restore'), redactUrl(target.url), 'restore into');
  } finally {
    await admin.close();
  }
}

/** PostgreSQL's duplicate_database (42P04), or a driver's own `database-exists`, from the rename into place. */
function isDuplicateDatabase(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '42P04' || code === 'database-exists';
}

function refName(ref: MigrationRef): string {
  return `${ref.module}:${ref.name}`;
}

async function migrate(ctx: OperationContext, url: string, refs: MigrationRef[]): Promise<void> {
  if (refs.length === 0) return;
  await driverFor(url).withKnex(url, (knex) =>
    runMigrations(knex, ctx.config, refs, {
      onMigration: async (ref) => {
        ctx.onProgress?.({ phase: 'migrate', item: refName(ref), rows: 0, done: true });
        await faultPoint('restore:migrate', ctx.signal);
      },
    }),
  );
}

/**
 * Migrates a fresh database to the snapshot's point and plans the load there. For `modules`, the
 * migrations run one at a time with their new tables recorded, which costs no extra run.
 */
async function prepareWorkDatabase(
  ctx: OperationContext,
  url: string,
  manifest: Manifest,
  migrations: { before: MigrationRef[]; removedModules: string[] },
  exclude: string[],
  options: Pick<RestoreOptions, 'tables' | 'modules' | 'withDependencies'>,
): Promise<LoadPlan> {
  let moduleTables: string[] = [];
  if (options.modules?.length) {
    moduleTables = tablesOfModules(ctx.config, await migrateRecordingModules(ctx, url, migrations.before), options.modules);
  } else {
    await migrate(ctx, url, migrations.before);
  }
  const selection = hasSelection(options)
    ? { tables: options.tables ?? [], moduleTables, withDependencies: options.withDependencies === true }
    : undefined;
  const client = await driverFor(url).connect(url);
  try {
    return await planLoad(client, manifest, migrations.removedModules, exclude, selection);
  } finally {
    await client.close();
  }
}

/** The load plan of a dry run with a selection, worked out in a scratch database that is dropped afterwards. */
async function planOnScratch(
  ctx: OperationContext,
  admin: DatabaseServer,
  target: { url: string; database: string },
  manifest: Manifest,
  migrations: { before: MigrationRef[]; removedModules: string[] },
  exclude: string[],
  options: RestoreOptions,
): Promise<LoadPlan> {
  const scratch = await admin.createWork(`a dry run of ${target.database}`);
  try {
    // A dry run reports no migration progress: nothing it migrates is kept.
    return await prepareWorkDatabase({ ...ctx, onProgress: undefined }, driverFor(target.url).withDatabase(target.url, scratch), manifest, migrations, exclude, options);
  } finally {
    await admin.drop(scratch).catch((error: unknown) => {
      ctx.log?.('warn', `Could not drop the scratch database ${scratch}: ${(error as Error).message}. Drop it by hand.`);
    });
  }
}
