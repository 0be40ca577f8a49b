import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DatabaseError, StrataError } from '../errors.js';
import type { DbSession } from './driver.js';
import { createPgliteDriver } from './pglite-driver.js';
import { INCOMPLETE_MARKER } from './pglite-server.js';

// test/setup/global-setup.ts provides it; declared here because core's type-check stops at src/.
declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
  }
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

// The types fixture of the PGlite spike: edge values of about 37 column types.
const FIXTURE = String.raw`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'ünï');
CREATE TABLE types (
  id int PRIMARY KEY, i int, bi bigint, si smallint, n numeric, n2 numeric(12,2),
  t text, vc varchar(20), ch char(5), bt bytea, b boolean, d date, tstz timestamptz, ts timestamp,
  tm time, tmtz timetz, iv interval, jb jsonb, js json, u uuid, ia int[], ta text[], e mood, ip inet, cidr_ cidr, mac macaddr,
  f8 double precision, f4 real, money_ money, bits bit(4), vbits varbit, pt point, tsv tsvector, i4r int4range, ea mood[], jba jsonb[], x xml
);
INSERT INTO types VALUES
 (1, 1, 9223372036854775807, -32768, 123456789012345678901234567890.123456789, 12.30,
  E'tab\there\nnewline\\backslash\r\x01 ünïcødé 😀 "q" ''s', 'short', 'ab', '\x00ff5c0a09', true, '2024-02-29', '2024-02-29 12:34:56.789012+05:30', '2024-02-29 12:34:56.789012',
  '23:59:59.999999', '12:00:00+02', '1 year 2 mons 3 days 04:05:06.789', '{"b": [1, 2.50, null], "a": "ü\n\t\\", "big": 12345678901234567890}', '{ "keep":  "spacing" , "a":1 }',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', '{"a b","c,d","e\"f","g\\h",NULL,"NULL",""}', 'happy', '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
  1.0000000000000002, 3.4028235e38, 1234.56, B'1010', B'101', '(1.5,-2)', 'the quick brown fox', '[1,10)', '{sad,ünï}', ARRAY['{"a":1}'::jsonb], '<a x="1">t</a>'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, -2147483648, -9223372036854775808, 0, 'NaN', -0.01, '', '', '', '\x', false, 'infinity', '-infinity', 'infinity', '00:00', '00:00:00-14:59', '-1 days -00:00:00.000001', '[]', 'null', '00000000-0000-0000-0000-000000000000', '{}', '{}', 'ünï', '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff',
  'NaN', 'Infinity', -0.01, B'0000', B'', '(0,0)', '', 'empty', '{}', '{}', ''),
 (4, 0, 0, 1, '1e-20', 0, E'\\N', 'x', 'xxxxx', '\x5c4e', true, '0001-01-01 BC', '1970-01-01 00:00:00+00', '2000-01-01 00:00:00.5', '12:00', '12:00+00', '0', '{"k": "\u00e9"}', '"\u00e9"', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', '{{1,2},{3,4}}', '{"\\N"}', 'sad', '0.0.0.0', '0.0.0.0/0', '00:00:00:00:00:00',
  '-Infinity', '-0', 0, B'1111', B'1', '(1e300,-1e-300)', 'a:1 b:2B', '(,)', NULL, NULL, NULL),
 (5, 5, 5, 5, '-123.4560', 1e9, repeat('x', 300), NULL, NULL, NULL, NULL, '1999-12-31', '2038-01-19 03:14:08.000001-08', '1900-01-01 00:00:00', NULL, NULL, '1000000 hours', '{"a": 1e400}', '1e400', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  0.1, 0.1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  1e-310, 1.17549435e-38, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  123456789.123456789, 2.5e-10, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);`;
const SETTINGS = "SET TimeZone='UTC'; SET DateStyle='ISO, YMD'; SET IntervalStyle='postgres'; SET extra_float_digits=3; SET client_encoding='UTF8'";
const TYPES_QUERY = 'SELECT id, t, bt, d, tstz, ta, jb, f8, n FROM types WHERE id <> 3 ORDER BY id DESC';

// Tiny chunks so a handful of rows crosses many COPY and page boundaries.
const driver = createPgliteDriver({ copyInChunkBytes: 1000, copyOutPages: 1, copyOutFetchRows: 2 });

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

async function serverCopy(client: pg.Client, sql: string): Promise<Buffer> {
  return readAll(client.query(copyTo(sql)));
}

async function load(session: DbSession, sql: string, pieces: Buffer[]): Promise<number> {
  const stream = session.copyIn(sql);
  await pipeline(async function* () {
    yield* pieces;
  }, stream);
  return stream.rowCount;
}

