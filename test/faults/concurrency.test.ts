// Two strata commands at once, each outcome defined: real CLI processes, one of them held at an
// exact point with STRATA_TEST_PAUSE_AT (and let go on with SIGUSR2) while the other runs. Every
// check reads the storage and the server, not strata's report.
import pg from 'pg';
import { decodeTime } from 'ulid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { copySnapshot, prune, type StorageDriver } from '../../packages/core/src/index.js';
import { describeRun } from '../support/cli.js';
import { dropDatabase, queryAt } from '../support/database.js';
import { BACKENDS, existing, faultProject, folders, newTag, rowCounts, workDatabaseOf, type FaultProject } from './fault-project.js';

const DAY = 86_400_000;

let p: FaultProject;
const created: string[] = [];

beforeAll(async () => {
  p = await faultProject('concurrency');
  const migrated = await p.strata(['migrate', 'up', '--env', 'a']);
  expect(migrated.exitCode, describeRun(migrated)).toBe(0);
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  await p?.cleanup();
});

/** Takes a snapshot with the CLI; returns its id. */
async function snapshotId(env: string): Promise<string> {
  const result = await p.strata(['snapshot', '--env', env, '--json']);
  expect(result.exitCode, describeRun(result)).toBe(0);
  return result.json<{ id: string }>().id;
}

/** Keys of one snapshot folder, relative to the environment. */
async function folderKeys(env: string, id: string): Promise<string[]> {
  return (await p.objects(env)).filter((k) => k.startsWith(`${id}/`));
}

/** The folder that appeared in `env` since `before`. */
async function newFolder(env: string, before: string[]): Promise<string> {
  const [added, ...more] = folders(await p.objects(env)).filter((f) => !before.includes(f));
  expect(more).toEqual([]);
  expect(added).toBeDefined();
  return added!;
}

/** The bytes of every data file and manifest of a folder (leases are rewritten while held). */
async function contents(storage: StorageDriver, prefix: string, keys: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of keys.filter((k) => !/\/lease-[^/]+$/.test(k))) {
    const chunks: Buffer[] = [];
    for await (const chunk of await storage.read(`${prefix}${key}`)) chunks.push(chunk as Buffer);
    out[key] = Buffer.concat(chunks).toString('base64');
  }
  return out;
}

async function expectVerified(env: string, id: string): Promise<void> {
  const verified = await p.strata(['verify', id, '--env', env, '--json']);
  expect(verified.exitCode, describeRun(verified)).toBe(0);
  expect(verified.json<{ ok: boolean }>().ok).toBe(true);
}

