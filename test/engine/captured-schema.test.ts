// withCapturedSchema: the tables a snapshot would capture, read from the live database in one
// read-only transaction (what `anonymize check` and `preview` compare rules with), and a few rows
// of one of them as a capture's transformer would see them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { withCapturedSchema } from '../../packages/core/src/index.js';
import { createTestDatabase, queryAt as query, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';

const SCHEMA = `
export async function up(knex) {
  await knex.raw(\`
    CREATE SCHEMA crm;
    CREATE TABLE crm.contacts (code text PRIMARY KEY, email text NOT NULL, active boolean NOT NULL, tags text[]);
    CREATE TABLE sessions (id serial PRIMARY KEY, token text);
    CREATE TABLE notes (body text);
    INSERT INTO crm.contacts VALUES ('c3', 'c@x.test', false, '{b}'), ('a1', 'a@x.test', true, '{x,y}'), ('b2', 'b@x.test', true, NULL);
  \`);
}
export async function down() {}
`;

let db: TestDatabase;
let project: EngineProject;

beforeAll(async () => {
  db = await createTestDatabase('captured');
  project = await engineProject({ '20240101000000_schema.mjs': SCHEMA }, { exclude: ['sessions'] });
  await project.migrate(db.url);
});

afterAll(async () => {
  await db?.drop();
});

describe('withCapturedSchema', () => {
  it('lists the tables a snapshot captures, names the excluded ones, and leaves out migration history', async () => {
    const seen = await withCapturedSchema(db.url, project.config, async (view) => ({
      database: view.database,
      tables: view.schema.tables.map((t) => `${t.schema}.${t.name}`).sort(),
      excluded: view.excluded,
      contacts: view.schema.tables.find((t) => t.name === 'contacts'),
    }));
    expect(seen.database).toBe(db.name);
    expect(seen.tables).toEqual(['crm.contacts', 'public.notes']);
    expect(seen.excluded).toEqual(['public.sessions']);
    expect(seen.contacts?.primaryKey).toEqual(['code']);
    expect(seen.contacts?.columns.map((c) => [c.name, c.nullable])).toEqual([['code', false], ['email', false], ['active', false], ['tags', true]]);
    // The module's knex history and lock tables exist in public, and were left out.
    expect(await query(db.url, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('notes', 'sessions')")).toEqual([{ n: 2 }]);
  });

  it("reads the first rows by primary key, as COPY's text, and none for a limit of 0", async () => {
    const { rows, none } = await withCapturedSchema(db.url, project.config, async (view) => {
      const contacts = view.schema.tables.find((t) => t.name === 'contacts')!;
      return { rows: await view.firstRows(contacts, 2), none: await view.firstRows({ ...contacts, columns: [{ name: 'email', type: 'text', nullable: false }] }, 0) };
    });
    expect(rows).toEqual([
      ['a1', 'a@x.test', 't', '{x,y}'],
      ['b2', 'b@x.test', 't', null],
    ]);
    expect(none).toEqual([]);
  });
});
