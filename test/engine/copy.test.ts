// copySnapshot between two environments' storages: the copy lists, verifies and restores in the
// target environment; a damaged source or an interrupted copy leaves nothing that lists there.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { OperationContext, StorageDriver } from '../../packages/core/src/index.js';
import { copySnapshot, listSnapshots, restore, showSnapshot, snapshot, verifySnapshot } from './engine-imports.js';
import { LocalStorage } from '../../packages/plugin-local/src/local-storage.js';
import { adminQuery, createTestDatabase, dropDatabase, type TestDatabase } from '../support/database.js';
import { damageDataFile, engineProject, type EngineProject } from '../support/engine.js';

const SCHEMA = `
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE parent (id serial PRIMARY KEY, label text NOT NULL);
    CREATE TABLE child (id serial PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent(id), note text);
    INSERT INTO parent (label) SELECT 'p' || g FROM generate_series(1, 300) g;
    INSERT INTO child (parent_id, note) SELECT 1 + g % 300, md5(g::text) FROM generate_series(1, 30000) g;
  \`);
}
export async function down() {}
`;

let source: TestDatabase;
let project: EngineProject;
let stagingDir: string;
const created: string[] = [];

/** A context for environment `staging` of the same project, on its own storage. */
function staging(storage: StorageDriver, extra: Partial<OperationContext> = {}): OperationContext & { warnings: string[] } {
  const base = project.context(source.url, extra);
  return { ...base, env: { ...base.env, name: 'staging' }, storage };
}

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name));
  } catch {
    return [];
  }
}

beforeAll(async () => {
  source = await createTestDatabase('copy');
  project = await engineProject({ '20240101000000_schema.mjs': SCHEMA });
  await project.migrate(source.url);
  stagingDir = await mkdtemp(path.join(os.tmpdir(), 'strata-copy-'));
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  await source?.drop();
  if (stagingDir) await rm(stagingDir, { recursive: true, force: true });
});

describe('copySnapshot', () => {
  it('copies a snapshot so that it lists, verifies and restores in the target environment', async () => {
    const from = project.context(source.url);
    const taken = await snapshot(from);
    const to = staging(new LocalStorage(path.join(stagingDir, 'ok')));
    const phases = new Set<string>();
    const result = await copySnapshot({ from, to: { ...to, onProgress: (e) => phases.add(`${e.phase}:${e.item}:${e.done ?? false}`) }, id: 'latest' });

    expect(result).toMatchObject({ id: taken.id, status: 'copied', tables: 2 });
    expect(result.bytes).toBe(taken.manifest.tables.reduce((n, t) => n + t.bytes, 0));
    expect(phases).toContain('copy:public.child:true');
    expect((await listSnapshots(to)).map((s) => s.id)).toEqual([taken.id]);
    // The manifest arrives byte for byte: it still says where the snapshot was taken.
    const original = await readFile(path.join(project.dir, 'snapshots', 'rt', 'test', taken.id, 'manifest.json'), 'utf8');
    expect(await readFile(path.join(stagingDir, 'ok', 'rt', 'staging', taken.id, 'manifest.json'), 'utf8')).toBe(original);
    expect((await showSnapshot(to, taken.id)).environment).toBe('test');
    expect((await verifySnapshot(to, taken.id)).ok).toBe(true);

    const database = `strata_test_copy_${Date.now()}`;
    created.push(database);
    await restore({ ...to, id: taken.id, database });
    const { rows } = await adminQuery<{ n: string }>(`SELECT count(*) AS n FROM pg_database WHERE datname = $1`, [database]);
    expect(rows[0]?.n).toBe('1');
  });

  it('copying a snapshot that is already there is a no-op', async () => {
    const from = project.context(source.url);
    const taken = await snapshot(from);
    const to = staging(new LocalStorage(path.join(stagingDir, 'again')));
    await copySnapshot({ from, to, id: taken.id });
    const manifestFile = path.join(stagingDir, 'again', 'rt', 'staging', taken.id, 'manifest.json');
    const before = (await readdir(path.dirname(manifestFile), { recursive: true })).sort();
    const second = await copySnapshot({ from, to, id: taken.id });
    expect(second.status).toBe('already-present');
    expect((await readdir(path.dirname(manifestFile), { recursive: true })).sort()).toEqual(before);
  });

  it('a damaged source file fails the copy and leaves nothing in the target', async () => {
    const from = project.context(source.url);
    const taken = await snapshot(from);
    await damageDataFile(project, taken.id, 'child');
    const to = staging(new LocalStorage(path.join(stagingDir, 'damaged')));

    await expect(copySnapshot({ from, to, id: taken.id })).rejects.toMatchObject({
      code: 'snapshot-corrupt',
      message: expect.stringContaining('public.child'),
    });
    expect(await listSnapshots(to)).toEqual([]);
    expect(await filesUnder(path.join(stagingDir, 'damaged'))).toEqual([]);
  });

  it('an interrupted copy leaves nothing in the target', async () => {
    const from = project.context(source.url);
    const taken = await snapshot(from);
    const controller = new AbortController();
    const to = staging(new LocalStorage(path.join(stagingDir, 'aborted')), {
      signal: controller.signal,
      onProgress: (event) => {
        if (event.phase === 'copy') controller.abort();
      },
    });
    await expect(copySnapshot({ from, to, id: taken.id })).rejects.toMatchObject({ code: 'aborted' });
    expect(await listSnapshots(to)).toEqual([]);
    expect(await filesUnder(path.join(stagingDir, 'aborted'))).toEqual([]);
  });

  it('refuses to copy an environment onto itself', async () => {
    const from = project.context(source.url);
    await expect(copySnapshot({ from, to: project.context(source.url), id: 'latest' })).rejects.toMatchObject({ code: 'copy-same-environment' });
  });
});

describe('listSnapshots order', () => {
  it('orders by time, also when a manifest writes its time with an offset', async () => {
    const ctx = project.context(source.url);
    const taken = await snapshot(ctx);
    const file = (id: string) => path.join(project.dir, 'snapshots', 'rt', 'test', id, 'manifest.json');
    const manifest = JSON.parse(await readFile(file(taken.id), 'utf8'));
    // 2098-12-31T20:00Z written with +09:00, and one hour later written in UTC: as text the first sorts last.
    const withOffset = { ...manifest, id: '01ZZZZZZZZ0000000000000001', createdAt: '2099-01-01T05:00:00+09:00' };
    const inUtc = { ...manifest, id: '01ZZZZZZZZ0000000000000000', createdAt: '2098-12-31T21:00:00Z' };
    for (const m of [withOffset, inUtc]) {
      await mkdir(path.dirname(file(m.id)), { recursive: true });
      await writeFile(file(m.id), JSON.stringify(m));
    }
    const ids = (await listSnapshots(ctx)).map((s) => s.id);
    expect(ids.slice(0, 2)).toEqual([inUtc.id, withOffset.id]);
    await rm(path.dirname(file(withOffset.id)), { recursive: true });
    await rm(path.dirname(file(inUtc.id)), { recursive: true });
  });
});

describe('listSnapshots with a limit', () => {
  it('returns only the newest snapshots, newest first', async () => {
    const ctx = project.context(source.url);
    const all = await listSnapshots(ctx);
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect(await listSnapshots(ctx, { limit: 2 })).toEqual(all.slice(0, 2));
    expect((await showSnapshot(ctx, 'latest')).id).toBe(all[0]?.id);
  });
});
