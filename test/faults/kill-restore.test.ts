// kill -9 during `strata restore` (into a new database) at each of its phases, and during
// `restore --into` inside its transaction: no half-loaded database under any name but a
// strata_tmp_… one, the --into target untouched, and the next restore drops the work database at
// once. `npm test` runs every phase on file://; `npm run faults` (STRATA_FAULTS=full) adds s3://.
import type { FaultPoint } from '../../packages/core/src/fault-point.js';
import { FULL, killSuite } from './kill-scenario.js';
import { restoreIntoPlan, restorePlan } from './kill-plans.js';

const POINTS: FaultPoint[] = ['restore:create', 'restore:migrate', 'restore:load', 'restore:index', 'restore:final-migrations', 'restore:rename'];
const KINDS = FULL ? (['file', 's3'] as const) : (['file'] as const);

const suite = killSuite('restore', { baseSnapshots: 1 });
for (const kind of KINDS) {
  for (const point of POINTS) suite.scenario({ command: 'restore', point, kind, plan: restorePlan });
  suite.scenario({ command: 'restore --into', point: 'restore-into:transaction', kind, plan: restoreIntoPlan });
}
