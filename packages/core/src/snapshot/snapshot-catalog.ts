import type { Manifest } from '../format/manifest-schema.js';
import type { CatalogContext, SnapshotSummary, VerifyResult } from './snapshot-types.js';

/** Valid snapshots of the environment (those with a readable manifest), newest first. */
export async function listSnapshots(ctx: CatalogContext): Promise<SnapshotSummary[]> {
  void ctx;
  throw new Error('not implemented');
}

/** Reads and validates one snapshot's manifest; `latest` picks the newest. */
export async function showSnapshot(ctx: CatalogContext, id: string): Promise<Manifest> {
  void ctx; void id;
  throw new Error('not implemented');
}

/** Re-reads every data file and checks size, sha256 and row count against the manifest. */
export async function verifySnapshot(ctx: CatalogContext, id: string): Promise<VerifyResult> {
  void ctx; void id;
  throw new Error('not implemented');
}
