// A snapshot folder is input from outside: anyone who can write the bucket. Each test takes a copy
// of one real snapshot, damages it the way such a person could, and runs the engine on it through
// @strata/core. What is checked is the server and the disk: no database of this test is created
// or left behind (pg_database before and after), no file in the storage changes, nothing appears
// where a name pointed outside it, and the source's rows stay the same.
import { randomBytes } from 'node:crypto';
import { copyFile, cp, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { OperationContext, StorageDriver } from '../../packages/core/src/index.js';
import { copyGuardLimits } from '../../packages/core/src/format/copy-guard.js';
import { MAX_MANIFEST_BYTES } from '../../packages/core/src/format/manifest-io.js';
import { copySnapshot, listSnapshots, restore, showSnapshot, snapshot, verifySnapshot } from '../engine/engine-imports.js';
import { LocalStorage } from '../../packages/plugin-local/src/local-storage.js';
import { adminQuery, createTestDatabase, databaseUrl, dropDatabase, queryAt, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';
import {
  copySnapshot as copyFolder,
  expectWorldUnchanged,
  gzipBomb,
  meteredStorage,
  recordWorld,
  tableChecksums,
  type SnapshotCopy,
  type World,
} from './hostile-support.js';

/** Names that are legal in PostgreSQL and look like SQL or paths: they must stay names. */
const ODD_TABLE = `we"ird'; DROP TABLE parent; --`;
const ODD_COLUMN = `co"l'; DROP TABLE child; --`;

const SQL = `
  CREATE TABLE parent (id serial PRIMARY KEY, label text NOT NULL);
  CREATE TABLE child (id integer PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent(id), note text);
  CREATE TABLE "we""ird'; DROP TABLE parent; --" (id integer PRIMARY KEY, "co""l'; DROP TABLE child; --" text);
  CREATE SCHEMA "..";
  CREATE TABLE "..".".." (id integer PRIMARY KEY, "x/y" text);
  CREATE TABLE "../../etc/passwd" (id integer PRIMARY KEY);
  INSERT INTO parent (label) SELECT 'p' || g FROM generate_series(1, 200) g;
  INSERT INTO child SELECT g, 1 + g % 200, md5(g::text) FROM generate_series(1, 50000) g;
  INSERT INTO "we""ird'; DROP TABLE parent; --" VALUES (1, 'a''b"c'), (2, 'DROP TABLE child;');
  INSERT INTO "..".".." VALUES (1, '../..');
  INSERT INTO "../../etc/passwd" VALUES (1), (2), (3);
`;
const SCHEMA = `export async function up(knex) { await knex.raw(${JSON.stringify(SQL)}); }\nexport async function down() {}\n`;

let source: TestDatabase;
let project: EngineProject;
let pristineId: string;
const created: string[] = [];
const copies: SnapshotCopy[] = [];
const savedLimits = { ...copyGuardLimits };

beforeAll(async () => {
  source = await createTestDatabase('hostile');
  project = await engineProject({ '20240101000000_schema.mjs': SCHEMA });
  await project.migrate(source.url);
  pristineId = (await snapshot(project.context(source.url))).id;
});

afterEach(() => {
  Object.assign(copyGuardLimits, savedLimits);
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  for (const copy of copies) await copy.remove();
  await source?.drop();
  if (project) await rm(project.dir, { recursive: true, force: true });
});

/** A private copy of the snapshot, a context on it (reads metered), and the world before anything runs. */
interface Scene extends SnapshotCopy {
  ctx: OperationContext & { warnings: string[] };
  bytesRead: Record<string, number>;
  /** The storage key of table `name`'s data file. */
  keyOf(name: string): Promise<string>;
  /** Records the world; call after tampering, before running strata. */
  record(outside?: string[]): Promise<void>;
  expectUnchanged(): Promise<void>;
  /** A database name for a restore that must fail (dropped afterwards if it did not). */
  target(label: string): string;
}

async function scene(): Promise<Scene> {
  const copy = await copyFolder(path.join(project.dir, 'snapshots'), 'rt', 'test', pristineId);
  copies.push(copy);
  const { storage, bytesRead } = meteredStorage(new LocalStorage(copy.root));
  let before: World | undefined;
  return {
    ...copy,
    ctx: project.context(source.url, { storage: storage as StorageDriver }),
    bytesRead,
    async keyOf(name) {
      return `rt/test/${pristineId}/${copy.table(await copy.readManifest(), name).file}`;
    },
    async record(outside = []) {
      before = await recordWorld(source.name, source.url, copy.dir, outside);
    },
    async expectUnchanged() {
      expect(before, 'record() was not called').toBeDefined();
      await expectWorldUnchanged(before!, source.name, source.url, copy.dir);
    },
    target(label) {
      const name = `${source.name}_${label}`;
      created.push(name);
      return name;
    },
  };
}

/** Awaits `run` and returns its rejection (failing when it resolves). */
async function refusal(run: Promise<unknown>): Promise<Error & { code?: string; exitCode?: number; hint?: string }> {
  let error: unknown;
  await run.then(
    () => {},
    (e: unknown) => (error = e),
  );
  expect(error, 'it succeeded').toBeInstanceOf(Error);
  return error as Error & { code?: string; exitCode?: number };
}

/** show, verify, restore and copy must all refuse the manifest the same way. */
async function expectManifestRefused(s: Scene, message: RegExp, code = 'manifest-invalid', id = pristineId): Promise<void> {
  const staging = new LocalStorage(path.join(s.dir, 'staging'));
  const runs: Array<[string, () => Promise<unknown>]> = [
    ['show', () => showSnapshot(s.ctx, id)],
    ['verify', () => verifySnapshot(s.ctx, id)],
    ['restore', () => restore({ ...s.ctx, id, database: s.target(`r${randomBytes(3).toString('hex')}`) })],
    ['copy', () => copySnapshot({ from: s.ctx, to: { ...s.ctx, env: { ...s.ctx.env, name: 'staging' }, storage: staging }, id })],
  ];
  for (const [name, run] of runs) {
    const error = await refusal(run());
    expect({ name, code: error.code, exitCode: error.exitCode }).toEqual({ name, code, exitCode: 5 });
    expect(error.message).toMatch(message);
    expect(error.message.split(/\.\s/).length, `more than one sentence: ${error.message}`).toBe(1);
  }
}

describe('hostile manifests', () => {
  it('data file name pointing outside the snapshot (../…, absolute) | show, verify, restore and copy refuse the manifest; no file written, no database', async () => {
    for (const file of [`../../../../../../../../..${os.tmpdir()}/strata-hostile-${randomBytes(4).toString('hex')}`, `${os.tmpdir()}/strata-hostile-${randomBytes(4).toString('hex')}`]) {
      const s = await scene();
      await s.editManifest((m) => (s.table(m, 'parent').file = file));
      await s.record([path.resolve(s.folder, file), file]);
      await expectManifestRefused(s, /tables\.\d+\.file must be data\/public\.parent\.copy\.gz/);
      await s.expectUnchanged();
    }
  });

  it('table name with a NUL byte, or longer than 63 bytes | refused as an invalid manifest; no database', async () => {
    for (const name of ['parent\u0000"; DROP TABLE child; --', `parent${'x'.repeat(60)}`]) {
      const s = await scene();
      await s.editManifest((m) => {
        const entry = s.table(m, 'parent');
        entry.name = name;
        entry.file = `data/public.${encodeURIComponent(name)}.copy.gz`;
      });
      await s.record();
      await expectManifestRefused(s, /tables\.\d+\.name must (not contain a NUL|be a PostgreSQL identifier of at most 63 bytes)/);
      await s.expectUnchanged();
    }
  });

  it('sequence value written as SQL | refused as an invalid manifest, before any SQL is sent', async () => {
    const s = await scene();
    await s.editManifest((m) => (m.sequences[0]!.lastValue = `1::numeric, false); CREATE DATABASE "${source.name}_pwned"; --`));
    await s.record();
    await expectManifestRefused(s, /sequences\.0\.lastValue must be an integer/);
    await s.expectUnchanged();
  });

  it('table listed twice, column listed twice | refused as an invalid manifest', async () => {
    const twice = await scene();
    await twice.editManifest((m) => m.tables.push({ ...twice.table(m, 'child') }));
    await twice.record();
    await expectManifestRefused(twice, /lists table public\.child a second time/);
    await twice.expectUnchanged();

    const column = await scene();
    await column.editManifest((m) => {
      const child = column.table(m, 'child');
      child.columns.push({ ...child.columns[0]! });
    });
    await column.record();
    await expectManifestRefused(column, /columns\.3\.name repeats column id/);
    await column.expectUnchanged();
  });

  it('manifest id differing from its folder | show, verify, restore and copy refuse it; list skips it with a warning', async () => {
    const s = await scene();
    // A folder whose manifest names the original snapshot: restored, it would load the original's files.
    const other = '01J0000000000000000000FAKE';
    await cp(s.folder, path.join(path.dirname(s.folder), other), { recursive: true });
    await s.record();
    await expectManifestRefused(s, new RegExp(`names snapshot ${pristineId}, not ${other}, the folder it is in`), 'manifest-id-mismatch', other);
    expect((await listSnapshots(s.ctx)).map((x) => x.id)).toEqual([pristineId]);
    expect(s.ctx.warnings.join('\n')).toContain(`Skipping snapshot ${other}`);
    await s.expectUnchanged();
  });

  it('100 MB manifest | refused after reading at most 32 MiB of it; list skips it', async () => {
    const s = await scene();
    const manifest = await s.readManifest();
    // Valid JSON to the end: only its size is wrong.
    await s.writeManifest({ ...manifest, description: 'x'.repeat(100 * 1024 * 1024) });
    const key = `rt/test/${pristineId}/manifest.json`;
    await s.record();
    const error = await refusal(showSnapshot(s.ctx, pristineId));
    expect(error).toMatchObject({ code: 'manifest-too-large', exitCode: 5 });
    expect(error.message).toMatch(/is larger than 32 MiB, the most strata reads of a manifest/);
    expect(s.bytesRead[key]).toBeGreaterThan(MAX_MANIFEST_BYTES);
    expect(s.bytesRead[key]).toBeLessThan(MAX_MANIFEST_BYTES + 1024 * 1024);
    await expect(restore({ ...s.ctx, id: pristineId, database: s.target('big') })).rejects.toMatchObject({ code: 'manifest-too-large' });
    expect(await listSnapshots(s.ctx)).toEqual([]);
    expect(s.ctx.warnings.join('\n')).toMatch(/Skipping snapshot .*larger than 32 MiB/);
    await s.expectUnchanged();
  });

  it('table and column renamed in the manifest to SQL text | restore refuses tables no migration creates and runs none of it; work database dropped', async () => {
    const s = await scene();
    const payload = `p"; CREATE DATABASE "${source.name}_pwned"; --`;
    await s.editManifest((m) => {
      const entry = s.table(m, 'parent');
      entry.name = payload;
      entry.file = `data/public.${encodeURIComponent(payload).replace(/\./g, '%2E')}.copy.gz`;
    });
    // The attacker moves the data file too, so the file name is the derived one.
    await rename(path.join(s.folder, 'data/public.parent.copy.gz'), path.join(s.folder, (await s.readManifest()).tables.find((t) => t.name === payload)!.file));
    await s.record();
    const loaded: string[] = [];
    const error = await refusal(restore({ ...s.ctx, id: pristineId, database: s.target('sqlname'), onProgress: (e) => e.phase === 'load' && loaded.push(e.item) }));
    expect(error).toMatchObject({ code: 'schema-mismatch', exitCode: 6 });
    expect(error.message).toContain(`holds table public.${payload}, which the migrations at its point do not create`);
    expect(loaded).toEqual([]);
    await s.expectUnchanged();

    const column = await scene();
    await column.editManifest((m) => (column.table(m, 'child').columns[2]!.name = `n") FROM STDIN; DROP TABLE child; --`));
    await column.record();
    await expect(restore({ ...column.ctx, id: pristineId, database: column.target('sqlcol') })).rejects.toMatchObject({ code: 'schema-mismatch', exitCode: 6 });
    await column.expectUnchanged();
  });

  it('table the migrations do not create, no module removed | refused before any row is loaded; work database dropped', async () => {
    const s = await scene();
    await s.editManifest((m) => m.tables.push({ ...s.table(m, 'parent'), name: 'ghost', file: 'data/public.ghost.copy.gz' }));
    await copyFile(path.join(s.folder, 'data/public.parent.copy.gz'), path.join(s.folder, 'data/public.ghost.copy.gz'));
    await s.record();
    const loaded: string[] = [];
    const error = await refusal(restore({ ...s.ctx, id: pristineId, database: s.target('ghost'), onProgress: (e) => e.phase === 'load' && loaded.push(e.item) }));
    expect(error).toMatchObject({ code: 'schema-mismatch', exitCode: 6 });
    expect(error.message).toBe(`Snapshot ${pristineId} holds table public.ghost, which the migrations at its point do not create.`);
    expect(loaded).toEqual([]);
    await s.expectUnchanged();
  });
});

describe('names that look like SQL or paths', () => {
  it('real tables named with quotes, SQL, .. and / | restore as plain names: rows equal, the SQL they spell never runs, files stay inside data/', async () => {
    const s = await scene();
    const manifest = await s.readManifest();
    for (const t of manifest.tables) expect(t.file).toMatch(/^data\/[^/]+\.copy\.gz$/);
    expect(manifest.tables.map((t) => `${t.schema}.${t.name}`)).toEqual(expect.arrayContaining([`public.${ODD_TABLE}`, '.....', 'public.../../etc/passwd']));
    expect(s.table(manifest, ODD_TABLE).columns.map((c) => c.name)).toEqual(['id', ODD_COLUMN]);
    expect((await verifySnapshot(s.ctx, pristineId)).ok).toBe(true);

    const target = s.target('odd');
    await restore({ ...s.ctx, id: pristineId, database: target });
    const restored = databaseUrl(source.adminUrl, target);
    // parent and child are there with every row: nothing the names spell was executed.
    expect(await dataChecksums(restored)).toEqual(await dataChecksums(source.url));
    expect(await queryAt(restored, `SELECT * FROM "we""ird'; DROP TABLE parent; --" ORDER BY id`)).toEqual([
      { id: 1, [ODD_COLUMN]: `a'b"c` },
      { id: 2, [ODD_COLUMN]: 'DROP TABLE child;' },
    ]);
    const { rows } = await adminQuery(`SELECT 1 FROM pg_database WHERE datname = $1`, [`${source.name}_pwned`]);
    expect(rows).toEqual([]);
  });
});

describe('data files that lie about themselves', () => {
  it('row count that lies (fewer rows than the file holds) | verify and restore stop at the first extra row', async () => {
    const s = await scene();
    await s.editManifest((m) => (s.table(m, 'child').rows = 100));
    const key = await s.keyOf('child');
    const size = s.table(await s.readManifest(), 'child').bytes;
    await s.record();
    const verified = await verifySnapshot(s.ctx, pristineId);
    expect(verified.tables.find((t) => t.table === 'public.child')).toMatchObject({ status: 'failed', error: 'the data file holds more rows than the 100 the manifest records' });
    s.bytesRead[key] = 0;
    const error = await refusal(restore({ ...s.ctx, id: pristineId, database: s.target('rows') }));
    expect(error).toMatchObject({ code: 'data-corrupt', exitCode: 5 });
    expect(error.message).toBe(`The data file of table public.child in snapshot ${pristineId} holds more rows than the 100 the manifest records.`);
    expect(s.bytesRead[key]).toBeLessThan(size / 2);
    await s.expectUnchanged();
  });

  it('size that lies (the file is larger than the manifest says) | reading stops right past the recorded size', async () => {
    const s = await scene();
    await s.editManifest((m) => (s.table(m, 'child').bytes = 1000));
    const key = await s.keyOf('child');
    await s.record();
    const verified = await verifySnapshot(s.ctx, pristineId);
    expect(verified.tables.find((t) => t.table === 'public.child')?.error).toBe('the data file is larger than the 1000 bytes the manifest records');
    s.bytesRead[key] = 0;
    const error = await refusal(restore({ ...s.ctx, id: pristineId, database: s.target('size') }));
    expect(error).toMatchObject({ code: 'data-corrupt', exitCode: 5 });
    expect(error.message).toContain('is larger than the 1000 bytes the manifest records');
    // One read chunk (64 KiB) and what the stages had buffered, not the whole file.
    expect(s.bytesRead[key]).toBeLessThan(256 * 1024);
    await s.expectUnchanged();
  });

  it('gzip bomb (1 GiB from 1 MB, checksum and size matching) | decompression stops at the recorded rawBytes; the file is not read to its end', async () => {
    const s = await scene();
    const bomb = gzipBomb(1024);
    const recorded = s.table(await s.readManifest(), 'parent').rawBytes!;
    expect(recorded).toBeGreaterThan(0);
    await s.replaceFile('parent', bomb);
    const key = await s.keyOf('parent');
    await s.record();
    const verified = await verifySnapshot(s.ctx, pristineId);
    expect(verified.tables.find((t) => t.table === 'public.parent')?.error).toBe(`the data file inflates past the ${recorded} bytes the manifest records`);
    expect(s.bytesRead[key]).toBeLessThan(bomb.length / 4);
    s.bytesRead[key] = 0;
    const error = await refusal(restore({ ...s.ctx, id: pristineId, database: s.target('bomb') }));
    expect(error).toMatchObject({ code: 'data-corrupt', exitCode: 5 });
    expect(error.message).toBe(`The data file of table public.parent in snapshot ${pristineId} inflates past the ${recorded} bytes the manifest records.`);
    expect(s.bytesRead[key]).toBeLessThan(bomb.length / 4);
    await s.expectUnchanged();
  });

  it('gzip bomb in a format 1.2 manifest (no rawBytes) | stopped at the line limit, the file not read to its end', async () => {
    const s = await scene();
    const bomb = gzipBomb(1024);
    await s.replaceFile('parent', bomb);
    await s.editManifest((m) => {
      m.formatVersion = '1.2.0';
      for (const t of m.tables) delete t.rawBytes;
    });
    const key = await s.keyOf('parent');
    copyGuardLimits.maxLineBytes = 4 * 1024 * 1024;
    await s.record();
    const error = await refusal(restore({ ...s.ctx, id: pristineId, database: s.target('bomb12') }));
    expect(error).toMatchObject({ code: 'data-corrupt', exitCode: 5 });
    expect(error.message).toBe(`The data file of table public.parent in snapshot ${pristineId} has a row longer than 4 MiB (row 1).`);
    expect(s.bytesRead[key]).toBeLessThan(bomb.length / 4);
    const verified = await verifySnapshot(s.ctx, pristineId);
    expect(verified.tables.find((t) => t.table === 'public.parent')?.error).toBe('the data file has a row longer than 4 MiB (row 1)');
    await s.expectUnchanged();
  });

  it('over-long line in a format 1.2 manifest (no rawBytes) | verify and restore refuse it at the line limit', async () => {
    const s = await scene();
    const text = await s.readText('child');
    await s.replaceText('child', Buffer.concat([text, Buffer.from(`50001\t1\t${'y'.repeat(2 * 1024 * 1024)}\n`)]));
    await s.editManifest((m) => {
      m.formatVersion = '1.2.0';
      for (const t of m.tables) delete t.rawBytes;
    });
    copyGuardLimits.maxLineBytes = 1024 * 1024;
    await s.record();
    expect((await verifySnapshot(s.ctx, pristineId)).tables.find((t) => t.table === 'public.child')?.error).toBe('the data file has a row longer than 1 MiB (row 50001)');
    const error = await refusal(restore({ ...s.ctx, id: pristineId, database: s.target('line') }));
    expect(error.message).toBe(`The data file of table public.child in snapshot ${pristineId} has a row longer than 1 MiB (row 50001).`);
    await s.expectUnchanged();
  });

  it('genuine snapshot rewritten as format 1.2 (no rawBytes) | still verifies and restores', async () => {
    const s = await scene();
    await s.editManifest((m) => {
      m.formatVersion = '1.2.0';
      for (const t of m.tables) delete t.rawBytes;
    });
    expect((await verifySnapshot(s.ctx, pristineId)).ok).toBe(true);
    const target = s.target('v12');
    await restore({ ...s.ctx, id: pristineId, database: target });
    expect(await dataChecksums(databaseUrl(source.adminUrl, target))).toEqual(await dataChecksums(source.url));
  });
});

describe('COPY text that a restore must not take', () => {
  /** Rewrites parent's COPY text with `change`, the manifest agreeing with the result. */
  async function withParentText(change: (text: Buffer) => Buffer): Promise<Scene> {
    const s = await scene();
    await s.replaceText('parent', change(await s.readText('parent')));
    await s.record();
    return s;
  }

  async function expectRefusedBoth(s: Scene, reason: string, label: string): Promise<void> {
    const verified = await verifySnapshot(s.ctx, pristineId);
    expect(verified.ok).toBe(false);
    expect(verified.tables.filter((t) => t.status === 'failed')).toEqual([expect.objectContaining({ table: 'public.parent', error: `the data file ${reason}` })]);
    const error = await refusal(restore({ ...s.ctx, id: pristineId, database: s.target(label) }));
    expect(error).toMatchObject({ code: 'data-corrupt', exitCode: 5 });
    expect(error.message).toBe(`The data file of table public.parent in snapshot ${pristineId} ${reason}.`);
    await s.expectUnchanged();
  }

  it('end-of-data marker \\. followed by SQL, counts matching | verify and restore refuse it; the SQL never runs', async () => {
    const s = await withParentText((text) => {
      const lines = text.toString('utf8').split('\n');
      return Buffer.from([...lines.slice(0, 100), '\\.', `CREATE DATABASE "${source.name}_pwned";`, ...lines.slice(100)].join('\n'));
    });
    await expectRefusedBoth(s, 'holds an end-of-data marker (\\.) in row 101, which would end the load early', 'marker');
  });

  it('invalid UTF-8, counts matching | verify and restore refuse it, naming the table', async () => {
    const s = await withParentText((text) => Buffer.concat([text, Buffer.from([0x32, 0x30, 0x31, 0x09, 0xc3, 0x28, 0x0a])]));
    await expectRefusedBoth(s, 'is not valid UTF-8 (in or after row 1)', 'utf8');
  });

  it('NUL byte, counts matching | verify and restore refuse it, naming the row', async () => {
    const s = await withParentText((text) => Buffer.concat([text, Buffer.from('201\tnul\0here\n')]));
    await expectRefusedBoth(s, 'holds a NUL byte in row 201, which PostgreSQL text cannot hold', 'nul');
  });

  it('last line with no newline, counts matching | verify and restore refuse it', async () => {
    const s = await withParentText((text) => Buffer.concat([text, Buffer.from('201\tcut')]));
    await expectRefusedBoth(s, 'ends in the middle of row 201 (its last line has no newline)', 'cut');
  });
});

describe('rows that break constraints, checksums matching', () => {
  it('duplicate primary key | verify passes (it does not check constraints); restore names the table and constraint and drops its work database', async () => {
    const s = await scene();
    await s.replaceText('parent', Buffer.concat([await s.readText('parent'), Buffer.from('1\tduplicate\n')]));
    await s.record();
    expect((await verifySnapshot(s.ctx, pristineId)).ok).toBe(true);
    const error = await refusal(restore({ ...s.ctx, id: pristineId, database: s.target('dup') }));
    expect(error).toMatchObject({ code: 'data-constraint-violated', exitCode: 5 });
    expect(error.message).toBe(`Table public.parent in snapshot ${pristineId} holds rows with the same key, which its unique constraint or index parent_pkey forbids.`);
    await s.expectUnchanged();
  });

  it('dangling foreign key | restore names the table, the constraint and the table it references, and drops its work database', async () => {
    const s = await scene();
    await s.replaceText('child', Buffer.concat([await s.readText('child'), Buffer.from('50001\t99999\tdangling\n')]));
    await s.record();
    const error = await refusal(restore({ ...s.ctx, id: pristineId, database: s.target('fk') }));
    expect(error).toMatchObject({ code: 'data-constraint-violated', exitCode: 5 });
    expect(error.message).toBe(`Table public.child in snapshot ${pristineId} holds rows whose foreign key child_parent_id_fkey points at missing rows of public.parent.`);
    await s.expectUnchanged();
  });
});

describe('files and connections that go away', () => {
  it('deleted data file | restore fails with one sentence, no unhandled stream error, work database dropped', async () => {
    const s = await scene();
    await rm(path.join(s.folder, 'data/public.child.copy.gz'));
    await s.record();
    // The CLI crashed on this: a COPY stream's 'error' nobody listened for.
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => void uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const error = await refusal(restore({ ...s.ctx, id: pristineId, database: s.target('gone') }));
      expect(error).toMatchObject({ code: 'data-corrupt', exitCode: 5 });
      expect(error.message).toBe(`The data file of table public.child in snapshot ${pristineId} is missing.`);
      // A COPY left without a listener fails once its session is closed; give it the time to.
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught.map(String)).toEqual([]);
    await s.expectUnchanged();
  });

  it('connection lost mid-COPY (pg_terminate_backend) | database-connection-lost (exit 3), not an integrity error; work database dropped', async () => {
    const s = await scene();
    const target = s.target('lost');
    const key = await s.keyOf('child');
    await s.record();
    // The child file streams one chunk, then waits until the COPY's backend is terminated.
    const inner = s.ctx.storage;
    let terminated = false;
    let gatedOnce = false;
    const gated: StorageDriver = new Proxy(inner, {
      get(t, p, r) {
        if (p !== 'read') {
          const v = Reflect.get(t, p, r) as unknown;
          return typeof v === 'function' ? v.bind(t) : v;
        }
        return async (k: string, options?: { signal?: AbortSignal }) => {
          const stream = await inner.read(k, options);
          // Only the load's read: a re-read (to tell damage from a lost connection) passes.
          if (k !== key || gatedOnce) return stream;
          gatedOnce = true;
          const gate = new PassThrough();
          let first = true;
          stream.on('data', (chunk: Buffer) => {
            gate.write(chunk);
            if (!first) return;
            first = false;
            stream.pause();
            void terminateCopy(target).then(() => {
              terminated = true;
              stream.resume();
            });
          });
          stream.on('end', () => gate.end());
          gate.on('close', () => stream.destroy());
          return gate;
        };
      },
    });
    const error = await refusal(restore({ ...s.ctx, storage: gated, id: pristineId, database: target }));
    expect(terminated).toBe(true);
    expect(error).toMatchObject({ code: 'database-connection-lost', exitCode: 3 });
    await s.expectUnchanged();
  });
});

/** Row checksums of the application tables (the knex history tables hold run times, which differ). */
async function dataChecksums(url: string): Promise<Record<string, string>> {
  return Object.fromEntries(Object.entries(await tableChecksums(url)).filter(([name]) => !name.includes('knex_migrations')));
}

/** Terminates the backend running `COPY … FROM STDIN` into the work database of `target`, once it runs. */
async function terminateCopy(target: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const { rows } = await adminQuery<{ pid: number }>(
      `SELECT a.pid FROM pg_stat_activity a JOIN pg_database d ON d.datname = a.datname
        WHERE shobj_description(d.oid, 'pg_database') LIKE $1 AND a.query LIKE 'COPY %FROM STDIN%' AND a.state = 'active'`,
      [`%incomplete restore of ${target},%`],
    );
    if (rows.length > 0) {
      await adminQuery('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no COPY into the work database of ${target} to terminate`);
}
