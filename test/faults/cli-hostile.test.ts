// Hostile snapshot folders through the built CLI: the exit code of the README's table, one sentence
// and a hint, no stack trace, and with --json exactly one JSON document on stdout. Around each
// run the server and the disk are read directly: no database of this test appears, no file in the
// project folder changes, the source's rows stay the same.
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { describeRun, runStrata, type CliResult } from '../support/cli.js';
import { createTestDatabase, dropDatabase, type TestDatabase } from '../support/database.js';
import { expectUserError } from '../e2e/shop-fixture.js';
import { compressionBomb, copySnapshot as copyFolder, expectWorldUnchanged, recordWorld, type SnapshotCopy } from './hostile-support.js';

const SQL = `
  CREATE TABLE parent (id serial PRIMARY KEY, label text NOT NULL);
  CREATE TABLE child (id integer PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent(id), note text);
  INSERT INTO parent (label) SELECT 'p' || g FROM generate_series(1, 100) g;
  INSERT INTO child SELECT g, 1 + g % 100, md5(g::text) FROM generate_series(1, 2000) g;
`;
const MIGRATION = `export async function up(knex) { await knex.raw(${JSON.stringify(SQL)}); }\nexport async function down() {}\n`;

let source: TestDatabase;
/** A project folder: config, migrations and `snapshots/` holding one snapshot. */
let pristine: string;
let id: string;
const created: string[] = [];
const scratch: string[] = [];

function strata(cwd: string, args: string[]): Promise<CliResult> {
  // NODE_ENV=production: oclif runs the build, not the TypeScript sources (vitest sets NODE_ENV=test).
  return runStrata(args, { cwd, env: { NODE_ENV: 'production', STRATA_ENV: undefined } });
}

beforeAll(async () => {
  source = await createTestDatabase('clihostile');
  pristine = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-hostile-'));
  scratch.push(pristine);
  await mkdir(path.join(pristine, 'migrations'));
  await writeFile(path.join(pristine, 'migrations', '20240101000000_schema.mjs'), MIGRATION);
  await writeFile(
    path.join(pristine, 'strata.config.json'),
    JSON.stringify({ project: 'hx', modules: { app: { migrations: './migrations' } }, environments: { dev: { database: source.url, storage: 'file://./snapshots' } } }),
  );
  const migrated = await strata(pristine, ['migrate', 'up', '--json']);
  expect(migrated.exitCode, describeRun(migrated)).toBe(0);
  const taken = await strata(pristine, ['snapshot', '--json']);
  expect(taken.exitCode, describeRun(taken)).toBe(0);
  id = taken.json<{ id: string }>().id;
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
  await source?.drop();
});

/** A copy of the whole project folder, its snapshot to damage, and the world recorded by `record()`. */
async function scene(): Promise<SnapshotCopy & { project: string; record(): Promise<void>; expectUnchanged(): Promise<void>; target(label: string): string }> {
  const copy = await copyFolder(path.join(pristine, 'snapshots'), 'hx', 'dev', id);
  scratch.push(copy.dir);
  // The project around the copied storage: the config's file://./snapshots is relative to it.
  await cp(path.join(pristine, 'migrations'), path.join(copy.dir, 'migrations'), { recursive: true });
  await cp(path.join(pristine, 'strata.config.json'), path.join(copy.dir, 'strata.config.json'));
  let before: Awaited<ReturnType<typeof recordWorld>> | undefined;
  return {
    ...copy,
    project: copy.dir,
    async record() {
      before = await recordWorld(source.name, source.url, copy.dir);
    },
    async expectUnchanged() {
      await expectWorldUnchanged(before!, source.name, source.url, copy.dir);
    },
    target(label) {
      const name = `${source.name}_${label}`;
      created.push(name);
      return name;
    },
  };
}

/**
 * Runs `args` as text and as --json: both exit `exitCode` with one sentence (matching `message`)
 * and a hint, no stack trace; --json prints exactly one JSON document holding the error.
 */
async function expectRefusal(cwd: string, args: string[], exitCode: number, message: RegExp): Promise<{ text: CliResult; json: CliResult }> {
  const text = await strata(cwd, args);
  expect(text.exitCode, describeRun(text)).toBe(exitCode);
  const error = expectUserError(text);
  expect(error.message).toMatch(message);
  // One sentence: the only full stop is the last character.
  expect(error.message.replace(/^Error:\s*/, '').replace(/\.$/, ''), error.message).not.toMatch(/\.\s/);
  const json = await strata(cwd, [...args, '--json']);
  expect(json.exitCode, describeRun(json)).toBe(exitCode);
  const body = expectUserError(json, { json: true });
  expect(body.message).toMatch(message);
  return { text, json };
}

