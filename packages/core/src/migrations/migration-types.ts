/** One migration file of one module. */
export interface MigrationRef {
  module: string;
  /** File name as knex records it in the migrations table, e.g. `20240101120000_create_users.ts`. */
  name: string;
  /** The name without its extension: how names compare across `.js` and `.ts` builds. */
  key: string;
  /** Absolute path of the file. */
  file: string;
}

/** Migration state of one module in one database. */
export interface ModuleMigrationStatus {
  module: string;
  tableName: string;
  /** Applied migrations, as recorded in the database, in order. */
  applied: string[];
  /** Migrations present in the code and not applied, in global run order. */
  pending: string[];
  /** Last applied migration, or null. */
  last: string | null;
  /** Recorded in the database but missing from the code base. */
  missing: string[];
}

/** What a restore must run before and after loading data. */
export interface RestoreMigrationPlan {
  /** Runs first, interleaved across modules by timestamp: exactly the snapshot's applied set. */
  before: MigrationRef[];
  /** Runs after the load: everything else, interleaved by timestamp. */
  after: MigrationRef[];
  /** Modules in the snapshot that the config no longer has (their tables are skipped). */
  removedModules: string[];
  /** Modules in the config that the snapshot does not have (migrated fully after the load). */
  newModules: string[];
}