function sentence(error: unknown): StrataError {
  expect(error).toBeInstanceOf(StrataError);
  const strata = error as StrataError;
  expect(strata.message).not.toContain('\n');
  expect(strata.message.match(/\.\s/g) ?? []).toHaveLength(0);
  expect(strata.hint).toBeTruthy();
  return strata;
}

describe('PGlite driver', () => {
  let root: string;
  const database = `strata_test_pglite_${randomBytes(4).toString('hex')}`;
  let client: pg.Client;
  let sourceUrl: string;
  let source: DbSession;
  let holder: ChildProcess | undefined;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'strata-pglite-'));
    sourceUrl = `pglite://${join(root, 'source')}`;
    await admin(`CREATE DATABASE "${database}"`);
    const url = new URL(inject('adminDatabaseUrl'));
    url.pathname = `/${database}`;
    client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    await client.query(SETTINGS);
    await client.query(FIXTURE);
    source = await driver.connect(sourceUrl);
  });

  afterAll(async () => {
    holder?.kill();
    await source?.close();
    await client?.end();
    await admin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('runs parameterised and multi-statement queries, with int8, numeric and dates as strings', async () => {
    const many = await source.query<{ n: string }>(`${FIXTURE}; SELECT count(*) AS n FROM types`);
    const [expected] = (await client.query<{ n: string }>('SELECT count(*)::text AS n FROM types')).rows;
    expect(many.rows).toEqual([{ n: expected!.n }]);
    const one = await source.query<{ bi: unknown; n: unknown; d: unknown }>('SELECT bi, n, d FROM types WHERE id = $1', [1]);
    const [row] = (await client.query('SELECT bi::text, n::text, d::text FROM types WHERE id = 1')).rows;
    expect(one.rows).toEqual([row]);
    expect(one.rowCount).toBe(1);
    await source.query('CREATE TABLE counted AS SELECT g FROM generate_series(1, 10) AS g');
    const [under] = (await source.query<{ n: string }>('SELECT count(*) AS n FROM counted WHERE g <= 4')).rows;
    const update = await source.query('UPDATE counted SET g = g WHERE g <= $1', [4]);
    expect(update.rowCount).toBe(Number(under!.n));
    expect(readFileSync(join(root, 'source', 'strata.lock'), 'utf8').trim()).toBe(String(process.pid));
  });

  it('streams a table and a query out byte for byte as the PostgreSQL server prints them', async () => {
    const table = await readAll(source.copyOut('COPY public.types TO STDOUT'));
    expect(table.equals(await serverCopy(client, 'COPY public.types TO STDOUT'))).toBe(true);
    const query = await readAll(source.copyOut(`COPY (${TYPES_QUERY}) TO STDOUT`));
    expect(query.equals(await serverCopy(client, `COPY (${TYPES_QUERY}) TO STDOUT`))).toBe(true);
    const [status] = (await source.query<{ s: string }>("SELECT current_setting('transaction_isolation') AS s")).rows;
    expect(status!.s).toBe('read committed'); // the stream's own snapshot ended with it
    await expect(readAll(source.copyOut('COPY (SELECT nope FROM types) TO STDOUT'))).rejects.toThrow(/nope/);
    await expect(readAll(source.copyOut('COPY missing_table TO STDOUT'))).rejects.toThrow(/missing_table/);
    expect((await source.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('closes a session by force in the middle of a COPY without harming the shared instance', async () => {
    const extra = await driver.connect(sourceUrl);
    await extra.query('BEGIN; CREATE TABLE doomed (i int)');
    const running = extra.copyOut('COPY (SELECT * FROM types ORDER BY id) TO STDOUT')[Symbol.asyncIterator]();
    expect((await running.next()).done).toBe(false);
    const pending = extra.copyOut('COPY types TO STDOUT');
    await extra.close({ force: true });
    // The running stream may already hold its last chunks; the one not yet started must fail.
    await expect(readAll(pending)).rejects.toThrow(/closed/);
    // Drain the running one (it ends, or fails on the closed session) so its clean-up has run.
    try {
      while (!(await running.next()).done);
    } catch {
      // closed: expected either way
    }
    const [gone] = (await source.query<{ t: string | null }>("SELECT to_regclass('doomed')::text AS t, current_setting('transaction_isolation') AS i")).rows;
    expect(gone).toEqual({ t: null, i: 'read committed' });
    expect(readFileSync(join(root, 'source', 'strata.lock'), 'utf8').trim()).toBe(String(process.pid));
  });

  it('builds a work database with knex, loads COPY text in chunks, and promotes it', async () => {
    const databases = await driver.server(sourceUrl);
    const work = await databases.createWork('target');
    const workUrl = driver.withDatabase(sourceUrl, work);
    expect(existsSync(join(root, work, INCOMPLETE_MARKER))).toBe(true);
    const schema = FIXTURE.slice(0, FIXTURE.indexOf('INSERT'));
    const migrations = {
      '001_types': { up: (knex: import('knex').Knex) => knex.raw(schema), down: async () => {} },
      '002_big': {
        up: (knex: import('knex').Knex) => knex.schema.createTable('big', (t) => { t.integer('id').primary(); t.text('body'); }),
        down: async () => {},
      },
    };
    const migrationSource = {
      getMigrations: async () => Object.keys(migrations),
      getMigrationName: (name: string) => name,
      getMigration: async (name: string) => migrations[name as keyof typeof migrations],
    };
    const applied = await driver.withKnex(workUrl, (knex) => knex.migrate.up({ migrationSource }).then(() => knex.migrate.up({ migrationSource })));
    expect(applied).toEqual([2, ['002_big']]);

    const target = await driver.connect(workUrl);
    try {
      // The instance survives knex.destroy(): the session still works, and sees the migrations.
      const names = await target.query<{ name: string }>('SELECT name FROM knex_migrations ORDER BY id');
      expect(names.rows.map((r) => r.name)).toEqual(['001_types', '002_big']);

      const text = await readAll(source.copyOut('COPY types TO STDOUT'));
      const half = text.indexOf(0x0a, text.length / 2) - 3;
      const loaded = await load(target, 'COPY public.types FROM STDIN', [text.subarray(0, half), text.subarray(half)]);
      const [types] = (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM types')).rows;
      expect(loaded).toBe(types!.n);
      expect((await readAll(target.copyOut('COPY types TO STDOUT'))).equals(text)).toBe(true);

      // 100-byte rows: ten fill a 1000-byte chunk exactly, so a chunk edge falls right after a row.
      const rows = Array.from({ length: 95 }, (_, i) => `${i}\t${'x'.repeat(100 - String(i).length - 2)}\n`);
      rows.push('95\tlong \\\\ row with \\t escapes\n', `96\t${'y'.repeat(2500)}\n`, '97\t\\N\n');
      const body = Buffer.from(rows.join(''));
      const pieces = [body.subarray(0, 1000), body.subarray(1000, 1950), body.subarray(1950, 2000), body.subarray(2000, 4321), body.subarray(4321)];
      const count = await load(target, 'COPY big (id, body) FROM STDIN', pieces);
      const [big] = (await target.query<{ n: string; chunks: string }>('SELECT count(*) AS n, count(DISTINCT xmin::text) AS chunks FROM big')).rows;
      expect(count).toBe(rows.length);
      expect(Number(big!.n)).toBe(rows.length);
      expect(Number(big!.chunks)).toBeGreaterThan(3); // each chunk was its own COPY (and transaction)
      expect((await readAll(target.copyOut('COPY big (id, body) TO STDOUT'))).equals(body)).toBe(true);

      // Options reach PGlite: FREEZE works as on a server, for a table truncated in the transaction.
      await target.query('BEGIN; TRUNCATE big');
      expect(await load(target, 'COPY big (id, body) FROM STDIN WITH (FORMAT text, FREEZE)', pieces)).toBe(rows.length);
      await target.query('COMMIT');
      // …and refuses it, as a server does, outside such a transaction: the option was not dropped.
      await expect(load(target, 'COPY big (id, body) FROM STDIN WITH (FREEZE)', pieces)).rejects.toThrow(/FREEZE/);
      expect((await readAll(target.copyOut('COPY big (id, body) TO STDOUT'))).equals(body)).toBe(true);
    } finally {
      await target.close();
    }
    expect(existsSync(join(root, work, 'strata.lock'))).toBe(false);

    expect(await databases.exists('target')).toBe(false);
    expect(await databases.promote(work, 'target', false)).toBeUndefined();
    expect(await databases.exists('target')).toBe(true);
    expect(existsSync(join(root, 'target', INCOMPLETE_MARKER))).toBe(false);
    expect(existsSync(join(root, work))).toBe(false);

    // Replace: the old database goes aside, a second promote without replace is refused.
    const second = await databases.createWork('target');
    await expect(databases.promote(second, 'target', false)).rejects.toMatchObject({ code: 'database-exists' });
    const aside = await databases.promote(second, 'target', true);
    expect(aside).toMatch(/^target_replaced_/);
    expect(await databases.exists(aside!)).toBe(true);
    expect(existsSync(join(root, 'target', INCOMPLETE_MARKER))).toBe(false);
    await databases.drop(aside!);
    expect(existsSync(join(root, aside!))).toBe(false);

    // Abandoned work directories. The marker names its owner: one whose owner has exited goes at
    // once; one whose owner runs (this process) stays, however old. A marker of an older strata,
    // which names no owner, goes once it is ten minutes old.
    const past = new Date(Date.now() - 3600_000);
    const mine = await databases.createWork('x');
    utimesSync(join(root, mine, INCOMPLETE_MARKER), past, past);
    const orphan = await databases.createWork('x');
    const exited = spawnSync(process.execPath, ['-e', "const s = require('fs').readFileSync('/proc/self/stat', 'utf8'); process.stdout.write(JSON.stringify({ pid: process.pid, pidStartedAt: s.slice(s.lastIndexOf(')') + 2).split(' ')[19] }))"], { encoding: 'utf8' });
    const marker = readFileSync(join(root, orphan, INCOMPLETE_MARKER), 'utf8');
    const owner = JSON.parse(marker.split('\n')[1]!.slice('owner '.length)) as Record<string, unknown>;
    writeFileSync(join(root, orphan, INCOMPLETE_MARKER), `${marker.split('\n')[0]}\nowner ${JSON.stringify({ ...owner, ...JSON.parse(exited.stdout) })}\n`);
    const legacyOld = await databases.createWork('x');
    const legacyFresh = await databases.createWork('x');
    for (const dir of [legacyOld, legacyFresh]) writeFileSync(join(root, dir, INCOMPLETE_MARKER), 'Work database of a strata restore into x; incomplete.\n');
    utimesSync(join(root, legacyOld, INCOMPLETE_MARKER), past, past);
    expect((await databases.dropAbandoned()).sort()).toEqual([orphan, legacyOld].sort());
    expect(existsSync(join(root, orphan))).toBe(false);
    expect(existsSync(join(root, legacyOld))).toBe(false);
    expect(existsSync(join(root, mine))).toBe(true);
    expect(existsSync(join(root, legacyFresh))).toBe(true);
    await databases.drop(mine);
    await databases.drop(legacyFresh);
  });

  it('refuses a directory another live process holds, and takes over a dead one', async () => {
    const dir = join(root, 'source');
    await source.close();
    expect(existsSync(join(dir, 'strata.lock'))).toBe(false);
    holder = spawn(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(join(dir, 'strata.lock'))}, String(process.pid)); setInterval(() => {}, 1000)`]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    while (!existsSync(join(dir, 'strata.lock'))) await new Promise((resolve) => setTimeout(resolve, 100));
    const refused = await driver.connect(sourceUrl).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DatabaseError);
    expect(sentence(refused)).toMatchObject({ code: 'database-locked' });
    expect((refused as Error).message).toContain(String(holder.pid));
    holder.kill();
    await new Promise((resolve) => holder!.once('exit', resolve));
    source = await driver.connect(sourceUrl);
    expect(readFileSync(join(dir, 'strata.lock'), 'utf8').trim()).toBe(String(process.pid));
  });

  it('keeps in-memory databases by name for the life of the process', async () => {
    const memory = await driver.server('pglite://memory');
    const work = await memory.createWork('shop');
    expect(await memory.exists(work)).toBe(true);
    const session = await driver.connect(driver.withDatabase('pglite://memory', work));
    await session.query('CREATE TABLE kept (n int); INSERT INTO kept SELECT generate_series(1, 3)');
    await session.close();
    expect(await memory.promote(work, 'shop', false)).toBeUndefined();
    expect(await memory.exists(work)).toBe(false);
    const again = await driver.connect('pglite://memory/shop');
    try {
      const [row] = (await again.query<{ n: string }>('SELECT count(*) AS n FROM kept')).rows;
      expect(row!.n).toBe('3');
    } finally {
      await again.close();
    }
    await memory.drop('shop');
    expect(await memory.exists('shop')).toBe(false);
  });

  it('translates errors into one sentence with a hint', async () => {
    const syntax = await source.query('SELEC 1').catch((error: unknown) => driver.translateError(error, sourceUrl, 'read'));
    expect(sentence(syntax)).toMatchObject({ code: 'database-query-failed' });
    expect((syntax as Error).message).toContain('42601');
    const missing = await source.query('SELECT * FROM no_such_table').catch((error: unknown) => driver.translateError(error, sourceUrl, 'read'));
    expect(sentence(missing).message).toMatch(/no_such_table.*42P01/);
    const noParent = await driver.connect(`pglite://${join(root, 'absent', 'db')}`).catch((error: unknown) => error);
    expect(sentence(noParent)).toMatchObject({ code: 'database-directory-missing' });
    expect((noParent as Error).message).toContain(join(root, 'absent'));
    expect(driver.describe(sourceUrl)).toMatchObject({ server: root, database: 'source' });
    expect(driver.withDatabase('pglite://./data/dev', 'x')).toBe('pglite://data/x');
    expect(driver.withDatabase('pglite://memory', 'x')).toBe('pglite://memory/x');
  });
});