describe('hostile snapshots through the CLI', () => {
  it('data file name pointing outside the snapshot | show, verify and restore exit 5 with one sentence; --json prints one document', async () => {
    const s = await scene();
    await s.editManifest((m) => (s.table(m, 'child').file = '../../../../outside.copy.zst'));
    await s.record();
    for (const args of [['show', id], ['verify', id], ['restore', id, '--database', s.target('outside')]]) {
      await expectRefusal(s.project, args, 5, /is invalid: tables\.\d+\.file must be data\/public\.child\.copy\.zst/);
    }
    await s.expectUnchanged();
  });

  it('manifest id differing from its folder | restore exits 5 naming both; list warns and lists the real one', async () => {
    const s = await scene();
    const other = '01J0000000000000000000FAKE';
    await cp(s.folder, path.join(path.dirname(s.folder), other), { recursive: true });
    await s.record();
    await expectRefusal(s.project, ['restore', other, '--database', s.target('otherid')], 5, new RegExp(`names snapshot ${id}, not ${other}`));
    const list = await strata(s.project, ['list', '--json']);
    expect(list.exitCode, describeRun(list)).toBe(0);
    expect(JSON.stringify(list.json())).toContain(id);
    expect(list.stderr + JSON.stringify(list.json())).toContain(`Skipping snapshot ${other}`);
    await s.expectUnchanged();
  });

  it('terminal escape sequences in a description, a tag and a table name | list and show print them as visible escapes, never raw control bytes', async () => {
    const s = await scene();
    const clear = '\u001b[2J\u001b]0;owned\u0007';
    await s.editManifest((m) => {
      m.description = `nightly${clear}`;
      m.tags = [`t${clear}`];
    });
    await s.record();
    for (const args of [['list'], ['show', id]]) {
      const run = await strata(s.project, args);
      expect(run.exitCode, describeRun(run)).toBe(0);
      expect(run.stdout + run.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
      expect(run.stdout).toContain('nightly\\u001b[2J');
    }
    await s.expectUnchanged();
  });

  it('100 MB manifest | show and restore exit 5 naming the 32 MiB cap', async () => {
    const s = await scene();
    await s.writeManifest({ ...(await s.readManifest()), description: 'x'.repeat(100 * 1024 * 1024) });
    await s.record();
    await expectRefusal(s.project, ['show', id], 5, /is larger than 32 MiB, the most strata reads of a manifest/);
    await expectRefusal(s.project, ['restore', id, '--database', s.target('big')], 5, /larger than 32 MiB/);
    await s.expectUnchanged();
  });

  it('zstd bomb (the default codec), checksum and size matching | verify and restore exit 5 naming the table and the recorded size', async () => {
    const s = await scene();
    const recorded = s.table(await s.readManifest(), 'parent').rawBytes!;
    await s.replaceFile('parent', await compressionBomb('zstd', 1024));
    await s.record();
    const verify = await strata(s.project, ['verify', id, '--json']);
    expect(verify.exitCode, describeRun(verify)).toBe(5);
    const body = verify.json<{ tables: Array<{ table: string; status: string; error?: string }>; notChecked: string[] }>();
    expect(body.tables.filter((t) => t.status === 'failed')).toEqual([
      { table: 'public.parent', status: 'failed', rows: 0, bytes: expect.any(Number), error: `the data file inflates past the ${recorded} bytes the manifest records` },
    ]);
    await expectRefusal(s.project, ['restore', id, '--database', s.target('bomb')], 5, new RegExp(`table public\\.parent .* inflates past the ${recorded} bytes the manifest records`));
    await s.expectUnchanged();
  });

  it('end-of-data marker \\. and invalid UTF-8, counts matching | verify and restore both exit 5 naming the table', async () => {
    for (const [label, tail, reason] of [
      ['marker', Buffer.from('\\.\nDROP TABLE child;\n'), /end-of-data marker/],
      ['utf8', Buffer.from([0x31, 0x30, 0x31, 0x09, 0xff, 0x0a]), /not valid UTF-8/],
    ] as const) {
      const s = await scene();
      await s.replaceText('parent', Buffer.concat([await s.readText('parent'), tail]));
      await s.record();
      const verify = await strata(s.project, ['verify', id]);
      expect(verify.exitCode, describeRun(verify)).toBe(5);
      expect(verify.stdout).toMatch(new RegExp(`public\\.parent\\s+failed.*${reason.source}`));
      await expectRefusal(s.project, ['restore', id, '--database', s.target(label)], 5, new RegExp(`table public\\.parent .*${reason.source}`));
      await s.expectUnchanged();
    }
  });

  it('duplicate primary key, checksum matching | verify exits 0 and says it does not check constraints; restore exits 5 naming table and constraint', async () => {
    const s = await scene();
    await s.replaceText('parent', Buffer.concat([await s.readText('parent'), Buffer.from('1\tduplicate\n')]));
    await s.record();
    const verify = await strata(s.project, ['verify', id]);
    expect(verify.exitCode, describeRun(verify)).toBe(0);
    expect(verify.stderr).toContain('only a restore checks those');
    const verifyJson = await strata(s.project, ['verify', id, '--json']);
    expect(verifyJson.json()).toMatchObject({ ok: true, notChecked: ['column types', 'constraints'] });
    await expectRefusal(s.project, ['restore', id, '--database', s.target('dup')], 5, /^(Error: )?Table public\.parent in snapshot \S+ holds rows with the same key, which its unique constraint or index parent_pkey forbids\.$/);
    await s.expectUnchanged();
  });

  it('deleted data file | restore exits 5 with one sentence, no stack trace, --json one document, work database dropped', async () => {
    const s = await scene();
    await rm(path.join(s.folder, 'data', 'public.child.copy.zst'));
    await s.record();
    const { text } = await expectRefusal(s.project, ['restore', id, '--database', s.target('gone')], 5, /The data file of table public\.child in snapshot \S+ is missing\./);
    expect(text.stderr).not.toMatch(/Unhandled|CopyStreamQuery/);
    await s.expectUnchanged();
  });

  it('table the migrations do not create, no module removed | restore exits 6 before loading, work database dropped', async () => {
    const s = await scene();
    await s.editManifest((m) => m.tables.push({ ...s.table(m, 'parent'), name: 'ghost', file: 'data/public.ghost.copy.zst' }));
    await cp(path.join(s.folder, 'data', 'public.parent.copy.zst'), path.join(s.folder, 'data', 'public.ghost.copy.zst'));
    await s.record();
    await expectRefusal(s.project, ['restore', id, '--database', s.target('ghost')], 6, /holds table public\.ghost, which the migrations at its point do not create/);
    await s.expectUnchanged();
  });
});
