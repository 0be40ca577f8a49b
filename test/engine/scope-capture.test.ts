// A tenant scope on a tiny schema (root, child, grandchild, self-references, a shared table, a
// referenced lookup, cross-tenant nullable and NOT NULL references, a table without a primary
// key, an unrelated table): the snapshot holds exactly the rows the spec asks for, nulls what it
// must, restores with every foreign key valid, and refuses bad scopes before writing anything.
// The big tenant suite is test/engine/scope.test.ts; this one checks the capture's own mechanics.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TableInfo, Transformer } from '../../packages/core/src/index.js';
import { restore, snapshot } from './engine-imports.js';
import { createTestDatabase, databaseUrl, dropDatabase, type TestDatabase, queryAt as query } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';

const SCHEMA = `
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE region (id serial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE country (id serial PRIMARY KEY, code text NOT NULL, region_id integer REFERENCES region);
    CREATE TABLE plan (id serial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE company (id serial PRIMARY KEY, name text NOT NULL UNIQUE, country_id integer NOT NULL REFERENCES country, plan_id integer REFERENCES plan);
    CREATE TABLE badge (code text NOT NULL UNIQUE, label text);
    CREATE TABLE users (id serial PRIMARY KEY, company_id integer NOT NULL REFERENCES company, manager_id integer REFERENCES users, email text NOT NULL,
                        badge_code text REFERENCES badge(code));
    CREATE INDEX ON users (company_id);
    CREATE TABLE project (id serial PRIMARY KEY, company_id integer NOT NULL REFERENCES company, code text NOT NULL UNIQUE);
    CREATE TABLE milestone (id serial PRIMARY KEY, project_code text NOT NULL REFERENCES project(code));
    CREATE TABLE task (id serial PRIMARY KEY, project_id integer NOT NULL REFERENCES project, assignee_id integer REFERENCES users,
                       auditor_id integer NOT NULL REFERENCES users);
    CREATE TABLE comment (id serial PRIMARY KEY, task_id integer NOT NULL REFERENCES task, parent_id integer REFERENCES comment);
    CREATE TABLE audit_log (task_id integer NOT NULL REFERENCES task, note text);
    CREATE TABLE unrelated (id serial PRIMARY KEY, x text);
  \`);
}
export async function down() {}
`;

// Acme (1) and Globex (2); Initech (3) has its own plan. Tasks 1 and 2 of Acme are assigned to
// Globex users (nullable: nulled); task 3 of Acme is audited by one (NOT NULL: the task is left
// out, with comment 5 and audit line 'b' that need it). Task 4 and comment 4 are Globex's.
const DATA = `
  INSERT INTO region (name) VALUES ('EU'), ('NA'), ('APAC');
  INSERT INTO country (code, region_id) VALUES ('DE', 1), ('FR', 1), ('US', 2);
  INSERT INTO plan (name) VALUES ('free'), ('pro'), ('unused');
  INSERT INTO company (name, country_id, plan_id) VALUES ('Acme', 1, 2), ('Globex', 2, 1), ('Initech', 3, 3);
  INSERT INTO badge (code, label) VALUES ('gold', 'G'), ('silver', 'S'), ('bronze', 'B');
  INSERT INTO users (company_id, manager_id, email, badge_code) VALUES (1, NULL, 'a1', 'gold'), (1, 1, 'a2', NULL), (2, NULL, 'g3', 'gold'), (2, 3, 'g4', 'silver'), (3, NULL, 'i5', 'bronze');
  INSERT INTO project (company_id, code) VALUES (1, 'P1'), (1, 'P2'), (2, 'P3');
  INSERT INTO milestone (project_code) VALUES ('P1'), ('P3'), ('P2'), ('P1');
  INSERT INTO task (project_id, assignee_id, auditor_id) VALUES (1, 4, 1), (1, 3, 2), (2, NULL, 4), (3, 3, 3);
  INSERT INTO comment (task_id, parent_id) VALUES (1, NULL), (1, 1), (2, 2), (4, NULL), (3, 4);
  INSERT INTO audit_log (task_id, note) VALUES (1, 'a'), (3, 'b'), (4, 'c');
  INSERT INTO unrelated (x) VALUES ('x'), ('y');
`;

