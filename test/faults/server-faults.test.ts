// Server-side faults during a real strata process: its session terminated mid-COPY
// (pg_terminate_backend), the server restarted during a restore, the storage's disk full, a
// statement or lock timeout. Each must end in one sentence, a hint and the exit code of its
// domain (3 database, 4 storage), with nothing half-made: checked on the server's catalogue and
// in the storage's directories. Phases are reached with STRATA_TEST_PAUSE_AT; the process is let
// go (SIGUSR2) once the fault is in place. The restart runs on a private cluster, never on the
// shared server the other test files use.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { describeRun, type CliResult } from '../support/cli.js';
import { createTestDatabase, databaseUrl, dropDatabase, type TestDatabase } from '../support/database.js';
import { expectUserError } from '../e2e/shop-fixture.js';
import {
  FIRST_MIGRATION,
  PROJECT,
  databaseNames,
  faultProject,
  filesIn,
  seedItems,
  snapshotsWithManifest,
  tableChecksums,
  withClient,
  type FaultProject,
} from './support/fault-project.js';
import { privateClusterUnavailable, startPrivateCluster, type PrivateCluster } from './support/private-cluster.js';

const exec = promisify(execFile);

/** Rows of `items` in the big source: ~6 MB of COPY text, ~3.5 MB gzipped, well past a 2 MB disk. */
const BIG_ROWS = 150_000;

let small: TestDatabase;
let big: TestDatabase;
let project: FaultProject;
let smallId: string;
const doomed: string[] = [];
let named = 0;

async function ok(args: string[], env?: Record<string, string>): Promise<any> {
  const result = await project.run([...args, '--json'], env);
  expect(result.exitCode, describeRun(result)).toBe(0);
  return result.json();
}

function newDatabaseName(label: string): string {
  const name = `${small.name}_${label}${++named}`;
  doomed.push(name);
  return name;
}

beforeAll(async () => {
  small = await createTestDatabase('srvfault');
  big = await createTestDatabase('srvfault_big');
  project = await faultProject({ databaseUrl: small.url });
  await ok(['migrate', 'up', '--to', FIRST_MIGRATION]);
  await seedItems(small.url, 5000);
  smallId = (await ok(['snapshot', '--description', 'base'])).id;
  await ok(['migrate', 'up', '--to', FIRST_MIGRATION], { FAULT_DATABASE_URL: big.url });
  await seedItems(big.url, BIG_ROWS);
});

afterAll(async () => {
  for (const name of doomed) await dropDatabase(name).catch(() => {});
  await big?.drop();
  await small?.drop();
  await project?.remove();
});

/** Terminates the strata sessions on `database` (whose current statement matches `like`, if given); returns how many. */
async function terminate(adminUrl: string, database: string, like?: string): Promise<number> {
  return withClient(adminUrl, async (client) => {
    const { rows } = await client.query(
      `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
        WHERE datname = $1 AND application_name = 'strata' AND pid <> pg_backend_pid() AND ($2::text IS NULL OR query ILIKE $2)`,
      [database, like ?? null],
    );
    return rows.filter((r) => r.done).length;
  });
}

/** The work database (`strata_tmp_…`) a restore is building for `name`. */
async function workDatabaseFor(adminUrl: string, name: string): Promise<string> {
  const rows = await withClient(adminUrl, async (client) =>
    (await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database d WHERE shobj_description(d.oid, 'pg_database') LIKE 'strata: incomplete restore of ' || $1 || ',%'",
      [name],
    )).rows,
  );
  expect(rows, `the work database of ${name}`).toHaveLength(1);
  return rows[0]!.datname;
}

