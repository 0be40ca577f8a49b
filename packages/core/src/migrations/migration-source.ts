import { readdir } from 'node:fs/promises';
import path from 'node:path';

import type { LoadedConfig } from '../config/config-loader.js';
import { ConfigError } from '../errors.js';
import type { MigrationRef } from './migration-types.js';

/** The knex migrations table of a module: its `tableName`, else `knex_migrations_<module>`. */
export function moduleTableName(config: LoadedConfig, module: string): string {
  return config.modules[module]?.tableName ?? `knex_migrations_${module}`;
}

/** A migration name without its extension (`x.ts`, `x.js` → `x`): how names compare. */
export function migrationKey(name: string): string {
  return name.replace(/\.(c|m)?(j|t)s$/, '');
}

/**
 * Whether a file in a migrations folder is a migration: `.js`, `.mjs`, `.cjs` or `.ts`.
 * Declaration files (`x.d.ts`, which knex itself would wrongly pick up) and dot files are not.
 */
export function isMigrationFile(file: string): boolean {
  if (file.startsWith('.')) return false;
  if (/\.d\.(c|m)?ts$/.test(file)) return false;
  return /\.(m|c)?js$|\.ts$/.test(file);
}

/**
 * The timestamp prefix of a migration name: its leading digits (`20240101120000_x.ts` →
 * `20240101120000`), or null when it has none.
 */
export function migrationTimestamp(name: string): string | null {
  return /^(\d+)/.exec(name)?.[1] ?? null;
}

// Compares two timestamp prefixes as digit strings, left-aligned: `20240301` (a date) then sorts
// after `20240101120000` (a full knex timestamp) as a reader expects, where a numeric comparison
// would put it ~6 orders of magnitude earlier.
function compareTimestamps(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Orders migrations of several modules into one run order. Each inner list is one module's
 * migrations in its own order (knex's: by file name), and modules are given in config order.
 * The result keeps every module's own order and interleaves modules by timestamp prefix; on a
 * tie the module listed first in the config goes first. A name without a timestamp prefix takes
 * its predecessor's in the same module, so it runs right after it, as it would under plain knex.
 */
export function orderMigrations(perModule: readonly (readonly MigrationRef[])[]): MigrationRef[] {
  const stamped = perModule.map((refs) => {
    let previous = '';
    return refs.map((ref) => {
      previous = migrationTimestamp(ref.name) ?? previous;
      return { ref, stamp: previous };
    });
  });
  const heads = stamped.map(() => 0);
  const ordered: MigrationRef[] = [];
  for (;;) {
    let pick = -1;
    let pickStamp = '';
    stamped.forEach((list, index) => {
      const head = list[heads[index] ?? 0];
      if (!head) return;
      // Strictly smaller only: on a tie the earlier module (lower index) keeps the pick.
      if (pick === -1 || compareTimestamps(head.stamp, pickStamp) < 0) {
        pick = index;
        pickStamp = head.stamp;
      }
    });
    if (pick === -1) return ordered;
    const list = stamped[pick]!;
    ordered.push(list[heads[pick]!]!.ref);
    heads[pick]! += 1;
  }
}

// knex sorts a folder with lodash `sortBy` on the file name, i.e. by UTF-16 code units; a
// locale-aware sort would disagree with the app's own `knex migrate:latest` on some names.
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The migration files of one module, in knex's order for a folder (by file name).
 * Throws `ConfigError` when the folder is missing or holds two files for the same migration
 * (`x.js` next to `x.ts`), because strata could not tell which one the database should run.
 */
export async function listModuleMigrations(config: LoadedConfig, module: string): Promise<MigrationRef[]> {
  const moduleConfig = config.modules[module];
  if (!moduleConfig) {
    throw new ConfigError(`The module "${module}" is not defined in ${path.basename(config.configPath)}.`, {
      code: 'module-unknown',
      hint: `Use one of: ${Object.keys(config.modules).join(', ')}.`,
    });
  }
  const dir = moduleConfig.migrations;
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new ConfigError(`The migrations folder ${dir} of module ${module} cannot be read.`, {
      code: 'migrations-folder-missing',
      hint: `Create the folder, or fix modules.${module}.migrations in ${config.configPath}.`,
      cause: error,
    });
  }
  const names = entries
    .filter((entry) => !entry.isDirectory() && isMigrationFile(entry.name))
    .map((entry) => entry.name)
    .sort(byCodeUnits);
  const seen = new Map<string, string>();
  for (const name of names) {
    const key = migrationKey(name);
    const other = seen.get(key);
    if (other !== undefined) {
      throw new ConfigError(`The migrations folder of module ${module} holds both ${other} and ${name}.`, {
        code: 'migration-duplicate',
        hint: `Keep one of them in ${dir}: point the module at either the sources or the compiled files.`,
      });
    }
    seen.set(key, name);
  }
  return names.map((name) => ({ module, name, key: migrationKey(name), file: path.join(dir, name) }));
}

/** Every migration file of every module, in global run order (timestamp prefix, then module order). */
export async function listMigrations(config: LoadedConfig): Promise<MigrationRef[]> {
  const perModule = await Promise.all(Object.keys(config.modules).map((module) => listModuleMigrations(config, module)));
  return orderMigrations(perModule);
}
