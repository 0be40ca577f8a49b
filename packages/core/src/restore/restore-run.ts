import { restoreFresh } from './restore-fresh.js';
import { restoreInto } from './restore-into.js';
import { checkRestoreRequest } from './restore-plan.js';
import type { RestoreOptions, RestoreReport } from './restore-types.js';

/**
 * Restores a snapshot. The request is checked once and its target resolved (`checkRestoreRequest`);
 * then one of two procedures runs, both starting from the same opened snapshot
 * (`openRestoreSource`) and reporting the same `RestorePlan`:
 * - `fresh` and `replace`: a new database, migrated to the snapshot's point, loaded, migrated to
 *   head and renamed into place (see `restoreFresh`);
 * - `into`: the selected tables of an existing database replaced in one transaction, after a
 *   safety snapshot of them (see `restoreInto`).
 * With `dryRun`, either returns its plan and changes nothing.
 */
export async function restore(options: RestoreOptions): Promise<RestoreReport> {
  const request = checkRestoreRequest(options);
  return request.targetKind === 'into' ? restoreInto(options, {}, request) : restoreFresh(options, request);
}
