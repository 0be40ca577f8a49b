import type { LoadedConfig } from '../config/config-loader.js';
import type { Queryable } from '../db/driver.js';
import { driverFor } from '../db/drivers.js';
import { tableId } from '../db/pg-introspect.js';
import { ConfigError } from '../errors.js';
import type { ModuleEntry } from '../format/manifest-schema.js';
import type { OperationContext } from '../operation-context.js';
import { planRestoreMigrations, runMigrations } from './migration-runner.js';
import { moduleTableName } from './migration-source.js';
import type { MigrationRef } from './migration-types.js';

/** `schema.table` → the module whose migrations created it. Tables no migration created are absent. */
export type ModuleTables = Map<string, string>;

/**
 * Runs `refs` in order on `url` (a database the migrations have not touched yet) and records
 * which module's migration created each table. PostgreSQL does not remember who created a table,
 * so strata watches: after each migration, tables with a new oid belong to that migration's module.
 * Oids survive renames, so a table a later migration renames keeps its module.
 */
export async function migrateRecordingModules(
  ctx: Pick<OperationContext, 'config' | 'onProgress'>,
  url: string,
  refs: MigrationRef[],
): Promise<ModuleTables> {
  const owner = new Map<string, string>();
  const driver = driverFor(url);
  const client = await driver.connect(url);
  try {
    for (const oid of await tableOids(client)) owner.set(oid, '');
    await driver.withKnex(url, (knex) =>
      runMigrations(knex, ctx.config, refs, {
        onMigration: async (ref) => {
          for (const oid of await tableOids(client)) if (!owner.has(oid)) owner.set(oid, ref.module);
          ctx.onProgress?.({ phase: 'migrate', item: `${ref.module}:${ref.name}`, rows: 0, done: true });
        },
      }),
    );
    const { rows } = await client.query<{ oid: string; schema: string; name: string }>(
      `SELECT c.oid::text AS oid, n.nspname AS schema, c.relname AS name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')`,
    );
    // knex creates a module's history tables just before its first migration: not the module's data.
    const history = new Set(Object.keys(ctx.config.modules).flatMap((m) => [moduleTableName(ctx.config, m), `${moduleTableName(ctx.config, m)}_lock`]));
    const result: ModuleTables = new Map();
    for (const r of rows) {
      const module = owner.get(r.oid);
      if (module && !history.has(r.name)) result.set(tableId(r.schema, r.name), module);
    }
    return result;
  } finally {
    await client.close();
  }
}

/**
 * Which module created each table of a database at the migration versions `modules` records
 * (a snapshot's, or a live database's): the migrations are replayed in a scratch database on the
 * server of `serverUrl`, which is dropped afterwards. Needs the right to create databases there.
 */
export async function moduleTablesAt(
  ctx: Pick<OperationContext, 'config' | 'log'>,
  serverUrl: string,
  modules: Record<string, ModuleEntry>,
): Promise<ModuleTables> {
  const plan = await planRestoreMigrations(ctx.config, modules);
  const driver = driverFor(serverUrl);
  const admin = await driver.server(serverUrl);
  let scratch: string | undefined;
  try {
    scratch = await admin.createWork('a module map');
    return await migrateRecordingModules(ctx, driver.withDatabase(serverUrl, scratch), plan.before);
  } finally {
    if (scratch) {
      await admin.drop(scratch).catch((error: unknown) => {
        ctx.log?.('warn', `Could not drop the scratch database ${scratch}: ${(error as Error).message}. Drop it by hand.`);
      });
    }
    await admin.close();
  }
}

/**
 * The tables of `modules` in a module map, in name order. An unknown module name or a module
 * that created no table is a config error naming it.
 */
export function tablesOfModules(config: LoadedConfig, map: ModuleTables, modules: string[]): string[] {
  checkModuleNames(config, modules);
  const tables = new Set<string>();
  for (const module of modules) {
    const mine = [...map].filter(([, m]) => m === module).map(([t]) => t);
    if (mine.length === 0) {
      throw new ConfigError(`Module ${module} creates no table at this point of its migrations.`, {
        code: 'module-without-tables',
        hint: 'Pick the tables with --tables instead.',
      });
    }
    for (const t of mine) tables.add(t);
  }
  return [...tables].sort();
}

/** Refuses a module name the config does not have, naming the ones it has. */
export function checkModuleNames(config: LoadedConfig, modules: string[]): void {
  const unknown = modules.find((m) => !(m in config.modules));
  if (unknown === undefined) return;
  throw new ConfigError(`There is no module "${unknown}" in the config.`, {
    code: 'module-unknown',
    hint: `Modules: ${Object.keys(config.modules).join(', ')}.`,
  });
}

async function tableOids(client: Queryable): Promise<string[]> {
  const { rows } = await client.query<{ oid: string }>(
    `SELECT c.oid::text AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`,
  );
  return rows.map((r) => r.oid);
}
