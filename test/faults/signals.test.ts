// SIGINT and SIGTERM sent to a real strata process paused at each phase (STRATA_TEST_PAUSE_AT):
// it must clean up as the abort path does, say so in one sentence with a hint, and exit 130
// (SIGINT) or 143 (SIGTERM). What it left is read from the storage's directories and from the
// server's catalogue, never from strata's own report: no new snapshot file, no new database (no
// `strata_tmp_…`), and the source and the `--into` target unchanged row for row.
import path from 'node:path';

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
  type FaultEnvironment,
  withClient,
  type FaultProject,
} from './support/fault-project.js';

const SIGNALS = [
  { signal: 'SIGINT', exitCode: 130 },
  { signal: 'SIGTERM', exitCode: 143 },
] as const;
const ENVS: FaultEnvironment[] = ['dev', 'staging', 'copyto', 'archive'];

let source: TestDatabase;
let into: TestDatabase;
let project: FaultProject;
let baseId: string;
const doomed: string[] = [];

/** Runs a command to its end and returns its `--json` output; fails the test on a non-zero exit. */
async function ok(args: string[], env?: Record<string, string>): Promise<any> {
  const result = await project.run([...args, '--json'], env);
  expect(result.exitCode, describeRun(result)).toBe(0);
  return result.json();
}

beforeAll(async () => {
  source = await createTestDatabase('signals');
  into = await createTestDatabase('signals_into');
  project = await faultProject({ databaseUrl: source.url });
  await ok(['migrate', 'up', '--to', FIRST_MIGRATION]);
  await seedItems(source.url, 5000);
  baseId = (await ok(['snapshot', '--description', 'base'])).id;
  // The --into target: same schema point as the snapshot, other rows, so a replacement would show.
  await ok(['migrate', 'up', '--to', FIRST_MIGRATION], { FAULT_DATABASE_URL: into.url });
  await seedItems(into.url, 300);
});

afterAll(async () => {
  for (const name of doomed) await dropDatabase(name).catch(() => {});
  await into?.drop();
  await source?.drop();
  await project?.remove();
});

/** What the server and the storages hold: compared before and after each interrupted run. */
interface State {
  databases: string[];
  source: Record<string, string>;
  into: Record<string, string>;
  files: Record<FaultEnvironment, string[]>;
  listed: Record<FaultEnvironment, string[]>;
}

async function state(): Promise<State> {
  const files = {} as State['files'];
  const listed = {} as State['listed'];
  for (const env of ENVS) {
    files[env] = await filesIn(path.join(project.storageDir(env), PROJECT, env));
    listed[env] = await snapshotsWithManifest(project.storageDir(env), env);
  }
  return { databases: await databaseNames(source.adminUrl, source.name), source: await tableChecksums(source.url), into: await tableChecksums(into.url), files, listed };
}

/**
 * What a paused run shows of its work, without touching the tables it may hold locked: the
 * databases, the storages' files, and whether a strata session is in a COPY on the source.
 */
async function inProgress(): Promise<{ databases: string[]; files: State['files']; copying: boolean }> {
  const files = {} as State['files'];
  for (const env of ENVS) files[env] = await filesIn(path.join(project.storageDir(env), PROJECT, env));
  const copying = await withClient(source.adminUrl, async (client) => {
    const { rows } = await client.query("SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'strata' AND query ILIKE 'COPY%'", [source.name]);
    return rows.length > 0;
  });
  return { databases: [...(await databaseNames(source.adminUrl, source.name)), ...(await justCreatedWorkDatabases())].sort(), files, copying };
}

async function progressOf(before: State): Promise<Awaited<ReturnType<typeof inProgress>>> {
  return { databases: before.databases, files: before.files, copying: false };
}

/**
 * Work databases a strata session has just created and not yet marked (restore:create): the
 * marking comment is what ties a `strata_tmp_…` to its restore, so they are found by the
 * statement that made them.
 */
async function justCreatedWorkDatabases(): Promise<string[]> {
  const { rows } = await withClient(source.adminUrl, (client) =>
    client.query<{ name: string }>(
      `SELECT substring(a.query FROM 'CREATE DATABASE "(strata_tmp_[0-9a-f]+)"') AS name FROM pg_stat_activity a
        WHERE a.application_name = 'strata' AND a.query LIKE 'CREATE DATABASE "strata\\_tmp\\_%'
          AND EXISTS (SELECT 1 FROM pg_database d WHERE d.datname = substring(a.query FROM 'CREATE DATABASE "(strata_tmp_[0-9a-f]+)"')
                        AND shobj_description(d.oid, 'pg_database') IS NULL)`,
    ),
  );
  seenWorkDatabases.push(...rows.map((r) => r.name));
  return rows.map((r) => r.name);
}
const seenWorkDatabases: string[] = [];

