import type { LoadedConfig, ResolvedEnvironment } from './config/config-loader.js';
import type { StorageDriver } from './contracts/storage.js';

/** Progress of long work, emitted often (at most every ~200 ms per table). */
export interface ProgressEvent {
  /**
   * `capture`: reading a table; `load`: writing a table; `verify`: re-reading a file; `index`:
   * rebuilding; `copy`: moving a data file between storages (rows estimated from bytes until done).
   */
  phase: 'capture' | 'load' | 'verify' | 'index' | 'migrate' | 'copy';
  /** `schema.table`, or a migration name in the `migrate` phase. */
  item: string;
  /** Rows done so far in this item. */
  rows: number;
  /** Rows expected in this item when known (from the manifest or pg_class estimates). */
  totalRows?: number;
  /** Rows done so far over the whole operation, and the total expected, when known. */
  overallRows?: number;
  overallTotalRows?: number;
  /** True on the last event of an item. */
  done?: boolean;
}

/** Everything a core operation needs: which config and environment, and where snapshots live. */
export interface OperationContext {
  config: LoadedConfig;
  env: ResolvedEnvironment;
  /** The environment's storage, obtained from a storage plugin. */
  storage: StorageDriver;
  /** Aborts the operation; it cleans up what it made and rejects with `AbortedError`. */
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
  /** Warnings and notes for the user (never secrets). Defaults to discarding them. */
  log?: (level: 'info' | 'warn', message: string) => void;
}
