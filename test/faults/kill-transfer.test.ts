// kill -9 during `strata copy`, `strata promote` (in its copy, and in its restore) and `strata
// prune`: a half-copied or half-removed snapshot never lists, and the next run of the same
// command finishes or removes it at once. `npm test` runs copy on both storages and the others on
// file://; `npm run faults` (STRATA_FAULTS=full) runs everything on both.
import { FULL, killSuite } from './kill-scenario.js';
import { copyPlan, promotePlan, prunePlan } from './kill-plans.js';

const suite = killSuite('transfer', { baseSnapshots: 2 });
for (const kind of ['file', 's3'] as const) {
  suite.scenario({ command: 'copy', point: 'copy:data', kind, plan: copyPlan });
  if (kind === 's3' && !FULL) continue;
  // The environments' storages differ, so a promotion copies first, then restores.
  suite.scenario({ command: 'promote', point: 'copy:data', kind, plan: promotePlan });
  suite.scenario({ command: 'promote', point: 'restore:load', kind, plan: promotePlan });
  suite.scenario({ command: 'prune', point: 'prune:remove', kind, plan: prunePlan });
}
