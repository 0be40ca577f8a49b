import type { Knex } from 'knex';
import type { LoadedConfig } from '../config/config-loader.js';
import { driverFor } from '../db/drivers.js';
import { ConfigError, MigrationError, StrataError } from '../errors.js';
import type { ModuleEntry } from '../format/manifest-schema.js';
import { ModuleMigrationSource } from './knex-migration-source.js';
import { listMigrations, listModuleMigrations, migrationKey, moduleTableName } from './migration-source.js';
import type { MigrationRef, ModuleMigrationStatus, RestoreMigrationPlan } from './migration-types.js';

/** Per module: applied, pending and last migration in the database `knex` points at. */
export async function migrationStatus(knex: Knex, config: LoadedConfig): Promise<ModuleMigrationStatus[]> {
  const all = await listMigrations(config);
  const applied = await readApplied(knex, config);
  return Object.keys(config.modules).map((module) => {
    const names = applied.get(module) ?? [];
    const appliedKeys = new Set(names.map(migrationKey));
    const codeKeys = new Set(all.filter((ref) => ref.module === module).map((ref) => ref.key));
    return {
      module,
      tableName: moduleTableName(config, module),
      applied: names,
      pending: all.filter((ref) => ref.module === module && !appliedKeys.has(ref.key)).map((ref) => ref.name),
      last: names.at(-1) ?? null,
      missing: names.filter((name) => !codeKeys.has(migrationKey(name))),
    };
  });
}

/**
 * Runs exactly `migrations`, in the given order, each through knex's migrator with its module's
 * migrations table, so the records are the ones the app's own knex writes.
 *
 * Each migration is its own knex batch (as `knex migrate:up` does), so the app's
 * `knex migrate:rollback` undoes one at a time. A migration already recorded under the same key
 * (say `x.js` when the code has `x.ts`) is skipped rather than run twice. `onMigration` is called
 * after each migration is applied and recorded.
 */
export async function runMigrations(
  knex: Knex,
  config: LoadedConfig,
  migrations: MigrationRef[],
  options: { onMigration?: (ref: MigrationRef) => void | Promise<void> } = {},
): Promise<void> {
  if (migrations.length === 0) return;
  const appliedKeys = await readAppliedKeys(knex, config);
  const sources = new Map<string, ModuleMigrationSource>();
  for (const module of new Set(migrations.map((ref) => ref.module))) {
    const listed = await listModuleMigrations(config, module);
    const extra = migrations.filter((ref) => ref.module === module && !listed.some((l) => l.name === ref.name));
    sources.set(module, new ModuleMigrationSource([...listed, ...extra]));
  }

  for (const ref of migrations) {
    const keys = appliedKeys.get(ref.module);
    if (keys?.has(ref.key)) continue;
    const source = sources.get(ref.module)!;
    const tableName = moduleTableName(config, ref.module);
    let log: unknown;
    try {
      // knex's own migrator writes the record (name, batch, time) and takes the lock table, so
      // the history is indistinguishable from the app's. Its list validation is off because it
      // compares names with extensions: a database migrated by compiled `x.js` files would look
      // "corrupt" next to `x.ts` sources; strata matched by key above instead.
      [, log] = (await knex.migrate.up({
        name: ref.name,
        tableName,
        migrationSource: source,
        disableMigrationsListValidation: true,
      })) as [number, string[]];
    } catch (error) {
      throw await migrationFailure(knex, ref, tableName, source, error);
    }
    if (!Array.isArray(log) || !log.includes(ref.name)) {
      // knex skips a migration it finds recorded under exactly this name; readApplied saw none,
      // so another process must have run it meanwhile.
      throw new MigrationError(`The migration ${ref.module}:${ref.name} was not run: ${tableName} already records it.`, {
        code: 'migration-concurrent',
        hint: 'Another migration run is working on this database; wait for it and check `strata migrate status`.',
      });
    }
    keys?.add(ref.key);
    await options.onMigration?.(ref);
  }
}

/**
 * Applies pending migrations of all modules, interleaved; with `to` (`module:name`) stops after it.
 * `to` may name the migration with or without its extension; an unknown `to` is a `ConfigError`.
 * Returns the migrations that ran, in order.
 */
