// snapshot({ tables, modules }): whole tables picked by name or by the module whose migrations
// created them (a table keeps its module when a later migration renames it), recorded in the
// manifest's scope; unknown names and never-captured tables are refused before anything is
// written; a selective snapshot restores into a fresh database.
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { restore, snapshot } from './engine-imports.js';
import { createTestDatabase, databaseUrl, dropDatabase, type TestDatabase, countRows as count } from '../support/database.js';
import { describeRun, runStrata } from '../support/cli.js';
import { engineProject, type EngineProject } from '../support/engine.js';

const migration = (sql: string): string => `
export async function up(knex) { await knex.raw(\`${sql}\`); }
export async function down() {}
`;

const APP = {
  '20240101000000_setting.mjs': migration('CREATE TABLE setting (id serial PRIMARY KEY, v text NOT NULL)'),
};
const CRM = {
  '20240102000000_people.mjs': migration(`
    CREATE TABLE person_tmp (id serial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE crm_note (id serial PRIMARY KEY, person_id integer NOT NULL REFERENCES person_tmp(id), body text)`),
  '20240103000000_rename.mjs': migration('ALTER TABLE person_tmp RENAME TO person'),
};
const BILLING = {
  '20240104000000_invoice.mjs': migration('CREATE TABLE invoice (id serial PRIMARY KEY, person_id integer REFERENCES person(id), amount integer NOT NULL)'),
  // Another module renames crm's table: it is still crm's.
  '20240105000000_archive.mjs': migration('ALTER TABLE crm_note RENAME TO note_archive'),
};

const DATA = `
  INSERT INTO setting (v) SELECT 's' || g FROM generate_series(1, 4) g;
  INSERT INTO person (name) SELECT 'p' || g FROM generate_series(1, 12) g;
  INSERT INTO note_archive (person_id, body) SELECT 1 + g % 12, 'n' FROM generate_series(1, 30) g;
  INSERT INTO invoice (person_id, amount) SELECT 1 + g % 12, g FROM generate_series(1, 7) g;
`;

let source: TestDatabase;
let project: EngineProject;
const created: string[] = [];

const names = (tables: Array<{ schema: string; name: string }>): string[] => tables.map((t) => `${t.schema}.${t.name}`);

async function snapshotDirs(): Promise<string[]> {
  return readdir(path.join(project.dir, 'snapshots', 'rt', 'test')).catch(() => []);
}

beforeAll(async () => {
  source = await createTestDatabase('selcap');
  project = await engineProject(APP, { modules: { crm: CRM, billing: BILLING } });
  await project.migrate(source.url);
  const client = new pg.Client({ connectionString: source.url });
  await client.connect();
  await client.query(DATA).finally(() => client.end());
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  await source?.drop();
});

