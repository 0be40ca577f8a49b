import type { Knex } from 'knex';

import { importModule } from '../config/config-loader.js';
import { MigrationError } from '../errors.js';
import type { MigrationRef } from './migration-types.js';

/** A loaded migration as knex's migrator consumes it. */
export interface LoadedMigration extends Knex.Migration {
  up: (knex: Knex) => PromiseLike<unknown>;
  down: (knex: Knex) => PromiseLike<unknown>;
  /** `{ transaction: false }` runs the migration outside a transaction (knex reads `config.transaction`). */
  config?: { transaction?: boolean };
}

type MigrationShape = { up?: unknown; down?: unknown; config?: unknown };

/**
 * Imports one migration file and returns its `up`/`down`/`config`, whatever module style it is
 * written in: ESM named exports, CommonJS `exports.up`/`module.exports`, or a default-exported
 * object. TypeScript files load through tsx, so no build step is needed.
 * Throws `MigrationError` (`migration-invalid`) when the file cannot be loaded or lacks `up`/`down`.
 */
export async function loadMigration(ref: MigrationRef): Promise<LoadedMigration> {
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(ref.file);
  } catch (error) {
    throw new MigrationError(`The migration ${ref.module}:${ref.name} could not be loaded: ${firstLine(error)}.`, {
      code: 'migration-invalid',
      hint: `Fix the error in ${ref.file}.`,
      cause: error,
    });
  }
  // Where the functions sit depends on the module style and on the loader's interop: named ESM
  // exports on the namespace, CommonJS `module.exports` on `default`, and a CommonJS file compiled
  // by tsx may nest it once more.
  const outer = mod.default as MigrationShape | undefined;
  const candidates: (MigrationShape | undefined)[] = [
    mod as MigrationShape,
    outer,
    (outer as { default?: MigrationShape } | undefined)?.default,
  ];
  const found = candidates.find((c) => c !== null && typeof c === 'object' && typeof c.up === 'function');
  const missing = !found ? 'up' : typeof found.down !== 'function' ? 'down' : null;
  if (!found || missing) {
    throw new MigrationError(`The migration ${ref.module}:${ref.name} has no ${missing ?? 'up'} function.`, {
      code: 'migration-invalid',
      // knex itself refuses a migration without both, so the app's own migrator would fail too.
      hint: `Export async up(knex) and down(knex) functions from ${ref.file}.`,
    });
  }
  const config = (found.config ?? (mod as MigrationShape).config) as LoadedMigration['config'];
  const up = found.up as (knex: Knex) => PromiseLike<unknown>;
  const down = found.down as (knex: Knex) => PromiseLike<unknown>;
  return {
    // Called on their own object so migrations that use `this` (CommonJS style) keep working.
    up: (knex) => up.call(found, knex),
    down: (knex) => down.call(found, knex),
    ...(config && typeof config === 'object' ? { config } : {}),
  };
}

/**
 * A knex `migrationSource` over one module's migrations, so knex's own migrator runs files it
 * could not import by itself (`.ts` in plain node). Names are the file names, exactly what knex's
 * folder source records, so the app's `knex migrate:latest` agrees with what strata wrote.
 */
export class ModuleMigrationSource implements Knex.MigrationSource<MigrationRef> {
  // knex asks for the same migration several times per run (transaction check, validation, run).
  private readonly loaded = new Map<string, Promise<LoadedMigration>>();

  /** @param refs the module's migrations, in the module's own order. */
  constructor(private readonly refs: readonly MigrationRef[]) {}

  /** All migrations of the module; knex's `loadExtensions` is ignored, the list is already filtered. */
  async getMigrations(): Promise<MigrationRef[]> {
    return [...this.refs];
  }

  /** The file name, as knex records it. */
  getMigrationName(ref: MigrationRef): string {
    return ref.name;
  }

  /** The loaded migration (cached per source). */
  getMigration(ref: MigrationRef): Promise<LoadedMigration> {
    let pending = this.loaded.get(ref.file);
    if (!pending) {
      pending = loadMigration(ref);
      this.loaded.set(ref.file, pending);
    }
    return pending;
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? message).replace(/\.$/, '');
}
