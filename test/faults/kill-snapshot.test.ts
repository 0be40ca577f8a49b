// kill -9 during `strata snapshot`, at each of its phases, on file:// and s3:// (s3rver): the
// partial folder never lists, nothing else changes, and the next snapshot removes it at once.
// The checks are in kill-scenario.ts; this file is in the reduced set of `npm test` as a whole.
import type { FaultPoint } from '../../packages/core/src/fault-point.js';
import { killSuite } from './kill-scenario.js';
import { snapshotPlan } from './kill-plans.js';

const POINTS: FaultPoint[] = ['snapshot:copy-first-table', 'snapshot:mid-file', 'snapshot:after-data', 'snapshot:manifest'];

const suite = killSuite('snapshot', { baseSnapshots: 1 });
for (const kind of ['file', 's3'] as const) {
  for (const point of POINTS) suite.scenario({ command: 'snapshot', point, kind, plan: snapshotPlan });
}
