import type { Transformer } from '../contracts/transformer.js';
import type { Codec, Compression } from '../format/compression.js';
import type { Manifest } from '../format/manifest-schema.js';
import type { OperationContext } from '../operation-context.js';

/** The parts of an operation context that read-only catalog operations need. */
export type CatalogContext = Pick<OperationContext, 'config' | 'env' | 'storage' | 'signal' | 'onProgress' | 'log'>;

export interface SnapshotOptions extends OperationContext {
  description?: string;
  tags?: string[];
  /**
   * Changes rows while they stream (e.g. the anonymize plugin's masking); recorded in the
   * manifest. Its rules are checked against the schema before any row is read.
   */
  transformer?: Transformer;
  /** Attempts after a failure that may pass (server or storage unreachable); default 0. */
  retries?: number;
  /** Wait before the first retry, doubled for each next one; default 60 s. */
  retryDelayMs?: number;
  /**
   * A tenant export: `name` is a scope of the config (`scopes.company`), `values` the keys of its
   * root rows (`--scope company=Acme --scope company=Globex`). Exclusive with `tables`/`modules`.
   */
  scope?: { name: string; values: string[] };
  /** Capture only these tables (`table` or `schema.table`), whole. */
  tables?: string[];
  /** Capture only the tables these modules' migrations create, whole (may be combined with `tables`). */
  modules?: string[];
  /**
   * How the data files are compressed (`'zstd'`, `'gzip'`, `'none'` or `{ codec, level }`);
   * default the environment's `compression` in the config, else the top-level one, else zstd level 1.
   */
  compression?: Codec | Compression;
}

/**
 * What `captureDatabase` reads: whole tables (resolved `schema.table` ids, in any order), or the
 * rows of a tenant scope. Without a selection it reads every table but the excluded ones.
 */
export type CaptureSelection =
  | { kind: 'tables'; tables: string[]; modules?: string[] }
  | { kind: 'tenant'; name: string; values: string[] };

export interface SnapshotResult {
  id: string;
  manifest: Manifest;
  /** Where the snapshot lives, e.g. `file:///backups/shop/prod/01J…` (no credentials). */
  location: string;
  durationMs: number;
}

/** One line of `strata list`. */
export interface SnapshotSummary {
  id: string;
  createdAt: string;
  description?: string;
  tags: string[];
  tables: number;
  rows: number;
  bytes: number;
  /** Last applied migration per module. */
  modules: Record<string, string | null>;
  /** Set for an encrypted snapshot: the names (else fingerprints) of the keys that open it, or `passphrase`. */
  encryptedFor?: string[];
}

/** Outcome of re-reading one data file. */
export interface VerifyTableResult {
  table: string;
  status: 'ok' | 'failed';
  rows: number;
  bytes: number;
  /** Why it failed, one sentence. */
  error?: string;
}

export interface VerifyResult {
  id: string;
  ok: boolean;
  /**
   * `plaintext`: every check (for an encrypted snapshot, opened with a key); `ciphertext`: an
   * encrypted snapshot checked without a key, so only sizes and stored checksums.
   */
  checked: 'plaintext' | 'ciphertext';
  tables: VerifyTableResult[];
}
