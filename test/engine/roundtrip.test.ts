import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restore, snapshot, createKnexForTest } from './engine-imports.js';
import { adminQuery, createTestDatabase, databaseUrl, dropDatabase, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';
import { TYPES_DATA as DATA, TYPES_SCHEMA as SCHEMA } from '../fixtures/types-schema.js';

async function rowsAsText(url: string, table: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SET TimeZone = 'UTC'");
    const { rows } = await client.query<{ t: string }>(`SELECT t::text AS t FROM ${table} t ORDER BY id`);
    return rows.map((r) => r.t);
  } finally {
    await client.end();
  }
}

describe('snapshot and restore round-trip every value exactly', () => {
  let source: TestDatabase;
  let project: EngineProject;
  const created: string[] = [];

  beforeAll(async () => {
    source = await createTestDatabase('roundtrip');
    project = await engineProject({ '20240101000000_schema.mjs': SCHEMA }, { exclude: ['session_cache'] });
    await project.migrate(source.url);
    const knex = createKnexForTest(source.url);
    try {
      await knex.raw(DATA);
    } finally {
      await knex.destroy();
    }
  });

  afterAll(async () => {
    for (const name of created) await dropDatabase(name);
    await source?.drop();
  });

  it('restores identical rows, recomputes generated columns, skips excluded tables and fires no trigger', async () => {
    const ctx = project.context(source.url);
    const taken = await snapshot({ ...ctx, description: 'types', tags: ['rt'] });
    expect(taken.manifest.tables.map((t) => t.name).sort()).toEqual(['audit', 'everything', 'person', 'team']);
    expect(taken.manifest.excluded).toEqual(['public.session_cache']);
    expect(taken.manifest.tables.find((t) => t.name === 'everything')!.columns.map((c) => c.name)).not.toContain('doubled');
    expect(taken.manifest.modules.app!.applied).toEqual(['20240101000000_schema.mjs']);

    const target = `${source.name}_r`;
    created.push(target);
    const report = await restore({ ...ctx, id: taken.id, database: target });
    expect(report.database).toBe(target);
    expect(report.rebuilt.foreignKeys).toBe(3);
    const targetUrl = databaseUrl(source.adminUrl, target);

    for (const table of ['everything', 'person', 'team', 'audit']) {
      expect(await rowsAsText(targetUrl, table), table).toEqual(await rowsAsText(source.url, table));
    }
    // json keeps its whitespace and duplicate keys; NULL and JSON null stay distinct.
    const restored = await rowsAsText(targetUrl, 'everything');
    expect(restored[0]).toContain('{ ""z"" : 1,   ""a"":2, ""z"": 3 }');
    expect(await rowsAsText(targetUrl, 'session_cache')).toEqual([]);
    // The audit trigger would have added rows during the load.
    expect((await rowsAsText(targetUrl, 'audit')).length).toBe(2);

    const client = new pg.Client({ connectionString: targetUrl });
    await client.connect();
    try {
      const { rows: [next] } = await client.query<{ id: string }>('INSERT INTO everything (big) VALUES (1) RETURNING id');
      expect(Number(next!.id)).toBeGreaterThan(3);
      const { rows: [person] } = await client.query<{ id: number }>("INSERT INTO person (name) VALUES ('Linus') RETURNING id");
      expect(person!.id).toBe(3);
      // The trigger is enabled again after the load.
      const { rows: audit } = await client.query("SELECT what FROM audit WHERE what = 'insert Linus'");
      expect(audit).toHaveLength(1);
      // Foreign keys were rebuilt and are enforced.
      await expect(client.query('UPDATE person SET team_id = 999 WHERE id = 1')).rejects.toThrow(/foreign key/);
      const { rows: [doubled] } = await client.query<{ doubled: string }>('SELECT doubled FROM everything WHERE id = 1');
      expect(doubled!.doubled).toBe('18014398509481986');
    } finally {
      await client.end();
    }
  });

  it('refuses a target that exists, and a dry run creates nothing', async () => {
    const ctx = project.context(source.url);
    const taken = await snapshot(ctx);
    await expect(restore({ ...ctx, id: taken.id, database: source.name })).rejects.toMatchObject({ code: 'database-exists' });
    const name = `${source.name}_dry`;
    const report = await restore({ ...ctx, id: 'latest', database: name, dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.plan.migrationsBefore).toEqual(['app:20240101000000_schema.mjs']);
    expect(report.plan.tables.find((t) => t.table === 'public.everything')?.rows).toBe(3);
    const { rowCount } = await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    expect(rowCount).toBe(0);
  });
});
