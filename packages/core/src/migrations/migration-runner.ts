// STUB — implemented by the migrations work. Signatures are the contract the rest of core uses.
import type { Knex } from 'knex';
import type { LoadedConfig } from '../config/config-loader.js';
import type { ModuleEntry } from '../format/manifest-schema.js';
import type { MigrationRef, ModuleMigrationStatus, RestoreMigrationPlan } from './migration-types.js';

/** Per module: applied, pending and last migration in the database `knex` points at. */
export async function migrationStatus(knex: Knex, config: LoadedConfig): Promise<ModuleMigrationStatus[]> {
  void knex; void config;
  throw new Error('not implemented');
}

/**
 * Runs exactly `migrations`, in the given order, each through knex's migrator with its module's
 * migrations table, so the records are the ones the app's own knex writes.
 */
export async function runMigrations(
  knex: Knex,
  config: LoadedConfig,
  migrations: MigrationRef[],
  options: { onMigration?: (ref: MigrationRef) => void } = {},
): Promise<void> {
  void knex; void config; void migrations; void options;
  throw new Error('not implemented');
}

/** Applies pending migrations of all modules, interleaved; with `to` (`module:name`) stops after it. */
export async function migrateUp(
  knex: Knex,
  config: LoadedConfig,
  options: { to?: string; onMigration?: (ref: MigrationRef) => void } = {},
): Promise<MigrationRef[]> {
  void knex; void config; void options;
  throw new Error('not implemented');
}

/**
 * Splits the code base's migrations into those a restore runs before the load (the snapshot's
 * applied set) and after it. Throws `MigrationError` naming the first applied migration that the
 * code base does not have.
 */
export async function planRestoreMigrations(
  config: LoadedConfig,
  modules: Record<string, ModuleEntry>,
): Promise<RestoreMigrationPlan> {
  void config; void modules;
  throw new Error('not implemented');
}
