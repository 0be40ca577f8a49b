import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restore, snapshot, createKnexForTest } from './engine-imports.js';
import { adminQuery, createTestDatabase, databaseUrl, dropDatabase, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';

// One migration creating a table per family of types; the data covers the edge cases the issue
// lists. Comparing `t::text` of every row between source and restored database compares every
// value exactly as PostgreSQL prints it.
const SCHEMA = `
export async function up(knex) {
  await knex.raw(\`
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
    CREATE TABLE everything (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      big bigint, amount numeric(30,10), at timestamptz, day date, span interval,
      raw bytea, uid uuid, addr inet, tags text[], matrix integer[][], doc jsonb, doc_json json,
      feeling mood, feelings mood[], qty positive_int, body text, ratio double precision, flag boolean,
      doubled bigint GENERATED ALWAYS AS (big * 2) STORED
    );
    CREATE TABLE person (
      id serial PRIMARY KEY, name text NOT NULL UNIQUE,
      manager_id integer REFERENCES person(id), team_id integer
    );
    CREATE TABLE team (id serial PRIMARY KEY, lead_id integer REFERENCES person(id), label text);
    ALTER TABLE person ADD CONSTRAINT person_team_fk FOREIGN KEY (team_id) REFERENCES team(id);
    CREATE INDEX person_manager_idx ON person (manager_id);
    CREATE TABLE audit (id serial PRIMARY KEY, what text);
    CREATE FUNCTION audit_person() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO audit (what) VALUES ('insert ' || NEW.name); RETURN NEW; END $$;
    CREATE TRIGGER person_audit AFTER INSERT ON person FOR EACH ROW EXECUTE FUNCTION audit_person();
    CREATE TABLE session_cache (id serial PRIMARY KEY, token text);
  \`);
}
export async function down() {}
`;

const DATA = String.raw`
  INSERT INTO everything (big, amount, at, day, span, raw, uid, addr, tags, matrix, doc, doc_json, feeling, feelings, qty, body, ratio, flag) VALUES
  (9007199254740993, 12345678901234567890.0123456789, '2024-02-29 23:59:59.123456+05:30', '0001-01-01', '1 year 2 mons 3 days 04:05:06.789',
   '\x00ff5c0a09', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2001:db8::1/64', ARRAY['a,b', 'c"d', NULL, 'e\f', ''], '{{1,2},{3,4}}',
   '{"b": 1, "a": [1, 2.50, null], "n": null}', '{ "z" : 1,   "a":2, "z": 3 }', 'happy', '{sad,ok}', 7,
   E'tab\there\nnewline\\backslash \u00e9\u4e2d\U0001F600 and \\N literal', 'NaN', true),
  (-4611686018427387904, -0.0000000001, 'infinity', '2024-01-01', '-1 days', '', '00000000-0000-0000-0000-000000000000', '10.0.0.1',
   '{}', NULL, 'null', 'null', 'sad', '{}', 1, '', '-Infinity', false),
  (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1.0000000000000002, NULL);
  INSERT INTO person (name) VALUES ('Ada'), ('Grace');
  INSERT INTO team (lead_id, label) VALUES (1, 'core');
  UPDATE person SET manager_id = 1, team_id = 1 WHERE name = 'Grace';
  UPDATE person SET team_id = 1 WHERE name = 'Ada';
  INSERT INTO session_cache (token) VALUES ('secret-session');
`;

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
