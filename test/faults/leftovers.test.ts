// What a strata process killed outright leaves, and who removes it: real CLI processes held at an
// exact point (STRATA_TEST_PAUSE_AT), then SIGKILLed; the next run must remove the partial snapshot
// folder or work database at once (its owner is provably gone), never what a live one is using.
// Also: the restore's maintenance session lost under it, and the swap of --replace cut mid-way.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { postgresDriver } from '../../packages/core/src/db/pg-driver.js';
import { describeRun } from '../support/cli.js';
import { adminQuery, dropDatabase } from '../support/database.js';
import { BACKENDS, existing, faultProject, folders, maintenancePid, newTag, rowCounts, workDatabaseOf, type FaultProject } from './fault-project.js';

let p: FaultProject;
let snapshotOfA: string;
const created: string[] = [];

beforeAll(async () => {
  p = await faultProject('leftovers');
  const migrated = await p.strata(['migrate', 'up', '--env', 'a']);
  expect(migrated.exitCode, describeRun(migrated)).toBe(0);
  snapshotOfA = await snapshotId('a');
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  await p?.cleanup();
});

async function snapshotId(env: string): Promise<string> {
  const result = await p.strata(['snapshot', '--env', env, '--json']);
  expect(result.exitCode, describeRun(result)).toBe(0);
  return result.json<{ id: string }>().id;
}

async function listed(env: string): Promise<string[]> {
  const result = await p.strata(['list', '--env', env, '--json']);
  expect(result.exitCode, describeRun(result)).toBe(0);
  return result.json<Array<{ id: string }>>().map((s) => s.id);
}