for (const backend of BACKENDS) {
  const [envA, envB] = backend.envs;

  describe(`on ${backend.name}`, () => {
    it(`two snapshots at once on ${backend.name} | both finish, list and verify, with distinct ids, and leave no lease`, async () => {
      const before = folders(await p.objects(envA));
      const first = p.start(['snapshot', '--env', envA, '--json'], 'snapshot:after-data');
      await first.paused();
      const held = await newFolder(envA, before);
      const heldKeys = await folderKeys(envA, held);
      expect(heldKeys.some((k) => /^[^/]+\/lease-[0-9a-f]+\.json$/.test(k)), heldKeys.join()).toBe(true);

      const secondId = await snapshotId(envA);
      // The second run's clean-up of dead writers saw a live lease and left the folder alone.
      expect(await folderKeys(envA, held)).toEqual(heldKeys);

      first.resume();
      const finished = await first.done;
      expect(finished.exitCode, describeRun(finished)).toBe(0);
      const firstId = finished.json<{ id: string }>().id;
      expect(firstId).toBe(held);
      expect(firstId).not.toBe(secondId);
      const listed = await p.strata(['list', '--env', envA, '--json']);
      expect(listed.json<Array<{ id: string }>>().map((s) => s.id)).toEqual(expect.arrayContaining([firstId, secondId]));
      await expectVerified(envA, firstId);
      await expectVerified(envA, secondId);
      for (const id of [firstId, secondId]) expect((await folderKeys(envA, id)).filter((k) => k.includes('/lease-'))).toEqual([]);
    });

    it(`prune during a snapshot on ${backend.name} | the running capture's folder is kept, even by a prune dated days after its id`, async () => {
      const before = folders(await p.objects(envA));
      const capture = p.start(['snapshot', '--env', envA, '--json'], 'snapshot:after-data');
      await capture.paused();
      const id = await newFolder(envA, before);
      const keys = await folderKeys(envA, id);
      const ctx = p.context(envA);
      const bytes = await contents(ctx.storage, `flt/${envA}/`, keys);

      // Three days after the id: a folder without a manifest and without a lease would go.
      const inProcess = await prune(ctx, { policy: { last: 1 }, now: new Date(decodeTime(id) + 3 * DAY) });
      expect(inProcess.incompleteRemoved).not.toContain(id);
      const cli = await p.strata(['prune', '--env', envA, '--keep-last', '1', '--json']);
      expect(cli.exitCode, describeRun(cli)).toBe(0);
      expect(await folderKeys(envA, id)).toEqual(keys);
      expect(await contents(ctx.storage, `flt/${envA}/`, keys)).toEqual(bytes);

      capture.resume();
      const done = await capture.done;
      expect(done.exitCode, describeRun(done)).toBe(0);
      await expectVerified(envA, id);
    });

    it(`prune of the target during a copy on ${backend.name} | the copy's partial folder is kept, and the copy completes`, async () => {
      const id = await snapshotId(envA);
      const copy = p.start(['copy', id, '--from-env', envA, '--to-env', envB, '--json'], 'copy:data');
      await copy.paused();
      const keys = await folderKeys(envB, id);
      expect(keys.some((k) => k.includes('/data/'))).toBe(true);
      expect(keys).not.toContain(`${id}/manifest.json`);
      const ctx = p.context(envB);
      const bytes = await contents(ctx.storage, `flt/${envB}/`, keys);

      await prune(ctx, { policy: { last: 1 }, now: new Date(decodeTime(id) + 3 * DAY) });
      const cli = await p.strata(['prune', '--env', envB, '--keep-last', '1', '--json']);
      expect(cli.exitCode, describeRun(cli)).toBe(0);
      // Only the first file's copy is held; the others may still be arriving. Nothing went.
      expect(await folderKeys(envB, id)).toEqual(expect.arrayContaining(keys));
      expect(await contents(ctx.storage, `flt/${envB}/`, keys)).toEqual(bytes);

      copy.resume();
      const done = await copy.done;
      expect(done.exitCode, describeRun(done)).toBe(0);
      expect(done.json()).toMatchObject({ id, status: 'copied' });
      await expectVerified(envB, id);
      expect((await folderKeys(envB, id)).filter((k) => k.includes('/lease-'))).toEqual([]);
    });

    it(`two copies of one snapshot into one environment on ${backend.name} | the second refuses in one sentence, exit 4, and the first's files are untouched`, async () => {
      const id = await snapshotId(envA);
      const first = p.start(['copy', id, '--from-env', envA, '--to-env', envB, '--json'], 'copy:data');
      await first.paused();
      const ctx = p.context(envB);
      const keys = await folderKeys(envB, id);
      const bytes = await contents(ctx.storage, `flt/${envB}/`, keys);

      const second = await p.strata(['copy', id, '--from-env', envA, '--to-env', envB]);
      expect(second.exitCode, describeRun(second)).toBe(4);
      expect(second.stderr).toMatch(
        new RegExp(`^Error: Snapshot ${id} is already being copied into environment "${envB}" \\(a copy by process ${first.pid} on [^,]+, started [^)]+\\)\\.\\nHint: .+\\n$`),
      );
      expect(await folderKeys(envB, id)).toEqual(expect.arrayContaining(keys));
      expect(await contents(ctx.storage, `flt/${envB}/`, keys)).toEqual(bytes);

      first.resume();
      const done = await first.done;
      expect(done.exitCode, describeRun(done)).toBe(0);
      await expectVerified(envB, id);
    });

    it(`prune removes the snapshot from the source during a copy on ${backend.name} | the copy fails in one sentence and leaves nothing in the target`, async () => {
      const doomed = await snapshotId(envA);
      await snapshotId(envA);
      const from = p.context(envA);
      const real = from.storage;
      // The copy is held just before it opens its first data file, while a real prune runs.
      let reading!: () => void;
      const reachedData = new Promise<void>((resolve) => (reading = resolve));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const held: StorageDriver = {
        location: real.location,
        write: (key, body, o) => real.write(key, body, o),
        read: async (key, o) => {
          if (key.includes('/data/')) {
            reading();
            await gate;
          }
          return real.read(key, o);
        },
        exists: (key) => real.exists(key),
        listChildren: (prefix) => real.listChildren(prefix),
        removePrefix: (prefix) => real.removePrefix(prefix),
      };
      const outcome = copySnapshot({ from: { ...from, storage: held }, to: p.context(envB), id: doomed }).then(
        () => undefined,
        (error: unknown) => error,
      );
      await reachedData;
      const pruned = await p.strata(['prune', '--env', envA, '--keep-last', '1', '--json']);
      expect(pruned.exitCode, describeRun(pruned)).toBe(0);
      expect(await folderKeys(envA, doomed)).toEqual([]);
      release();
      expect(await outcome).toMatchObject({
        code: 'copy-source-removed',
        exitCode: 4,
        message: `Snapshot ${doomed} was removed from environment "${envA}" while it was being copied; nothing was copied to "${envB}".`,
      });
      expect(await folderKeys(envB, doomed)).toEqual([]);
    });
  });
}