export async function migrateUp(
  knex: Knex,
  config: LoadedConfig,
  options: { to?: string; onMigration?: (ref: MigrationRef) => void } = {},
): Promise<MigrationRef[]> {
  const all = await listMigrations(config);
  let upTo = all.length;
  if (options.to !== undefined) upTo = all.indexOf(findTarget(all, options.to)) + 1;
  const appliedKeys = await readAppliedKeys(knex, config);
  const pending = all.slice(0, upTo).filter((ref) => !appliedKeys.get(ref.module)?.has(ref.key));
  const ran: MigrationRef[] = [];
  await runMigrations(knex, config, pending, {
    onMigration: (ref) => {
      ran.push(ref);
      options.onMigration?.(ref);
    },
  });
  return ran;
}

/**
 * Splits the code base's migrations into those a restore runs before the load (the snapshot's
 * applied set) and after it. Throws `MigrationError` naming the first applied migration that the
 * code base does not have.
 *
 * Migrations are matched by key (name without extension), so a snapshot of a database migrated by
 * compiled `.js` files plans against `.ts` sources. The manifest's `tableName` of a module is
 * ignored: the restore writes history where the current config says (`moduleTableName`), which is
 * where the current app's knex will look for it.
 */
export async function planRestoreMigrations(
  config: LoadedConfig,
  modules: Record<string, ModuleEntry>,
): Promise<RestoreMigrationPlan> {
  const all = await listMigrations(config);
  const configured = Object.keys(config.modules);
  const appliedKeys = new Map<string, Set<string>>();
  for (const module of configured) {
    const entry = modules[module];
    if (!entry) continue;
    const codeKeys = new Set(all.filter((ref) => ref.module === module).map((ref) => ref.key));
    const keys = new Set(entry.applied.map(migrationKey));
    const absent = [...keys].find((key) => !codeKeys.has(key));
    if (absent !== undefined) {
      throw new MigrationError(
        `The snapshot needs migration ${module}:${absent} of module ${module}, which this code base does not have.`,
        {
          code: 'migration-missing',
          hint: 'Restore with the code base that took the snapshot, or a newer one that still has this migration.',
        },
      );
    }
    appliedKeys.set(module, keys);
  }
  const inSnapshot = (ref: MigrationRef): boolean => appliedKeys.get(ref.module)?.has(ref.key) ?? false;
  return {
    before: all.filter(inSnapshot),
    after: all.filter((ref) => !inSnapshot(ref)),
    removedModules: Object.keys(modules).filter((module) => !configured.includes(module)),
    newModules: configured.filter((module) => !(module in modules)),
  };
}

/** Finds `module:name` (or a bare name that only one module has), with or without extension. */
function findTarget(all: MigrationRef[], to: string): MigrationRef {
  const colon = to.indexOf(':');
  const module = colon === -1 ? undefined : to.slice(0, colon);
  const key = migrationKey(colon === -1 ? to : to.slice(colon + 1));
  const matches = all.filter((ref) => ref.key === key && (module === undefined || ref.module === module));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new ConfigError(`The migration ${to} exists in several modules: ${matches.map((m) => m.module).join(', ')}.`, {
      code: 'migration-ambiguous',
      hint: `Name it as module:name, e.g. ${matches[0]!.module}:${matches[0]!.name}.`,
    });
  }
  throw new ConfigError(`No module has a migration ${to}.`, {
    code: 'migration-unknown',
    hint: 'Run `strata migrate status` to see every module and its migration names, and pass --to module:name.',
  });
}

/**
 * The recorded migrations of each module, in order of id. A module whose table does not exist
 * has none; the table is not created (status must not write to the database).
 */
async function readApplied(knex: Knex, config: LoadedConfig): Promise<Map<string, string[]>> {
  const byTable = new Map<string, string>();
  for (const module of Object.keys(config.modules)) {
    const tableName = moduleTableName(config, module);
    const other = byTable.get(tableName);
    if (other !== undefined) {
      // Both histories would mix in one table and each module would see the other's as missing.
      throw new ConfigError(`The modules ${other} and ${module} share the migrations table ${tableName}.`, {
        code: 'migrations-table-shared',
        hint: `Give one of them another tableName in ${config.configPath}.`,
      });
    }
    byTable.set(tableName, module);
  }
  const applied = new Map<string, string[]>();
  try {
    for (const [tableName, module] of byTable) {
      const exists = await knex.schema.hasTable(tableName);
      const rows: { name: string }[] = exists ? await knex(tableName).select('name').orderBy('id') : [];
      applied.set(module, rows.map((row) => row.name));
    }
  } catch (error) {
    throw translateError(error, serverUrl(knex));
  }
  return applied;
}

