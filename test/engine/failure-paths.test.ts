import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKnexForTest, listSnapshots, restore, snapshot, verifySnapshot } from './engine-imports.js';
import { adminQuery, createTestDatabase, databaseUrl, dropDatabase, type TestDatabase } from '../support/database.js';
import { damageDataFile, dataFilePath, engineProject, type EngineProject } from '../support/engine.js';

const SCHEMA = `
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE parent (id serial PRIMARY KEY, label text NOT NULL);
    CREATE TABLE child (id serial PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent(id), note text);
    INSERT INTO parent (label) SELECT 'p' || g FROM generate_series(1, 200) g;
    INSERT INTO child (parent_id, note) SELECT 1 + g % 200, repeat('x', 50) FROM generate_series(1, 20000) g;
  \`);
}
export async function down() {}
`;

async function databasesLike(pattern: string): Promise<string[]> {
  const { rows } = await adminQuery<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1', [pattern]);
  return rows.map((r) => r.datname);
}

/** Work databases (incomplete restores) whose final name was to be `target`. */
async function workDatabasesFor(target: string): Promise<string[]> {
  const { rows } = await adminQuery<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE $1",
    [`strata: incomplete restore of ${target},%`],
  );
  return rows.map((r) => r.datname);
}

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  } catch {
    return [];
  }
}

describe('a failed or interrupted command leaves nothing half-made', () => {
  let source: TestDatabase;
  let project: EngineProject;
  const created: string[] = [];

  beforeAll(async () => {
    source = await createTestDatabase('failures');
    project = await engineProject({ '20240101000000_schema.mjs': SCHEMA });
    await project.migrate(source.url);
  });

  afterAll(async () => {
    for (const name of created) await dropDatabase(name);
    await source?.drop();
  });

  it('an aborted capture leaves no files and no listed snapshot', async () => {
    const controller = new AbortController();
    const ctx = project.context(source.url, {
      signal: controller.signal,
      onProgress: (event) => {
        if (event.phase === 'capture' && event.item === 'public.child') controller.abort();
      },
    });
    await expect(snapshot(ctx)).rejects.toMatchObject({ code: 'aborted' });
    expect(await listSnapshots(project.context(source.url))).toEqual([]);
    expect(await filesUnder(path.join(project.dir, 'snapshots'))).toEqual([]);
  });

  it('a corrupt data file fails the restore, drops the database it made, and verify names the table', async () => {
    const ctx = project.context(source.url);
    const taken = await snapshot(ctx);
    await damageDataFile(project, taken.id, 'child');

    const verified = await verifySnapshot(ctx, taken.id);
    expect(verified.ok).toBe(false);
    expect(verified.tables.filter((t) => t.status === 'failed').map((t) => t.table)).toEqual(['public.child']);

    const target = `${source.name}_corrupt`;
    created.push(target);
    await expect(restore({ ...ctx, id: taken.id, database: target })).rejects.toMatchObject({ code: 'data-corrupt', exitCode: 5 });
    expect(await databasesLike(target)).toEqual([]);
    expect(await workDatabasesFor(target)).toEqual([]);
  });

  it('a truncated data file fails the same way', async () => {
    const ctx = project.context(source.url);
    const taken = await snapshot(ctx);
    const file = await dataFilePath(project, taken.id, 'parent');
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 10));
    const target = `${source.name}_trunc`;
    created.push(target);
    await expect(restore({ ...ctx, id: taken.id, database: target })).rejects.toMatchObject({ code: 'data-corrupt' });
    expect(await databasesLike(target)).toEqual([]);
  });

  it('an aborted restore drops its database and leaves the target name free', async () => {
    const ctx = project.context(source.url);
    const taken = await snapshot(ctx);
    const controller = new AbortController();
    const target = `${source.name}_abort`;
    created.push(target);
    await expect(
      restore({
        ...ctx,
        id: taken.id,
        database: target,
        signal: controller.signal,
        onProgress: (event) => event.phase === 'load' && controller.abort(),
      }),
    ).rejects.toMatchObject({ code: 'aborted' });
    expect(await databasesLike(target)).toEqual([]);
    expect(await workDatabasesFor(target)).toEqual([]);
  });

  it('a database left by a killed restore is dropped by the next restore', async () => {
    // What a SIGKILLed restore leaves: a work database still marked incomplete, with no session.
    const leftover = `strata_tmp_${source.name.slice(-8)}`;
    // A work database started a minute ago may belong to a restore that is just starting: kept.
    const young = `strata_tmp_y${source.name.slice(-8)}`;
    await adminQuery(`CREATE DATABASE "${young}"`);
    await adminQuery(`COMMENT ON DATABASE "${young}" IS 'strata: incomplete restore of y, started ${new Date(Date.now() - 60_000).toISOString()}'`);
    created.push(young);
    await adminQuery(`CREATE DATABASE "${leftover}"`);
    await adminQuery(`COMMENT ON DATABASE "${leftover}" IS 'strata: incomplete restore of x, started 2026-01-01T00:00:00Z'`);
    const unrelated = `${source.name}_keep`;
    created.push(unrelated, leftover);
    await adminQuery(`CREATE DATABASE "${unrelated}"`);

    const ctx = project.context(source.url);
    const taken = await snapshot(ctx);
    const target = `${source.name}_after`;
    created.push(target);
    await restore({ ...ctx, id: taken.id, database: target });
    expect(await databasesLike(leftover)).toEqual([]);
    expect(await databasesLike(young)).toEqual([young]);
    expect(await databasesLike(unrelated)).toEqual([unrelated]);
  });

  it('--replace needs the confirmation, takes a safety snapshot, and keeps the old database renamed', async () => {
    const ctx = project.context(source.url);
    const taken = await snapshot(ctx);
    const target = `${source.name}_repl`;
    created.push(target);
    await restore({ ...ctx, id: taken.id, database: target });
    // Data written after the snapshot, which only the safety snapshot will hold.
    const knex = createKnexForTest(databaseUrl(source.adminUrl, target));
    await knex.raw("INSERT INTO parent (label) VALUES ('only-in-target')");
    await knex.destroy();

    await expect(restore({ ...ctx, id: taken.id, database: target, replace: true, confirm: 'wrong' })).rejects.toMatchObject({
      code: 'replace-not-confirmed',
    });
    const report = await restore({ ...ctx, id: taken.id, database: target, replace: true, confirm: target });
    expect(report.safetySnapshotId).toBeDefined();
    expect(report.replacedDatabaseRenamedTo).toMatch(new RegExp(`^${target}_replaced_\\d{14}$`));
    created.push(report.replacedDatabaseRenamedTo!);

    const summaries = await listSnapshots(ctx);
    const safety = summaries.find((s) => s.id === report.safetySnapshotId);
    expect(safety?.tags).toEqual(['safety']);
    expect(safety?.rows).toBe(200 + 1 + 20000);

    const after = createKnexForTest(databaseUrl(source.adminUrl, target));
    try {
      const rows = await after('parent').where({ label: 'only-in-target' });
      expect(rows).toHaveLength(0);
    } finally {
      await after.destroy();
    }
    expect(await databasesLike(report.replacedDatabaseRenamedTo!)).toHaveLength(1);
  });
});