/** Waits until the server has ended every session of the run tagged `tag` (a killed client's go within moments). */
async function sessionsGone(tag: string): Promise<void> {
  await vi.waitFor(async () => {
    const { rows } = await adminQuery('SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [tag]);
    expect(rows).toEqual([]);
  }, { timeout: 15_000, interval: 50 });
}

/** A fresh target database name, dropped after the file. */
function target(suffix: string): string {
  const name = `${p.source.name}_${suffix}`;
  created.push(name);
  return name;
}

for (const backend of BACKENDS) {
  const [envA, envB] = backend.envs;

  describe(`on ${backend.name}`, () => {
    it(`snapshot killed mid-file on ${backend.name} | the partial folder never lists, and the next snapshot removes it at once`, async () => {
      const before = folders(await p.objects(envA));
      const killed = p.start(['snapshot', '--env', envA], 'snapshot:mid-file');
      await killed.paused();
      await killed.kill('SIGKILL');
      const [partial] = folders(await p.objects(envA)).filter((f) => !before.includes(f));
      expect(partial, 'the killed capture left no folder').toBeDefined();
      // Its lease is there (on s3:// the data file is an unfinished upload, not an object yet).
      expect((await p.objects(envA)).filter((k) => k.startsWith(`${partial}/`))).toEqual(expect.arrayContaining([expect.stringMatching(/^\w+\/lease-[0-9a-f]+\.json$/)]));
      expect(await listed(envA)).not.toContain(partial);

      const next = await snapshotId(envA);
      expect((await p.objects(envA)).filter((k) => k.startsWith(`${partial}/`))).toEqual([]);
      expect(await listed(envA)).toContain(next);
    });

    it(`snapshot killed after its data on ${backend.name} | prune removes the partial folder at once, not a day later`, async () => {
      const before = folders(await p.objects(envA));
      const killed = p.start(['snapshot', '--env', envA], 'snapshot:after-data');
      await killed.paused();
      await killed.kill('SIGKILL');
      const [partial] = folders(await p.objects(envA)).filter((f) => !before.includes(f));
      expect((await p.objects(envA)).filter((k) => k.startsWith(`${partial}/data/`)).length).toBeGreaterThan(0);

      const dry = await p.strata(['prune', '--env', envA, '--keep-last', '10', '--dry-run', '--json']);
      expect(dry.json<{ incompleteRemoved: string[] }>().incompleteRemoved).toEqual([partial]);
      const pruned = await p.strata(['prune', '--env', envA, '--keep-last', '10', '--json']);
      expect(pruned.exitCode, describeRun(pruned)).toBe(0);
      expect((await p.objects(envA)).filter((k) => k.startsWith(`${partial}/`))).toEqual([]);
    });

    it(`copy killed in the target on ${backend.name} | the next copy removes the dead copy's files and completes`, async () => {
      const id = await snapshotId(envA);
      const killed = p.start(['copy', id, '--from-env', envA, '--to-env', envB], 'copy:data');
      await killed.paused();
      await killed.kill('SIGKILL');
      const left = (await p.objects(envB)).filter((k) => k.startsWith(`${id}/`));
      const deadLease = left.find((k) => k.includes('/lease-'));
      expect(deadLease, left.join()).toBeDefined();
      expect(left).not.toContain(`${id}/manifest.json`);

      const again = await p.strata(['copy', id, '--from-env', envA, '--to-env', envB, '--json']);
      expect(again.exitCode, describeRun(again)).toBe(0);
      expect(again.json()).toMatchObject({ id, status: 'copied' });
      const now = (await p.objects(envB)).filter((k) => k.startsWith(`${id}/`));
      expect(now).toContain(`${id}/manifest.json`);
      expect(now.filter((k) => k.includes('/lease-'))).toEqual([]);
      const verified = await p.strata(['verify', id, '--env', envB, '--json']);
      expect(verified.json<{ ok: boolean }>().ok, describeRun(verified)).toBe(true);
    });
  });
}

describe('restores killed outright', () => {
  it('restore killed while loading | its work database stays, and the next restore drops it at once', async () => {
    const tag = newTag();
    const killed = p.start(['restore', snapshotOfA, '--env', 'a', '--database', target('killed'), '--json'], 'restore:load', tag);
    await killed.paused();
    const work = await workDatabaseOf(tag);
    expect(work).toMatch(/^strata_tmp_/);
    await killed.kill('SIGKILL');
    await sessionsGone(tag);
    expect(await existing([work!])).toEqual([work]);

    const next = await p.strata(['restore', snapshotOfA, '--env', 'a', '--database', target('after_kill')]);
    expect(next.exitCode, describeRun(next)).toBe(0);
    expect(next.stderr).toContain(`Dropped ${work}, left behind by an interrupted restore.`);
    expect(await existing([work!])).toEqual([]);
  });

  it('restore killed between CREATE DATABASE and its comment | a concurrent restore leaves it alone; the next one after the kill drops it', async () => {
    const tag = newTag();
    const held = p.start(['restore', snapshotOfA, '--env', 'a', '--database', target('uncommented'), '--json'], 'restore:create', tag);
    await held.paused();
    const work = await workDatabaseOf(tag);
    expect(work).toMatch(/^strata_tmp_/);
    const { rows } = await adminQuery<{ comment: string | null; sessions: string }>(
      "SELECT shobj_description(d.oid, 'pg_database') AS comment, (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid) AS sessions FROM pg_database d WHERE datname = $1",
      [work],
    );
    // No comment and no session: only the owner's advisory lock says it is in use.
    expect(rows).toEqual([{ comment: null, sessions: '0' }]);

    const concurrent = await p.strata(['restore', snapshotOfA, '--env', 'a', '--database', target('beside')]);
    expect(concurrent.exitCode, describeRun(concurrent)).toBe(0);
    expect(await existing([work!])).toEqual([work]);

    await held.kill('SIGKILL');
    await sessionsGone(tag);
    const next = await p.strata(['restore', snapshotOfA, '--env', 'a', '--database', target('after_create')]);
    expect(next.exitCode, describeRun(next)).toBe(0);
    expect(await existing([work!])).toEqual([]);
  });

  it('restore into PGlite killed while loading | the next restore there removes the work directory at once', async () => {
    const parent = await mkdtemp(path.join(os.tmpdir(), 'strata-pglite-left-'));
    try {
      const killed = p.start(['restore', snapshotOfA, '--env', 'a', '--target-url', `pglite://${path.join(parent, 'one')}`], 'restore:load');
      await killed.paused();
      const [work, ...others] = (await readdir(parent)).filter((n) => n.startsWith('.strata_tmp_'));
      expect(others).toEqual([]);
      expect(existsSync(path.join(parent, work!, 'strata.lock'))).toBe(true);
      await killed.kill('SIGKILL');

      const next = await p.strata(['restore', snapshotOfA, '--env', 'a', '--target-url', `pglite://${path.join(parent, 'two')}`]);
      expect(next.exitCode, describeRun(next)).toBe(0);
      expect((await readdir(parent)).sort()).toEqual(['two']);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });
});

describe('the maintenance session lost under a restore', () => {
  it('maintenance connection terminated before the rename | the restore reconnects, finishes, and leaves no work database', async () => {
    const tag = newTag();
    const name = target('reconnect');
    const held = p.start(['restore', snapshotOfA, '--env', 'a', '--database', name, '--json'], 'restore:rename', tag);
    await held.paused();
    const work = await workDatabaseOf(tag);
    const pid = await maintenancePid(tag);
    await adminQuery('SELECT pg_terminate_backend($1)', [pid]);
    await vi.waitFor(async () => expect(await maintenancePid(tag)).toBeUndefined(), { timeout: 10_000, interval: 50 });

    held.resume();
    const done = await held.done;
    expect(done.exitCode, describeRun(done)).toBe(0);
    expect(await existing([name, work!])).toEqual([name]);
    expect(await rowCounts(p.url(name))).toEqual({ parent: 200, child: 5000, extra: 100 });
  });

  it('maintenance connection terminated, then the restore interrupted | the clean-up reconnects and drops the work database', async () => {
    const tag = newTag();
    const name = target('reconnect_drop');
    const held = p.start(['restore', snapshotOfA, '--env', 'a', '--database', name], 'restore:load', tag);
    await held.paused();
    const work = await workDatabaseOf(tag);
    await adminQuery('SELECT pg_terminate_backend($1)', [await maintenancePid(tag)]);
    await vi.waitFor(async () => expect(await maintenancePid(tag)).toBeUndefined(), { timeout: 10_000, interval: 50 });

    const done = await held.kill('SIGTERM');
    expect([130, 143], describeRun(done)).toContain(done.exitCode);
    expect(done.stderr).not.toMatch(/Drop it by hand/);
    expect(await existing([name, work!])).toEqual([]);
  });

  it('restore --replace: the connection lost in the middle of the swap | the database keeps its name and its data, nothing is renamed aside', async () => {
    const name = target('swap');
    const made = await p.strata(['restore', snapshotOfA, '--env', 'a', '--database', name]);
    expect(made.exitCode, describeRun(made)).toBe(0);
    const tag = newTag();
    const server = await postgresDriver.server(p.url('postgres', tag));
    const work = await server.createWork(name);
    created.push(work);
    // A session on the work database makes the second rename wait (up to five seconds) for it
    // to go: the first rename has run inside the transaction when the session is cut.
    const blocker = await postgresDriver.connect(p.url(work));
    const pid = await maintenancePid(tag);
    const swapping = server.promote(work, name, true).then(() => undefined, (error: unknown) => error);
    await vi.waitFor(async () => {
      const { rows } = await adminQuery<{ query: string }>("SELECT query FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", [pid]);
      expect(rows[0]?.query).toMatch(new RegExp(`ALTER DATABASE "?${work}"? RENAME`));
    }, { timeout: 5000, interval: 20 });
    await adminQuery('SELECT pg_terminate_backend($1)', [pid]);
    expect(await swapping).toBeDefined();
    await blocker.close();
    await server.close().catch(() => {});

    const { rows } = await adminQuery<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2 OR datname = $3', [name, `${name}_replaced_%`, work]);
    expect(rows.map((r) => r.datname).sort()).toEqual([name, work].sort());
    expect(await rowCounts(p.url(name))).toEqual({ parent: 200, child: 5000, extra: 100 });
  });
});