describe('restores on one server', () => {
  let small: string;
  let large: string;

  beforeAll(async () => {
    small = await snapshotId('a');
    await queryAt(p.source.url, "INSERT INTO extra (note) SELECT 'later' || g FROM generate_series(1, 50) g");
    large = await snapshotId('a');
  });

  it('two restores into one new name | exactly one wins; the other exits 3 with "already exists" and leaves no work database', async () => {
    const target = `${p.source.name}_same`;
    created.push(target);
    const tag = newTag();
    const first = p.start(['restore', small, '--env', 'a', '--database', target, '--json'], 'restore:rename', tag);
    await first.paused();
    const work = await workDatabaseOf(tag);
    expect(work).toMatch(/^strata_tmp_/);

    const second = await p.strata(['restore', large, '--env', 'a', '--database', target, '--json']);
    expect(second.exitCode, describeRun(second)).toBe(0);

    first.resume();
    const lost = await first.done;
    expect(lost.exitCode, describeRun(lost)).toBe(3);
    expect(lost.json().error).toMatchObject({
      code: 'database-exists',
      message: `The database "${target}" already exists on 127.0.0.1:5432; strata never restores over an existing database.`,
    });
    expect(await existing([work!, target])).toEqual([target]);
    // The winner's data: the later snapshot, with the 50 rows added in between.
    expect(await rowCounts(p.url(target))).toEqual({ parent: 200, child: 5000, extra: 150 });
  });

  it('restore --replace while clients are connected | they are disconnected at the swap, and the old database is kept aside', async () => {
    const target = `${p.source.name}_repl`;
    created.push(target);
    const first = await p.strata(['restore', large, '--env', 'a', '--database', target, '--json']);
    expect(first.exitCode, describeRun(first)).toBe(0);
    await queryAt(p.url(target), "INSERT INTO extra (note) VALUES ('committed before the replace')");
    const idle = new pg.Client({ connectionString: p.url(target) });
    const busy = new pg.Client({ connectionString: p.url(target) });
    for (const client of [idle, busy]) {
      client.on('error', () => {});
      await client.connect();
    }
    await busy.query('BEGIN');
    await busy.query("INSERT INTO extra (note) VALUES ('never committed')");

    const replaced = await p.strata(['restore', small, '--env', 'a', '--database', target, '--replace', '--confirm', target, '--json']);
    expect(replaced.exitCode, describeRun(replaced)).toBe(0);
    const aside = replaced.json<{ replacedDatabaseRenamedTo: string }>().replacedDatabaseRenamedTo;
    created.push(aside);

    for (const client of [idle, busy]) {
      await expect(client.query('SELECT 1')).rejects.toThrow(/terminat|Connection|not queryable/i);
      await client.end().catch(() => {});
    }
    expect(await existing([target, aside]).then((names) => names.sort())).toEqual([target, aside].sort());
    expect(await rowCounts(p.url(target))).toEqual({ parent: 200, child: 5000, extra: 100 });
    const notes = await queryAt<{ note: string }>(p.url(aside), "SELECT note FROM extra WHERE note NOT LIKE 'e%' AND note NOT LIKE 'later%' ORDER BY 1");
    expect(notes.map((n) => n.note)).toEqual(['committed before the replace']);
  });
});