/** `strata list --env …` ids: must agree with the storage (nothing partial lists). */
async function listedByStrata(env: FaultEnvironment): Promise<string[]> {
  const out = await ok(['list', '--env', env]);
  const items: Array<{ id: string }> = Array.isArray(out) ? out : (out.snapshots ?? []);
  return items.map((s) => s.id).sort();
}

interface Case {
  scenario: string;
  point: string;
  args(): string[];
  /** For a run that may change staging's storage (promote copies first): how that is checked instead. */
  storageCheck?(before: State, after: State): Promise<void>;
}

let named = 0;
function newDatabaseName(label: string): string {
  const name = `${source.name}_${label}${++named}`;
  doomed.push(name);
  return name;
}

const CASES: Case[] = [
  { scenario: 'snapshot paused copying the first table', point: 'snapshot:copy-first-table', args: () => ['snapshot'] },
  { scenario: 'snapshot paused writing the manifest', point: 'snapshot:manifest', args: () => ['snapshot'] },
  { scenario: 'restore paused after creating its database', point: 'restore:create', args: () => ['restore', baseId, '--database', newDatabaseName('create')] },
  { scenario: 'restore paused after its first migration', point: 'restore:migrate', args: () => ['restore', baseId, '--database', newDatabaseName('migrate')] },
  { scenario: 'restore paused in COPY', point: 'restore:load', args: () => ['restore', baseId, '--database', newDatabaseName('load')] },
  { scenario: 'restore paused rebuilding indexes', point: 'restore:index', args: () => ['restore', baseId, '--database', newDatabaseName('index')] },
  {
    scenario: 'restore paused before the final migrations',
    point: 'restore:final-migrations',
    args: () => ['restore', baseId, '--database', newDatabaseName('final')],
  },
  {
    scenario: 'restore --into paused inside its transaction',
    point: 'restore-into:transaction',
    args: () => ['restore', baseId, '--tables', 'items', '--into', into.url],
  },
  { scenario: 'copy paused after the first data file', point: 'copy:data', args: () => ['copy', baseId, '--from-env', 'dev', '--to-env', 'copyto'] },
  {
    scenario: 'promote paused in its restore\'s COPY',
    point: 'restore:load',
    args: () => ['promote', '--from', 'dev', '--to', 'staging', '--snapshot', baseId, '--database', newDatabaseName('promote'), '--yes'],
    async storageCheck(before, after) {
      // The copy into staging's storage finished before the restore began: it may be there, whole.
      const copied = (files: string[]): string[] => files.filter((f) => f.startsWith(`${baseId}${path.sep}`));
      if (after.files.staging.length > before.files.staging.length) expect(copied(after.files.staging)).toEqual(copied(after.files.dev));
      expect(after.files.staging.filter((f) => !f.startsWith(`${baseId}${path.sep}`))).toEqual(before.files.staging.filter((f) => !f.startsWith(`${baseId}${path.sep}`)));
    },
  },
];

// `npm run faults` (STRATA_FAULTS=full) tries both signals at every phase; an ordinary run (CI)
// alternates them from phase to phase, which tries each signal on snapshot and on restore.
const FULL = process.env.STRATA_FAULTS === 'full';

describe('SIGINT and SIGTERM at each phase', () => {
  for (const [index, c] of CASES.entries()) for (const { signal, exitCode } of FULL ? SIGNALS : [SIGNALS[index % 2]!])
  it(`${c.scenario}, ${signal} | exits ${exitCode} with one sentence; no new file, database or changed row`, async () => {
    const before = await state();
    const run = project.paused(c.args(), c.point);
    await run.reached;
    // While it waits, what it is making is visible to the checks below: they could fail.
    expect(await inProgress(), 'nothing in progress was seen while paused').not.toEqual(await progressOf(before));
    run.child.kill(signal);
    const result: CliResult = await run.result;

    expect(result.exitCode, describeRun(result)).toBe(exitCode);
    const error = expectUserError(result);
    expect(error.message).toMatch(/interrupted/i);
    expect(result.stderr).toContain(`Interrupted (${signal})`);

    const after = await state();
    expect(after.databases, 'databases on the server').toEqual(before.databases);
    const stillThere = (await databaseNames(source.adminUrl)).filter((d) => seenWorkDatabases.includes(d));
    expect(stillThere, 'work databases seen while paused').toEqual([]);
    expect(after.source, 'rows of the source').toEqual(before.source);
    expect(after.into, 'rows of the --into target').toEqual(before.into);
    if (c.storageCheck) await c.storageCheck(before, after);
    for (const env of ENVS) {
      if (c.storageCheck && env === 'staging') continue;
      expect(after.files[env], `files in ${env}'s storage`).toEqual(before.files[env]);
    }
    for (const env of ENVS) expect(await listedByStrata(env), `strata list --env ${env}`).toEqual(after.listed[env]);
  });
});

