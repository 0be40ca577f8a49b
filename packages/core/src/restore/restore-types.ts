import type { EnvironmentEncryption } from '../config/encryption-config.js';
import type { StorageDriver } from '../contracts/storage.js';
import type { Transformer } from '../contracts/transformer.js';
import type { OperationContext } from '../operation-context.js';

export interface RestoreOptions extends OperationContext {
  /** Snapshot id or `latest`. */
  id: string;
  /** Name of the new database; default `<project>_<env>_<YYYYMMDD>`. */
  database?: string;
  /** Restore onto another server: the database in this URL is the one created. */
  targetUrl?: string;
  /** Replace the existing database `database` (requires `confirm` equal to its name). */
  replace?: boolean;
  confirm?: string;
  /** Compute and return the plan; touch nothing. */
  dryRun?: boolean;
  /**
   * Changes rows on their way into the database (e.g. the anonymize plugin's masking, for
   * `restore --anonymize`). Its rules are checked against the schema before any row is loaded.
   */
  transformer?: Transformer;
  /**
   * Where the snapshot is, when not in this environment's storage: another environment's storage
   * (promote reads a source snapshot in place when both environments share a storage), and the
   * keys that open it there (default: this environment's).
   */
  source?: { storage: StorageDriver; environment: string; encryption?: EnvironmentEncryption };
  /** Tables (`table` or `schema.table`) that keep their schema and stay empty: their rows are not loaded. */
  excludeTables?: string[];
  /**
   * Runs on the finished database (loaded and migrated) while it still has its temporary name
   * (`databaseUrl` reaches it), before it takes the target's (`database`): promote's
   * `afterRestore` hooks. A failure drops the database, like any other failure of the restore.
   */
  beforeRename?: (databaseUrl: string, database: string) => Promise<void>;
  /**
   * Load only these tables of the snapshot (`table` or `schema.table`); with `modules`, the union.
   * Into a fresh database the other tables stay as the migrations leave them.
   */
  tables?: string[];
  /** Load only the tables these modules' migrations create (at the snapshot's point). */
  modules?: string[];
  /**
   * When a selected table references a table that is not selected: add it (and what it needs, in
   * turn) instead of refusing.
   */
  withDependencies?: boolean;
  /**
   * Replace the contents of the selected tables in this existing database (a name on the target
   * server, or a PostgreSQL URL) in one transaction, instead of creating a new database. Needs
   * `tables` or `modules`; the database's module versions must equal the snapshot's. A safety
   * snapshot of the touched tables is taken first.
   */
  into?: string;
}

/** What a restore does to its target: create a new database, swap an existing one, or load some tables into one. */
export type RestoreTargetKind = 'fresh' | 'replace' | 'into';

export interface RestorePlan {
  snapshotId: string;
  /** What is done to the target database (see `RestoreTargetKind`). */
  targetKind: RestoreTargetKind;
  /** The database that will hold the result. */
  database: string;
  /** Server the database lives on, without credentials. */
  server: string;
  /** `module:migration` run before the load, in order. */
  migrationsBefore: string[];
  /** `module:migration` run after the load, in order. */
  migrationsAfter: string[];
  /** Tables to load, in load order, with expected rows. */
  tables: { table: string; rows: number }[];
  /** Tables in the snapshot that will not be loaded, and why. */
  skipped: { table: string; reason: string }[];
  /** Set when `--replace` swaps an existing database. */
  replace?: { database: string };
  /** The transformer applied while loading (`restore --anonymize`), by name. */
  transformer?: string;
  /** Tables a selection (`tables`/`modules`) added because selected tables reference them (`withDependencies`). */
  addedDependencies?: string[];
  /**
   * Set for a restore into an existing database (`into`): the tables emptied there, with the rows
   * they hold now, before they are loaded with the snapshot's rows (`tables`).
   */
  into?: { database: string; emptied: { table: string; rows: number }[] };
}

export interface RestoreTableResult {
  table: string;
  rows: number;
  durationMs: number;
}

export interface RestoreReport {
  plan: RestorePlan;
  dryRun: boolean;
  database: string;
  tables: RestoreTableResult[];
  /** What was set aside before the load and rebuilt after it. */
  rebuilt: { indexes: number; constraints: number; foreignKeys: number };
  sequencesReset: number;
  warnings: string[];
  /** With `replace` or `into`: the safety snapshot taken of the replaced database (or touched tables); with `replace`, its new name. */
  safetySnapshotId?: string;
  replacedDatabaseRenamedTo?: string;
  durationMs: number;
}
