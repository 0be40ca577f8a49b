import type { NotificationEvent } from '@strata/contracts';

/** A failed nightly snapshot, with every field a failure carries. */
export const failedSnapshot: NotificationEvent = {
  operation: 'snapshot',
  outcome: 'failed',
  project: 'shop',
  environment: 'prod',
  snapshotId: '01JQ7ZC4W3V8N9Y2K5T6R1M0AB',
  database: 'shop_prod',
  startedAt: '2026-11-21T02:00:00.000Z',
  durationMs: 41_250,
  tables: 12,
  rows: 1_234_567,
  bytes: 83_886_080,
  error: {
    code: 'database-unreachable',
    message: 'The database server db.internal:5432 could not be reached.',
    hint: 'Check that the server is running and that this machine may connect to it.',
  },
  summary: '❌ snapshot of shop/prod failed after 41.3 s: The database server db.internal:5432 could not be reached.',
  display: { duration: '41.3 s', size: '80.0 MiB' },
};

/** A successful promotion from prod to staging. */
export const promoted: NotificationEvent = {
  operation: 'promote',
  outcome: 'succeeded',
  project: 'shop',
  environment: 'staging',
  fromEnvironment: 'prod',
  snapshotId: '01JQ7ZC4W3V8N9Y2K5T6R1M0AB',
  database: 'shop_staging_20261121',
  startedAt: '2026-11-21T06:00:00.000Z',
  durationMs: 95_000,
  tables: 12,
  rows: 1_234_567,
  bytes: 83_886_080,
  summary: '✅ promote of shop/prod → shop/staging succeeded: 12 tables, 1,234,567 rows, 80.0 MiB in 1m 35s (01JQ7ZC4W3V8N9Y2K5T6R1M0AB)',
  display: { duration: '1m 35s', size: '80.0 MiB' },
};