const SCOPES = { company: { table: 'company', key: 'name', shared: ['country'] } };

let source: TestDatabase;
let project: EngineProject;
const created: string[] = [];

/** `id` (or the whole row as text for a table without one) of every row, sorted. */
async function ids(url: string, sql: string): Promise<string[]> {
  return (await query<{ k: string }>(url, `SELECT k::text FROM (${sql}) s(k) ORDER BY 1`)).map((r) => r.k);
}

async function snapshotDirs(): Promise<string[]> {
  return readdir(path.join(project.dir, 'snapshots', 'rt', 'test')).catch(() => []);
}

beforeAll(async () => {
  source = await createTestDatabase('scopecap');
  project = await engineProject({ '20240101000000_schema.mjs': SCHEMA }, { scopes: SCOPES });
  await project.migrate(source.url);
  await query(source.url, DATA);
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  await source?.drop();
});

describe('tenant scope capture', () => {
  it('captures the owned rows, what they reference, the shared table whole; nulls nullable cross-tenant keys', async () => {
    const ctx = project.context(source.url);
    const taken = await snapshot({ ...ctx, scope: { name: 'company', values: ['Acme'] } });
    const scope = taken.manifest.scope;
    expect(scope).toMatchObject({ kind: 'tenant', name: 'company', table: 'public.company', key: 'name', values: ['Acme'], shared: ['public.country'], leftOut: ['public.unrelated'] });
    expect(taken.manifest.tables.map((t) => `${t.schema}.${t.name}`)).not.toContain('public.unrelated');

    const database = `strata_test_scopecap_${Date.now()}`;
    created.push(database);
    await restore({ ...ctx, id: taken.id, database });
    const url = databaseUrl(source.url, database);

    // Expected sets, from the source with the spec's rules written out as plain SQL. A task is
    // Acme's when its project is; one whose auditor (NOT NULL) is a Globex user cannot come without
    // that user, so it is left out, and so is what needs it (its comments, its audit lines).
    const acme = `(SELECT id FROM company WHERE name = 'Acme')`;
    const users = `SELECT id FROM users WHERE company_id = ${acme}`;
    const acmeTasks = `SELECT t.id FROM task t JOIN project p ON p.id = t.project_id WHERE p.company_id = ${acme}`;
    const ownedTasks = `${acmeTasks} AND t.auditor_id IN (${users})`;
    const leftOutTasks = `${acmeTasks} AND t.auditor_id NOT IN (${users})`;
    const expected: Record<string, string> = {
      country: 'SELECT id FROM country',
      // What a shared table references comes along (never analyzed: its estimate is 0 rows).
      region: 'SELECT DISTINCT region_id FROM country WHERE region_id IS NOT NULL',
      plan: `SELECT plan_id FROM company WHERE id = ${acme} AND plan_id IS NOT NULL`,
      company: `SELECT ${acme}`,
      users,
      project: `SELECT id FROM project WHERE company_id = ${acme}`,
      task: ownedTasks,
      comment: `SELECT id FROM comment WHERE task_id IN (${ownedTasks})`,
      audit_log: `SELECT task_id || ':' || note FROM audit_log WHERE task_id IN (${ownedTasks})`,
      // Through a unique key that is not the primary key, down (milestone) and up into a table without one (badge).
      milestone: `SELECT m.id FROM milestone m JOIN project p ON p.code = m.project_code WHERE p.company_id = ${acme}`,
      badge: `SELECT code FROM badge WHERE code IN (SELECT badge_code FROM users WHERE id IN (${users}))`,
    };
    for (const [table, sql] of Object.entries(expected)) {
      const all: Record<string, string> = { audit_log: `SELECT task_id || ':' || note FROM audit_log`, badge: 'SELECT code FROM badge' };
      const got = await ids(url, all[table] ?? `SELECT id FROM ${table}`);
      expect(got, table).toEqual(await ids(source.url, sql));
    }
    expect(await ids(url, 'SELECT id FROM unrelated')).toEqual([]);
    // No row of another company at all.
    expect(await ids(url, `SELECT id FROM project WHERE company_id <> ${acme}`)).toEqual([]);
    expect(await ids(url, `SELECT id FROM users WHERE company_id <> ${acme}`)).toEqual([]);

    // References into rows that were not captured are NULL; the rest are as in the source.
    const dangling = await query<{ n: string }>(url, `
      SELECT (SELECT count(*) FROM task t WHERE t.assignee_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.assignee_id))
           + (SELECT count(*) FROM users a WHERE a.manager_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.manager_id))
           + (SELECT count(*) FROM comment c WHERE c.parent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM comment p WHERE p.id = c.parent_id)) AS n`);
    expect(Number(dangling[0]!.n)).toBe(0);
    const sourceAssignees = await query<{ id: number; assignee_id: number | null }>(source.url, 'SELECT id, assignee_id FROM task ORDER BY id');
    const capturedUsers = new Set((await ids(url, 'SELECT id FROM users')).map(Number));
    const restored = await query<{ id: number; assignee_id: number | null }>(url, 'SELECT id, assignee_id FROM task ORDER BY id');
    for (const row of restored) {
      const before = sourceAssignees.find((r) => r.id === row.id)!.assignee_id;
      expect(row.assignee_id, `task ${row.id}`).toBe(before !== null && capturedUsers.has(before) ? before : null);
    }

    // The cross-tenant report counts the captured rows whose reference was nulled, and the rows left out.
    const entry = (table: string, column: string) => scope?.kind === 'tenant' && scope.crossTenant.find((c) => c.table === `public.${table}` && c.columns.join() === column);
    const nulledAssignees = restored.filter((r) => r.assignee_id === null && sourceAssignees.find((s) => s.id === r.id)!.assignee_id !== null).length;
    expect(nulledAssignees).toBeGreaterThan(0);
    expect(entry('task', 'assignee_id')).toEqual({ table: 'public.task', columns: ['assignee_id'], references: 'public.users', rows: nulledAssignees, action: 'nulled' });
    const leftOut = (await ids(source.url, leftOutTasks)).length;
    expect(leftOut).toBeGreaterThan(0);
    expect(entry('task', 'auditor_id')).toEqual({ table: 'public.task', columns: ['auditor_id'], references: 'public.users', rows: leftOut, action: 'excluded' });
    expect(entry('comment', 'task_id')).toMatchObject({ action: 'excluded', rows: (await ids(source.url, `SELECT id FROM comment WHERE task_id IN (${leftOutTasks})`)).length });
    expect(entry('audit_log', 'task_id')).toMatchObject({ action: 'excluded', rows: (await ids(source.url, `SELECT note FROM audit_log WHERE task_id IN (${leftOutTasks})`)).length });
    expect(entry('users', 'manager_id')).toBeFalsy();
    expect(entry('users', 'company_id')).toBeFalsy();
    expect(entry('task', 'project_id')).toBeFalsy();
    expect(ctx.warnings.some((w) => w.includes('public.task') && w.includes('assignee_id'))).toBe(true);
  });

  it('captures several tenants at once, and hands the transformer the same columns in the same order', async () => {
    const seen: string[] = [];
    const transformer: Transformer = {
      name: 'test-upper',
      version: '1.0.0',
      anonymizes: true,
      rulesHash: 'a'.repeat(64),
      rules: { 'public.users.email': 'upper' },
      prepare() {},
      forTable(table: TableInfo) {
        if (table.name !== 'users') return undefined;
        const email = table.columns.findIndex((c) => c.name === 'email');
        return { kind: 'rows', transformRow: (values) => ((seen.push(values.join('|')), (values[email] = values[email]!.toUpperCase())), values) };
      },
    };
    const ctx = project.context(source.url);
    const taken = await snapshot({ ...ctx, transformer, scope: { name: 'company', values: ['Acme', 'Globex'] } });
    const database = `strata_test_scopecap2_${Date.now()}`;
    created.push(database);
    await restore({ ...ctx, id: taken.id, database });
    const url = databaseUrl(source.url, database);
    const both = `SELECT id FROM company WHERE name IN ('Acme', 'Globex')`;
    expect(await ids(url, 'SELECT id FROM company')).toEqual(await ids(source.url, both));
    expect(await ids(url, 'SELECT email FROM users')).toEqual(await ids(source.url, `SELECT upper(email) FROM users WHERE company_id IN (${both})`));
    expect(seen.length).toBeGreaterThan(0);
  });

  it('refuses an unknown scope, a value with no root row, a key that is not unique and an unknown shared table, leaving no snapshot', async () => {
    const before = await snapshotDirs();
    const ctx = project.context(source.url);
    await expect(snapshot({ ...ctx, scope: { name: 'tenant', values: ['Acme'] } })).rejects.toMatchObject({ code: 'scope-unknown', hint: expect.stringContaining('company') });
    await expect(snapshot({ ...ctx, scope: { name: 'company', values: ['Acme', 'Nobody'] } })).rejects.toMatchObject({
      code: 'scope-root-not-found',
      message: expect.stringContaining('Nobody'),
    });
    const badKey = project.context(source.url, { config: { ...project.config, scopes: { company: { table: 'company', key: 'country_id', shared: [] } } } });
    await expect(snapshot({ ...badKey, scope: { name: 'company', values: ['1'] } })).rejects.toMatchObject({ code: 'scope-key-not-unique' });
    const badShared = project.context(source.url, { config: { ...project.config, scopes: { company: { table: 'company', shared: ['nation'] } } } });
    await expect(snapshot({ ...badShared, scope: { name: 'company', values: ['1'] } })).rejects.toMatchObject({ code: 'scope-table-unknown', message: expect.stringContaining('public.nation') });
    const byId = project.context(source.url, { config: { ...project.config, scopes: { company: { table: 'company', shared: ['country'] } } } });
    await expect(snapshot({ ...byId, scope: { name: 'company', values: ['Acme'] } })).rejects.toMatchObject({ code: 'scope-root-not-found' });
    await expect(snapshot({ ...ctx, scope: { name: 'company', values: ['Acme'] }, tables: ['users'] })).rejects.toMatchObject({ code: 'invalid-arguments' });
    expect(await snapshotDirs()).toEqual(before);
  });
});

