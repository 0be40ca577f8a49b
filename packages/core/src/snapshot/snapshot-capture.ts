import type { SnapshotOptions, SnapshotResult } from './snapshot-types.js';

/** Captures the environment's database into a new snapshot; the manifest is written last. */
export async function snapshot(options: SnapshotOptions): Promise<SnapshotResult> {
  void options;
  throw new Error('not implemented');
}