/** Waits until a strata session on `database` runs a statement matching `like` (the observable moment, not a guess). */
async function sessionRunning(adminUrl: string, database: string, like: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await withClient(adminUrl, async (client) =>
      (await client.query("SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'strata' AND state = 'active' AND query ILIKE $2", [database, like])).rows.length,
    );
    if (found > 0) return;
    if (Date.now() > deadline) throw new Error(`No strata session on ${database} ran ${like} within ${timeoutMs} ms.`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The `--json` error of a failed run, after checking there is no stack trace anywhere. */
function jsonError(result: CliResult, exitCode: number): { code: string; message: string; hint: string } {
  expect(result.exitCode, describeRun(result)).toBe(exitCode);
  return expectUserError(result, { json: true }) as { code: string; message: string; hint: string };
}

const devFiles = (): Promise<string[]> => filesIn(path.join(project.storageDir('dev'), PROJECT, 'dev'));

describe('connection dropped mid-COPY (pg_terminate_backend)', () => {
  it('snapshot, capture session terminated mid-COPY | exit 3 database-connection-lost in one sentence; no file left, nothing new lists', async () => {
    const files = await devFiles();
    const listed = await snapshotsWithManifest(project.storageDir(), 'dev');
    const run = project.paused(['snapshot'], 'snapshot:copy-first-table');
    await run.reached;
    expect(await terminate(small.adminUrl, small.name, 'COPY%')).toBe(1);
    run.resume();
    const result = await run.result;
    expect(result.exitCode, describeRun(result)).toBe(3);
    const error = expectUserError(result);
    expect(error.message).toMatch(/connection to PostgreSQL at .+ was lost/);
    expect(result.stderr).not.toMatch(/DEBUG=1/);
    expect(await devFiles()).toEqual(files);
    expect(await snapshotsWithManifest(project.storageDir(), 'dev')).toEqual(listed);
  });

  it('snapshot --retries 1, capture session terminated mid-COPY | retried: exit 0, one new snapshot, whole, the failed attempt\'s files gone', async () => {
    const files = await devFiles();
    const listed = await snapshotsWithManifest(project.storageDir(), 'dev');
    const run = project.paused(['snapshot', '--retries', '1', '--retry-delay', '1s', '--json'], 'snapshot:copy-first-table');
    await run.reached;
    expect(await terminate(small.adminUrl, small.name, 'COPY%')).toBe(1);
    run.resume();
    const result = await run.result;
    expect(result.exitCode, describeRun(result)).toBe(0);
    const out = result.json<{ id: string; warnings?: string[] }>();
    expect(out.warnings?.join('\n')).toMatch(/attempt 1 of 2 failed: The connection to PostgreSQL .+ was lost/);
    const now = await snapshotsWithManifest(project.storageDir(), 'dev');
    expect(now).toEqual([...listed, out.id].sort());
    // Nothing else is new: the first attempt's folder was removed.
    const added = (await devFiles()).filter((f) => !files.includes(f));
    expect(added.every((f) => f.startsWith(`${out.id}${path.sep}`)), added.join(', ')).toBe(true);
    const verified = await project.run(['verify', out.id]);
    expect(verified.exitCode, describeRun(verified)).toBe(0);
  });

  it('restore, load session terminated mid-COPY | exit 3 database-connection-lost; no database left, source unchanged', async () => {
    const before = await databaseNames(small.adminUrl, small.name);
    const sums = await tableChecksums(small.url);
    const name = newDatabaseName('load');
    const run = project.paused(['restore', smallId, '--database', name, '--json'], 'restore:load');
    await run.reached;
    expect(await terminate(small.adminUrl, await workDatabaseFor(small.adminUrl, name), 'COPY%')).toBe(1);
    run.resume();
    const error = jsonError(await run.result, 3);
    expect(error.code).toBe('database-connection-lost');
    expect(await databaseNames(small.adminUrl, small.name)).toEqual(before);
    expect(await tableChecksums(small.url)).toEqual(sums);
  });

  it('restore, index rebuild sessions terminated | exit 3 database-connection-lost; no database left', async () => {
    const before = await databaseNames(small.adminUrl, small.name);
    const name = newDatabaseName('index');
    const run = project.paused(['restore', smallId, '--database', name, '--json'], 'restore:index');
    await run.reached;
    // Every session on the work database: the rebuild workers, the load's and the guard.
    expect(await terminate(small.adminUrl, await workDatabaseFor(small.adminUrl, name))).toBeGreaterThanOrEqual(2);
    run.resume();
    const error = jsonError(await run.result, 3);
    expect(error.code).toBe('database-connection-lost');
    expect(await databaseNames(small.adminUrl, small.name)).toEqual(before);
  });

  it('restore, migration session terminated inside a migration | exit 3 database-connection-lost, not a failed migration; no database left', async () => {
    const before = await databaseNames(small.adminUrl, small.name);
    const name = newDatabaseName('migration');
    const run = project.paused(['restore', smallId, '--database', name, '--json'], 'restore:final-migrations', { FAULT_SLOW_MIGRATION: '120' });
    await run.reached;
    const work = await workDatabaseFor(small.adminUrl, name);
    run.resume();
    await sessionRunning(small.adminUrl, work, '%fault_slow_migration%');
    expect(await terminate(small.adminUrl, work, '%fault_slow_migration%')).toBe(1);
    const error = jsonError(await run.result, 3);
    expect(error.code).toBe('database-connection-lost');
    expect(await databaseNames(small.adminUrl, small.name)).toEqual(before);
  });
});

describe('connection dropped while snapshot --modules maps modules to tables', () => {
  let full: TestDatabase;

  beforeAll(async () => {
    // Fully migrated, so the module map replays the second (slow) migration in its scratch database.
    full = await createTestDatabase('srvfault_modules');
    await ok(['migrate', 'up'], { FAULT_DATABASE_URL: full.url });
  });

  afterAll(async () => {
    await full?.drop();
  });

  it('snapshot --modules, the module map\'s watching session terminated | exit 3 database-connection-lost; scratch database dropped, no file left', async () => {
    const files = await devFiles();
    const run = project.run(['snapshot', '--modules', 'app', '--json'], { FAULT_DATABASE_URL: full.url, FAULT_SLOW_MIGRATION: '3' });
    // The scratch database is found by the migration sleeping in it; the other strata session
    // there watches which tables each migration creates, and is idle while it sleeps.
    const scratch = await withClient(small.adminUrl, async (client) => {
      for (let tries = 0; tries < 600; tries++) {
        const { rows } = await client.query<{ datname: string }>(
          "SELECT datname FROM pg_stat_activity WHERE application_name = 'strata' AND state = 'active' AND query ILIKE '%fault_slow_migration%' AND datname LIKE 'strata\\_tmp\\_%'",
        );
        if (rows[0]) return rows[0].datname;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error('the module map never ran the slow migration');
    });
    expect(await withClient(small.adminUrl, async (client) =>
      (await client.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'strata' AND query NOT ILIKE '%fault_slow_migration%'",
        [scratch],
      )).rowCount,
    )).toBeGreaterThanOrEqual(1);
    const error = jsonError(await run, 3);
    expect(error.code).toBe('database-connection-lost');
    expect(await databaseNames(small.adminUrl)).not.toContain(scratch);
    expect(await devFiles()).toEqual(files);
  });
});

describe('timeouts set on the server side', () => {
  it(`snapshot --tables items (${BIG_ROWS} rows), its COPY cancelled with pg_cancel_backend | exit 3 database-statement-cancelled in one sentence; no file left`, async () => {
    const files = await devFiles();
    // A table far larger than the socket's buffers: paused, its COPY is still running on the
    // server (a small table's would be over, and a cancel would find nothing to cancel).
    const run = project.paused(['snapshot', '--tables', 'items', '--json'], 'snapshot:copy-first-table', { FAULT_DATABASE_URL: big.url });
    await run.reached;
    const cancelled = await withClient(big.adminUrl, async (client) =>
      (await client.query(
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'strata' AND state = 'active' AND query ILIKE 'COPY%'",
        [big.name],
      )).rowCount,
    );
    expect(cancelled).toBe(1);
    run.resume();
    const error = jsonError(await run.result, 3);
    expect(error.code).toBe('database-statement-cancelled');
    expect(error.message).toMatch(/was cancelled \(canceling statement due to user request\)\.$/);
    expect(await devFiles()).toEqual(files);
  });

  it(`snapshot of ${BIG_ROWS} rows, statement_timeout=50ms | exit 3, "cancelled by the server's statement_timeout" with a hint; no file left`, async () => {
    const files = await devFiles();
    const result = await project.run(['snapshot'], { FAULT_DATABASE_URL: big.url, PGOPTIONS: '-c statement_timeout=50' });
    expect(result.exitCode, describeRun(result)).toBe(3);
    const error = expectUserError(result);
    expect(error.message).toMatch(/was cancelled by the server's statement_timeout \(50 in PGOPTIONS\)\.$/);
    expect(error.hint).toMatch(/statement_timeout=0/);
    expect(await devFiles()).toEqual(files);
  });

  it('snapshot while another session locks the table, lock_timeout=100ms | exit 3, "gave up waiting for a lock" with a hint; no file left', async () => {
    const files = await devFiles();
    const locker = await withClient(small.url, async (client) => {
      await client.query('BEGIN');
      await client.query('LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
      try {
        return await project.run(['snapshot', '--json'], { PGOPTIONS: '-c lock_timeout=100' });
      } finally {
        await client.query('ROLLBACK');
      }
    });
    const error = jsonError(locker, 3);
    expect(error.code).toBe('database-lock-timeout');
    expect(error.message).toMatch(/gave up waiting for a lock strata needed: another session held it past lock_timeout \(100 in PGOPTIONS\)\.$/);
    expect(await devFiles()).toEqual(files);
  });
});

describe('disk full on the storage side', () => {
  let mountPoint: string | undefined;
  let mounted = false;
  let mountProblem = '';

  beforeAll(async () => {
    mountPoint = await mkdtemp(path.join(os.tmpdir(), 'strata-full-'));
    try {
      await exec('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint]);
      mounted = true;
    } catch (error) {
      mountProblem = (error as Error).message.split('\n')[0] ?? 'mount failed';
    }
  });

  afterAll(async () => {
    if (mounted) await exec('umount', [mountPoint!]).catch(() => {});
    if (mountPoint) await rm(mountPoint, { recursive: true, force: true });
  });

  it(`snapshot of ${BIG_ROWS} rows onto a 2 MB tmpfs | exit 4 "no space left", nothing that lists, the disk empty again`, async (ctx) => {
    if (!mounted) {
      ctx.skip(`a tmpfs cannot be mounted here (${mountProblem}); this needs root`);
      return;
    }
    const full = await faultProject({ databaseUrl: big.url, storage: { dev: mountPoint! } });
    try {
      const result = await full.run(['snapshot']);
      expect(result.exitCode, describeRun(result)).toBe(4);
      const error = expectUserError(result);
      expect(error.message).toMatch(/no space left on the device/);
      expect(await snapshotsWithManifest(mountPoint!, 'dev')).toEqual([]);
      expect(await filesIn(mountPoint!)).toEqual([]);
      const { stdout } = await exec('df', ['--output=used', '-B1', mountPoint!]);
      expect(Number(stdout.trim().split('\n')[1])).toBeLessThan(64 * 1024);
    } finally {
      await full.remove();
    }
  });
});

describe('server restart during a restore (private cluster)', () => {
  let cluster: PrivateCluster | undefined;
  let unavailable: string | undefined;
  let onCluster: FaultProject;
  let sourceUrl: string;
  let id: string;

  beforeAll(async () => {
    unavailable = await privateClusterUnavailable();
    if (unavailable) return;
    cluster = await startPrivateCluster();
    await withClient(cluster.adminUrl, (c) => c.query('CREATE DATABASE restart_source'));
    sourceUrl = databaseUrl(cluster.adminUrl, 'restart_source');
    onCluster = await faultProject({ databaseUrl: sourceUrl });
    const migrated = await onCluster.run(['migrate', 'up', '--to', FIRST_MIGRATION]);
    expect(migrated.exitCode, describeRun(migrated)).toBe(0);
    await seedItems(sourceUrl, 20_000);
    const taken = await onCluster.run(['snapshot', '--json']);
    expect(taken.exitCode, describeRun(taken)).toBe(0);
    id = taken.json<{ id: string }>().id;
  });

  afterAll(async () => {
    await onCluster?.remove();
    await cluster?.remove();
  });

  it('restore, server restarted (pg_ctl restart -m fast) mid-COPY | exit 3 database-connection-lost; the target name free, the source unchanged', async (ctx) => {
    if (!cluster) {
      ctx.skip(`no private PostgreSQL cluster: ${unavailable}`);
      return;
    }
    const before = await databaseNames(cluster.adminUrl);
    const sums = await tableChecksums(sourceUrl);
    const run = onCluster.paused(['restore', id, '--database', 'restart_target', '--json'], 'restore:load');
    await run.reached;
    await cluster.restart();
    run.resume();
    const error = jsonError(await run.result, 3);
    expect(error.code).toBe('database-connection-lost');
    const after = await databaseNames(cluster.adminUrl);
    expect(after).not.toContain('restart_target');
    // The restore fails the moment the server starts shutting down, so its clean-up may find the
    // server still down: what it could not drop is a marked work database, nothing else.
    const left = after.filter((d) => !before.includes(d));
    expect(left.every((d) => d.startsWith('strata_tmp_')), left.join(', ')).toBe(true);
    expect(await tableChecksums(sourceUrl)).toEqual(sums);
  });

  it('restore, run again once the restarted server is back | succeeds; no work database of the interrupted restore is left', async (ctx) => {
    if (!cluster) {
      ctx.skip(`no private PostgreSQL cluster: ${unavailable}`);
      return;
    }
    const result = await onCluster.run(['restore', id, '--database', 'restart_target', '--json']);
    expect(result.exitCode, describeRun(result)).toBe(0);
    const after = await databaseNames(cluster.adminUrl);
    expect(after.filter((d) => d.startsWith('strata_tmp_'))).toEqual([]);
    expect(after).toContain('restart_target');
    const restored = await tableChecksums(databaseUrl(cluster.adminUrl, 'restart_target'));
    expect(restored.items?.split(':')[0]).toBe('20000');
  });

  it('snapshot, server restarted mid-COPY | exit 3 database-connection-lost; no file left', async (ctx) => {
    if (!cluster) {
      ctx.skip(`no private PostgreSQL cluster: ${unavailable}`);
      return;
    }
    const dir = path.join(onCluster.storageDir('dev'), PROJECT, 'dev');
    const files = await filesIn(dir);
    const run = onCluster.paused(['snapshot', '--json'], 'snapshot:copy-first-table');
    await run.reached;
    await cluster.restart();
    run.resume();
    const error = jsonError(await run.result, 3);
    expect(error.code).toBe('database-connection-lost');
    expect(await filesIn(dir)).toEqual(files);
  });
});