// A table with two NOT NULL keys into the tenant's tables, one of them a self-reference: Globex's
// category 4 hangs under Acme's root category 1, so following the self-reference down makes it
// look like Acme's, and its company_id (Globex) must then leave it out.
describe('a NOT NULL self-reference across tenants', () => {
  const TREE = `
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE company (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
    CREATE TABLE category (id integer PRIMARY KEY, company_id integer NOT NULL REFERENCES company, root_id integer NOT NULL REFERENCES category);
    INSERT INTO company VALUES (1, 'Acme'), (2, 'Globex');
    INSERT INTO category VALUES (1, 1, 1), (2, 1, 1), (3, 2, 3), (4, 2, 1);
  \`);
}
export async function down() {}
`;
  let db: TestDatabase;
  afterAll(async () => db?.drop());

  it("leaves out the other tenant's row that the self-reference reached, and says so", async () => {
    db = await createTestDatabase('scopetree');
    const own = await engineProject({ '20240101000000_tree.mjs': TREE }, { scopes: { company: { table: 'company', key: 'name', shared: [] } } });
    await own.migrate(db.url);
    const ctx = own.context(db.url);
    const taken = await snapshot({ ...ctx, scope: { name: 'company', values: ['Acme'] } });
    const database = `strata_test_scopetree_${Date.now()}`;
    created.push(database);
    await restore({ ...ctx, id: taken.id, database });
    const url = databaseUrl(db.url, database);
    expect(await ids(url, 'SELECT id FROM category')).toEqual(await ids(db.url, "SELECT id FROM category WHERE company_id = (SELECT id FROM company WHERE name = 'Acme')"));
    expect(await ids(url, 'SELECT id FROM company')).toEqual(['1']);
    const scope = taken.manifest.scope;
    expect(scope?.kind === 'tenant' && scope.crossTenant).toEqual([
      { table: 'public.category', columns: ['company_id'], references: 'public.company', rows: 1, action: 'excluded' },
    ]);
  });
});