describe('selective capture', () => {
  it('captures the tables of a module, renamed ones included, whole', async () => {
    const taken = await snapshot({ ...project.context(source.url), modules: ['crm'] });
    expect(taken.manifest.scope).toEqual({ kind: 'tables', tables: ['public.person', 'public.note_archive'], modules: ['crm'] });
    expect(names(taken.manifest.tables)).toEqual(['public.person', 'public.note_archive']);
    for (const t of taken.manifest.tables) expect(t.rows, t.name).toBe(await count(source.url, t.name));
    // Module states are recorded as for a full snapshot, so a restore can replay the migrations.
    expect(Object.keys(taken.manifest.modules).sort()).toEqual(['app', 'billing', 'crm']);
  });

  it('combines tables and modules; a name without a schema means public', async () => {
    const taken = await snapshot({ ...project.context(source.url), tables: ['setting'], modules: ['billing'] });
    expect(taken.manifest.scope).toEqual({ kind: 'tables', tables: expect.arrayContaining(['public.setting', 'public.invoice']), modules: ['billing'] });
    expect(names(taken.manifest.tables).sort()).toEqual(['public.invoice', 'public.setting']);
    const plain = await snapshot({ ...project.context(source.url), tables: ['public.person', 'invoice'] });
    expect(plain.manifest.scope).toEqual({ kind: 'tables', tables: ['public.person', 'public.invoice'] });
    expect(plain.manifest.tables.find((t) => t.name === 'invoice')?.rows).toBe(await count(source.url, 'invoice'));
  });

  it('refuses unknown tables and modules, excluded and history tables, and leaves no snapshot', async () => {
    const before = await snapshotDirs();
    const ctx = project.context(source.url);
    await expect(snapshot({ ...ctx, tables: ['person', 'nope', 'other.thing'] })).rejects.toMatchObject({
      code: 'table-unknown',
      exitCode: 2,
      message: expect.stringMatching(/public\.nope, other\.thing/),
    });
    await expect(snapshot({ ...ctx, modules: ['crm', 'hr'] })).rejects.toMatchObject({ code: 'module-unknown', message: expect.stringContaining('hr') });
    await expect(snapshot({ ...ctx, tables: ['knex_migrations_crm'] })).rejects.toMatchObject({ code: 'table-excluded' });
    const excluding = project.context(source.url, { config: { ...project.config, exclude: ['setting'] } });
    await expect(snapshot({ ...excluding, tables: ['setting'] })).rejects.toMatchObject({ code: 'table-excluded' });
    expect(await snapshotDirs()).toEqual(before);
  });

  it('drops the tables the config excludes from a module quietly', async () => {
    const excluding = project.context(source.url, { config: { ...project.config, exclude: ['note_archive'] } });
    const taken = await snapshot({ ...excluding, modules: ['crm'] });
    expect(names(taken.manifest.tables)).toEqual(['public.person']);
  });

  it('restores a selective snapshot into a fresh database: its tables loaded, the others as the migrations leave them', async () => {
    const ctx = project.context(source.url);
    const taken = await snapshot({ ...ctx, modules: ['crm'] });
    const database = `strata_test_selcap_${Date.now()}`;
    created.push(database);
    await restore({ ...ctx, id: taken.id, database });
    const url = databaseUrl(source.url, database);
    expect(await count(url, 'person')).toBe(await count(source.url, 'person'));
    expect(await count(url, 'note_archive')).toBe(await count(source.url, 'note_archive'));
    expect(await count(url, 'setting')).toBe(0);
    expect(await count(url, 'invoice')).toBe(0);
  });
});

describe('strata snapshot --tables/--modules (built CLI)', () => {
  it('takes comma lists and repeated flags, prints the scope on stderr, and show prints it', async () => {
    const configPath = path.join(project.dir, 'strata.config.json');
    const modules = Object.fromEntries(Object.entries(project.config.modules).map(([name, m]) => [name, { migrations: m.migrations }]));
    const config = { project: 'rt', modules, environments: { test: { database: source.url, storage: 'file://./snapshots' } } };
    await writeFile(configPath, JSON.stringify(config));
    const strata = (args: string[]) => runStrata([...args, '--config', configPath, '--env', 'test'], { cwd: project.dir });

    const taken = await strata(['snapshot', '--tables', 'setting,public.invoice', '--modules', 'crm']);
    expect(taken.exitCode, describeRun(taken)).toBe(0);
    expect(taken.stderr).toMatch(/Scope: modules crm: tables .*public\.setting/);
    const id = taken.stdout.trim();
    const shown = await strata(['show', id, '--json']);
    expect(shown.exitCode, describeRun(shown)).toBe(0);
    const manifest = shown.json<{ scope: { kind: string; tables: string[]; modules: string[] }; tables: Array<{ name: string }> }>();
    expect(manifest.scope.kind).toBe('tables');
    expect(manifest.scope.modules).toEqual(['crm']);
    expect([...manifest.scope.tables].sort()).toEqual(['public.invoice', 'public.note_archive', 'public.person', 'public.setting']);
    expect(manifest.tables.map((t) => t.name).sort()).toEqual(['invoice', 'note_archive', 'person', 'setting']);
    const text = await strata(['show', id]);
    expect(text.stdout).toMatch(/^Scope\s+modules crm: tables /m);

    const repeated = await strata(['snapshot', '--tables', 'setting', '--tables', 'invoice', '--json']);
    expect(repeated.exitCode, describeRun(repeated)).toBe(0);
    expect(repeated.json<{ manifest: { tables: Array<{ name: string }> } }>().manifest.tables.map((t) => t.name).sort()).toEqual(['invoice', 'setting']);

    const unknown = await strata(['snapshot', '--tables', 'settings']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toMatch(/public\.settings/);
    expect(unknown.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });
});