describe('prune', () => {
  // prune removes a snapshot's manifest first, then its files. Interrupted between the two, it
  // finishes the folder it is in (stopping there would leave files that no longer list, for a
  // later prune to find) and starts no other; with nothing else to remove it has done all it was
  // asked, and says so with exit 0.
  for (const { signal } of FULL ? SIGNALS : [SIGNALS[1]]) {
    it(`prune paused between a manifest and its files, ${signal} | finishes that folder, keeps the other whole, exit 0`, async () => {
      while ((await snapshotsWithManifest(project.storageDir('archive'), 'archive')).length < 2) await ok(['snapshot', '--env', 'archive']);
      const before = await state();
      const [oldest, newest] = before.listed.archive.slice(-2);
      const run = project.paused(['prune', '--env', 'archive', '--keep-last', '1'], 'prune:remove');
      await run.reached;
      // Paused: the oldest has lost its manifest and kept its files.
      const paused = await filesIn(path.join(project.storageDir('archive'), PROJECT, 'archive'));
      expect(paused.some((f) => f.startsWith(`${oldest}${path.sep}data`))).toBe(true);
      expect(paused.some((f) => f.startsWith(`${oldest}${path.sep}manifest.json`))).toBe(false);
      run.child.kill(signal);
      const result = await run.result;
      expect(result.exitCode, describeRun(result)).toBe(0);
      expect(result.stderr).toContain(`Interrupted (${signal})`);

      const after = await state();
      const under = (files: string[], id: string | undefined): string[] => files.filter((f) => f.startsWith(`${id}${path.sep}`));
      expect(under(after.files.archive, oldest), 'files of the snapshot being removed').toEqual([]);
      expect(under(after.files.archive, newest), 'files of the snapshot kept').toEqual(under(before.files.archive, newest));
      expect(after.listed.archive).toEqual(before.listed.archive.filter((id) => id !== oldest));
      expect(await listedByStrata('archive')).toEqual(after.listed.archive);
      const verified = await project.run(['verify', newest!, '--env', 'archive']);
      expect(verified.exitCode, describeRun(verified)).toBe(0);
      for (const env of ['dev', 'staging', 'copyto'] as const) expect(after.files[env]).toEqual(before.files[env]);
    });
  }
});

describe('restore at the rename', () => {
  // restore:rename is reached after the restore's last check of its signal: everything is built
  // and verified, only the rename is left. A signal there lets it finish: the database is whole,
  // under its name, nothing is left over, and the exit code says it succeeded.
  for (const { signal } of FULL ? SIGNALS : [SIGNALS[0]]) {
    it(`restore paused before the rename, ${signal} | finishes: the database complete under its name, no work database, exit 0`, async () => {
      const before = await state();
      const name = newDatabaseName('rename');
      const run = project.paused(['restore', baseId, '--database', name], 'restore:rename');
      await run.reached;
      run.child.kill(signal);
      const result = await run.result;
      expect(result.exitCode, describeRun(result)).toBe(0);
      const after = await state();
      expect(after.databases).toEqual([...before.databases, name].sort());
      const restored = await tableChecksums(databaseUrl(source.adminUrl, name));
      // The final migration ran on the restored rows (upper-cased names, a new column), so
      // compare the row count of items and that parents were transformed.
      expect(restored.items?.split(':')[0]).toBe(before.source.items?.split(':')[0]);
      const [{ upper }] = await withClient(databaseUrl(source.adminUrl, name), async (c) => (await c.query("SELECT count(*) FILTER (WHERE name = upper(name))::int AS upper FROM parents")).rows);
      expect(upper).toBe(100);
      await dropDatabase(name);
    });
  }
});

describe('--json', () => {
  it('restore paused in COPY, SIGTERM, --json | one JSON error document, code aborted, exit 143', async () => {
    const before = await state();
    const run = project.paused(['restore', baseId, '--database', newDatabaseName('json'), '--json'], 'restore:load');
    await run.reached;
    run.child.kill('SIGTERM');
    const result = await run.result;
    expect(result.exitCode, describeRun(result)).toBe(143);
    const body = result.json<{ error: { code: string; message: string; hint: string } }>();
    expect(body.error.code).toBe('aborted');
    expect(body.error.hint).toMatch(/\S/);
    expect((await state()).databases).toEqual(before.databases);
  });
});
