import type { RestoreOptions, RestoreReport } from './restore-types.js';

/** Restores a snapshot into a new database; see DESIGN.md for the steps. */
export async function restore(options: RestoreOptions): Promise<RestoreReport> {
  void options;
  throw new Error('not implemented');
}
