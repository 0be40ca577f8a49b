// STUB — implemented by the migrations work. Signatures are the contract the rest of core uses.
import type { LoadedConfig } from '../config/config-loader.js';
import type { MigrationRef } from './migration-types.js';

/** The knex migrations table of a module: its `tableName`, else `knex_migrations_<module>`. */
export function moduleTableName(config: LoadedConfig, module: string): string {
  return config.modules[module]?.tableName ?? `knex_migrations_${module}`;
}

/** A migration name without its extension (`x.ts`, `x.js` → `x`): how names compare. */
export function migrationKey(name: string): string {
  return name.replace(/\.(c|m)?(j|t)s$/, '');
}

/** Every migration file of every module, in global run order (timestamp prefix, then module order). */
export async function listMigrations(config: LoadedConfig): Promise<MigrationRef[]> {
  void config;
  throw new Error('not implemented');
}
