// restore({ excludeTables }) and an environment's restore.exclude: the tables keep their schema
// and stay empty (rows seeded by migrations included); a table others still reference cannot be.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { restore, snapshot } from './engine-imports.js';
import { createTestDatabase, databaseUrl, dropDatabase, type TestDatabase, countRows as count } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';

const SCHEMA = `
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE person (id serial PRIMARY KEY, email text NOT NULL);
    CREATE TABLE login (id serial PRIMARY KEY, person_id integer NOT NULL REFERENCES person(id));
    CREATE TABLE notification_settings (id serial PRIMARY KEY, channel text NOT NULL);
    INSERT INTO notification_settings (channel) VALUES ('seeded-by-migration');
    INSERT INTO person (email) SELECT 'p' || g || '@x.test' FROM generate_series(1, 20) g;
    INSERT INTO login (person_id) SELECT 1 + g % 20 FROM generate_series(1, 40) g;
    INSERT INTO notification_settings (channel) SELECT 'sms' FROM generate_series(1, 5);
  \`);
}
export async function down() {}
`;

let source: TestDatabase;
let project: EngineProject;
const created: string[] = [];

beforeAll(async () => {
  source = await createTestDatabase('exclude');
  project = await engineProject({ '20240101000000_schema.mjs': SCHEMA });
  await project.migrate(source.url);
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  await source?.drop();
});

describe('tables left empty on restore', () => {
  it('keeps the schema, loads no rows (not even the ones migrations seed), and loads the rest', async () => {
    const ctx = project.context(source.url);
    const taken = await snapshot(ctx);
    const database = `strata_test_excl_${Date.now()}`;
    created.push(database);
    const report = await restore({ ...ctx, id: taken.id, database, excludeTables: ['notification_settings', 'public.login'] });
    const url = databaseUrl(source.url, database);
    expect(await count(url, 'notification_settings')).toBe(0);
    expect(await count(url, 'login')).toBe(0);
    expect(await count(url, 'person')).toBe(20);
    expect(report.plan.skipped).toEqual(expect.arrayContaining([{ table: 'public.notification_settings', reason: 'left empty (excluded)' }]));
  });

  it("reads the environment's restore.exclude too", async () => {
    const ctx = project.context(source.url);
    const taken = await snapshot(ctx);
    const database = `strata_test_excl_env_${Date.now()}`;
    created.push(database);
    await restore({ ...ctx, env: { ...ctx.env, restore: { exclude: ['notification_settings'] } }, id: taken.id, database });
    expect(await count(databaseUrl(source.url, database), 'notification_settings')).toBe(0);
  });

  it('refuses to leave empty a table a loaded table references, and an unknown table', async () => {
    const ctx = project.context(source.url);
    const taken = await snapshot(ctx);
    await expect(restore({ ...ctx, id: taken.id, database: `strata_test_excl_ref_${Date.now()}`, excludeTables: ['person'] })).rejects.toMatchObject({
      code: 'exclude-table-referenced',
      message: expect.stringContaining('public.login references public.person'),
    });
    await expect(restore({ ...ctx, id: taken.id, database: `strata_test_excl_unknown_${Date.now()}`, excludeTables: ['no_such'] })).rejects.toMatchObject({
      code: 'exclude-table-unknown',
    });
  });
});