/** Per module, the keys (names without extension) of its recorded migrations. */
async function readAppliedKeys(knex: Knex, config: LoadedConfig): Promise<Map<string, Set<string>>> {
  const applied = await readApplied(knex, config);
  return new Map([...applied].map(([module, names]) => [module, new Set(names.map(migrationKey))]));
}

async function migrationFailure(
  knex: Knex,
  ref: MigrationRef,
  tableName: string,
  source: ModuleMigrationSource,
  error: unknown,
): Promise<StrataError> {
  if (error instanceof StrataError) return error;
  // Only a lost, refused or cancelled session is the database's fault; anything else is the migration's.
  const translated = translateError(error, serverUrl(knex));
  if (translated instanceof StrataError && CONNECTION_CODES.has(translated.code)) return translated;
  if (error instanceof Error && error.name === 'MigrationLocked') {
    return new MigrationError(`The migrations table ${tableName} of module ${ref.module} is locked by another migration run.`, {
      code: 'migration-locked',
      hint: `Wait for that run to finish; if none is running, release the lock with \`UPDATE ${tableName}_lock SET is_locked = 0\`.`,
      cause: error,
    });
  }
  const outsideTransaction = await source
    .getMigration(ref)
    .then((m) => m.config?.transaction === false)
    .catch(() => false);
  return new MigrationError(`The migration ${ref.module}:${ref.name} of module ${ref.module} failed: ${driverMessage(error)}.`, {
    code: 'migration-failed',
    hint: outsideTransaction
      ? 'It runs outside a transaction (config.transaction = false): check for partial changes, fix it, and migrate again.'
      : 'Its transaction was rolled back; fix the migration and migrate again.',
    cause: error,
  });
}

// knex prefixes a driver error with the whole statement, bound values inlined; the statement can
// be long and carry data, so the message keeps PostgreSQL's own sentence (the cause keeps all).
function driverMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const isPgError = typeof (error as { severity?: unknown } | null)?.severity === 'string';
  const cut = isPgError ? message.lastIndexOf(' - ') : -1;
  const own = cut === -1 ? message : message.slice(cut + 3);
  return (own.split('\n')[0] ?? own).replace(/\.$/, '');
}

/**
 * Codes of the driver errors that are the server's doing, not the migration's: strata never got a
 * working session, lost it half-way (terminated, server restarted), or the server cancelled the
 * statement (statement_timeout, pg_cancel_backend). Fixing the migration would not help.
 */
const CONNECTION_CODES = new Set(['database-unreachable', 'database-auth-failed', 'database-not-found', 'database-connection-lost', 'database-statement-timeout', 'database-statement-cancelled']);

function translateError(error: unknown, url: string): unknown {
  // A knex configured by a library user may carry a URL no driver claims: its error stays as is.
  const driver = (() => {
    try {
      return driverFor(url);
    } catch {
      return undefined;
    }
  })();
  return driver ? driver.translateError(error, url) : error;
}

// For error messages only; translateError never prints the password.
function serverUrl(knex: Knex): string {
  const connection = (knex.client as { config?: { connection?: unknown } }).config?.connection;
  if (typeof connection === 'string') return connection;
  if (connection && typeof connection === 'object') {
    const c = connection as { connectionString?: string; host?: string; port?: number | string; user?: string; database?: string };
    if (c.connectionString) return c.connectionString;
    const url = new URL('postgres://localhost');
    if (c.host) url.hostname = c.host;
    if (c.port !== undefined) url.port = String(c.port);
    if (c.user) url.username = encodeURIComponent(c.user);
    if (c.database) url.pathname = `/${encodeURIComponent(c.database)}`;
    return url.toString();
  }
  return 'postgres://localhost/';
}
