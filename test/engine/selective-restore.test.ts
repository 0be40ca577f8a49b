// restore({ tables, modules, withDependencies }) into a fresh database: only the selection loads,
// the other tables stay as the migrations leave them, and a selection whose foreign keys point
// outside it is refused (naming the tables) or completed. Two modules: crm and billing, where
// billing's invoices reference crm's companies.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { restore, snapshot } from './engine-imports.js';
import { adminQuery, createTestDatabase, databaseUrl, dropDatabase, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';

const CRM = `
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE company (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
    CREATE TABLE contact (id serial PRIMARY KEY, company_id integer NOT NULL REFERENCES company(id), name text NOT NULL);
    CREATE TABLE note (id serial PRIMARY KEY, contact_id integer NOT NULL REFERENCES contact(id), reply_to integer REFERENCES note(id), body text);
  \`);
}
export async function down() {}
`;

const BILLING = `
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE currency (code text PRIMARY KEY);
    INSERT INTO currency (code) VALUES ('EUR'), ('USD');
    CREATE TABLE invoice (
      id serial PRIMARY KEY, company_id integer NOT NULL REFERENCES company(id),
      currency text NOT NULL REFERENCES currency(code), amount integer NOT NULL
    );
    CREATE TABLE invoice_line (id serial PRIMARY KEY, invoice_id integer NOT NULL REFERENCES invoice(id), qty integer NOT NULL);
    CREATE TABLE audit_log (id serial PRIMARY KEY, message text);
    INSERT INTO audit_log (message) VALUES ('created by a migration');
  \`);
}
export async function down() {}
`;

// More rows than the migrations seed in every seeded table, so "left as the migrations made it"
// and "loaded from the snapshot" cannot be confused.
const DATA = `
  INSERT INTO company (name) SELECT 'company ' || g FROM generate_series(1, 4) g;
  INSERT INTO contact (company_id, name) SELECT 1 + g % 4, 'contact ' || g FROM generate_series(1, 9) g;
  INSERT INTO note (contact_id, body) SELECT 1 + g % 9, 'note ' || g FROM generate_series(1, 6) g;
  INSERT INTO note (contact_id, reply_to, body) SELECT 1, g, 'reply to ' || g FROM generate_series(1, 3) g;
  INSERT INTO currency (code) VALUES ('GBP');
  INSERT INTO invoice (company_id, currency, amount) SELECT 1 + g % 4, (ARRAY['EUR', 'USD', 'GBP'])[1 + g % 3], g * 100 FROM generate_series(1, 7) g;
  INSERT INTO invoice_line (invoice_id, qty) SELECT 1 + g % 7, g FROM generate_series(1, 17) g;
  INSERT INTO audit_log (message) SELECT 'event ' || g FROM generate_series(1, 5) g;
`;

const TABLES = ['company', 'contact', 'note', 'currency', 'invoice', 'invoice_line', 'audit_log'];

let source: TestDatabase;
/** A database the migrations alone made: what a table not selected must look like. */
let migratedOnly: TestDatabase;
let project: EngineProject;
let snapshotId: string;
const created: string[] = [];

async function counts(url: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result: Record<string, number> = {};
    for (const table of TABLES) result[table] = Number((await client.query(`SELECT count(*) AS n FROM public.${table}`)).rows[0].n);
    return result;
  } finally {
    await client.end();
  }
}

/** Foreign keys PostgreSQL has not validated: a restore must leave none. */
async function unvalidatedForeignKeys(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(`SELECT conname AS name FROM pg_constraint WHERE contype = 'f' AND NOT convalidated`);
    return rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}

function newName(label: string): string {
  const name = `strata_test_sel_${label}_${Date.now()}`;
  created.push(name);
  return name;
}

async function exists(name: string): Promise<boolean> {
  return (await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
}

/** Expected contents: the snapshot's counts for `loaded`, the migrations' for every other table. */
async function expectedCounts(loaded: string[]): Promise<Record<string, number>> {
  const fromSource = await counts(source.url);
  const fromMigrations = await counts(migratedOnly.url);
  return Object.fromEntries(TABLES.map((t) => [t, loaded.includes(t) ? fromSource[t]! : fromMigrations[t]!]));
}

beforeAll(async () => {
  source = await createTestDatabase('selective');
  migratedOnly = await createTestDatabase('selective_migrated');
  project = await engineProject({}, { modules: { crm: { '20240101000000_crm.mjs': CRM }, billing: { '20240102000000_billing.mjs': BILLING } } });
  await project.migrate(source.url);
  await project.migrate(migratedOnly.url);
  const client = new pg.Client({ connectionString: source.url });
  await client.connect();
  await client.query(DATA);
  await client.end();
  snapshotId = (await snapshot(project.context(source.url))).id;
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  await source?.drop();
  await migratedOnly?.drop();
});

describe('restore --tables into a fresh database', () => {
  it('loads only the named tables and leaves the others as the migrations made them', async () => {
    const ctx = project.context(source.url);
    const database = newName('tables');
    const report = await restore({ ...ctx, id: snapshotId, database, tables: ['contact', 'public.company'] });
    const url = databaseUrl(source.url, database);
    expect(await counts(url)).toEqual(await expectedCounts(['company', 'contact']));
    // Seeded by the migration, not loaded: the snapshot's third currency is not there.
    expect((await counts(url)).currency).not.toBe((await counts(source.url)).currency);
    expect(report.plan.tables.map((t) => t.table).sort()).toEqual(['public.company', 'public.contact']);
    expect(report.plan.addedDependencies).toEqual([]);
    expect(await unvalidatedForeignKeys(url)).toEqual([]);
  });

  it('refuses a table whose references would stay empty, naming every missing table, and creates nothing', async () => {
    const ctx = project.context(source.url);
    const database = newName('refused');
    const refusal = restore({ ...ctx, id: snapshotId, database, tables: ['invoice_line'] });
    await expect(refusal).rejects.toMatchObject({ code: 'selection-incomplete', exitCode: 2 });
    const message = ((await refusal.catch((e: Error) => e)) as Error).message;
    for (const table of ['public.invoice', 'public.company', 'public.currency']) expect(message).toContain(table);
    expect(await exists(database)).toBe(false);
    const leftovers = await adminQuery(`SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE $1`, [`%restore of ${database},%`]);
    expect(leftovers.rows).toEqual([]);
  });

  it('with withDependencies adds the referenced tables, transitively', async () => {
    const ctx = project.context(source.url);
    const database = newName('deps');
    const report = await restore({ ...ctx, id: snapshotId, database, tables: ['invoice_line'], withDependencies: true });
    expect(report.plan.addedDependencies).toEqual(['public.company', 'public.currency', 'public.invoice']);
    const url = databaseUrl(source.url, database);
    expect(await counts(url)).toEqual(await expectedCounts(['invoice_line', 'invoice', 'company', 'currency']));
    expect(await unvalidatedForeignKeys(url)).toEqual([]);
  });

  it('names an unknown table before creating anything', async () => {
    const ctx = project.context(source.url);
    const database = newName('unknown');
    await expect(restore({ ...ctx, id: snapshotId, database, tables: ['company', 'no_such_table'] })).rejects.toMatchObject({
      code: 'table-unknown',
      message: expect.stringContaining('public.no_such_table'),
    });
    expect(await exists(database)).toBe(false);
  });

  it('still refuses to leave empty a table the selection needs', async () => {
    const ctx = project.context(source.url);
    await expect(
      restore({ ...ctx, id: snapshotId, database: newName('excl'), tables: ['invoice'], withDependencies: true, excludeTables: ['currency'] }),
    ).rejects.toMatchObject({ code: 'exclude-table-referenced' });
  });

  it('refuses a dependency the snapshot does not hold', async () => {
    // A snapshot taken with currency excluded by the config: nothing can complete an invoice selection.
    const ctx = project.context(source.url);
    const partial = await snapshot({ ...ctx, config: { ...ctx.config, exclude: ['currency'] } });
    await expect(restore({ ...ctx, id: partial.id, database: newName('held'), tables: ['invoice'], withDependencies: true })).rejects.toMatchObject({
      code: 'selection-dependency-missing',
      message: expect.stringContaining('public.currency'),
    });
  });
});

describe('restore --modules into a fresh database', () => {
  it("loads the tables the module's migrations create", async () => {
    const ctx = project.context(source.url);
    const database = newName('crm');
    const report = await restore({ ...ctx, id: snapshotId, database, modules: ['crm'] });
    expect(report.plan.tables.map((t) => t.table).sort()).toEqual(['public.company', 'public.contact', 'public.note']);
    const url = databaseUrl(source.url, database);
    expect(await counts(url)).toEqual(await expectedCounts(['company', 'contact', 'note']));
    expect(await unvalidatedForeignKeys(url)).toEqual([]);
  });

  it('refuses a module that references another one, and adds it with withDependencies', async () => {
    const ctx = project.context(source.url);
    await expect(restore({ ...ctx, id: snapshotId, database: newName('billing_refused'), modules: ['billing'] })).rejects.toMatchObject({
      code: 'selection-incomplete',
      message: expect.stringContaining('public.company'),
    });
    const database = newName('billing');
    const report = await restore({ ...ctx, id: snapshotId, database, modules: ['billing'], withDependencies: true });
    expect(report.plan.addedDependencies).toEqual(['public.company']);
    expect(await counts(databaseUrl(source.url, database))).toEqual(
      await expectedCounts(['currency', 'invoice', 'invoice_line', 'audit_log', 'company']),
    );
  });

  it('with tables too, loads the union', async () => {
    const ctx = project.context(source.url);
    const database = newName('union');
    await restore({ ...ctx, id: snapshotId, database, modules: ['crm'], tables: ['audit_log'] });
    expect(await counts(databaseUrl(source.url, database))).toEqual(await expectedCounts(['company', 'contact', 'note', 'audit_log']));
  });

  it('names an unknown module before creating anything', async () => {
    const ctx = project.context(source.url);
    const database = newName('nomodule');
    await expect(restore({ ...ctx, id: snapshotId, database, modules: ['crm', 'payroll'] })).rejects.toMatchObject({
      code: 'module-unknown',
      message: expect.stringContaining('payroll'),
    });
    expect(await exists(database)).toBe(false);
  });
});

describe('a dry run of a selection', () => {
  it('names the tables with their rows and the added dependencies, and leaves no database behind', async () => {
    const ctx = project.context(source.url);
    const database = newName('dry');
    const report = await restore({ ...ctx, id: snapshotId, database, tables: ['note'], withDependencies: true, dryRun: true });
    expect(report.dryRun).toBe(true);
    const rows = await counts(source.url);
    expect(Object.fromEntries(report.plan.tables.map((t) => [t.table, t.rows]))).toEqual({
      'public.note': rows.note,
      'public.contact': rows.contact,
      'public.company': rows.company,
    });
    // Load order: referenced tables first.
    expect(report.plan.tables.map((t) => t.table)).toEqual(['public.company', 'public.contact', 'public.note']);
    expect(report.plan.addedDependencies).toEqual(['public.company', 'public.contact']);
    expect(await exists(database)).toBe(false);
    // The scratch database the plan was worked out in is gone (it is marked with the target's name).
    const scratch = await adminQuery(`SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE $1`, [`%${database},%`]);
    expect(scratch.rows).toEqual([]);
  });

  it('of modules, names the module tables', async () => {
    const ctx = project.context(source.url);
    const report = await restore({ ...ctx, id: snapshotId, database: newName('drymod'), modules: ['billing'], withDependencies: true, dryRun: true });
    const rows = await counts(source.url);
    expect(Object.fromEntries(report.plan.tables.map((t) => [t.table, t.rows]))).toEqual({
      'public.currency': rows.currency,
      'public.invoice': rows.invoice,
      'public.invoice_line': rows.invoice_line,
      'public.audit_log': rows.audit_log,
      'public.company': rows.company,
    });
    expect(report.plan.addedDependencies).toEqual(['public.company']);
  });

  it('refuses like the real run', async () => {
    const ctx = project.context(source.url);
    await expect(restore({ ...ctx, id: snapshotId, database: newName('dryref'), tables: ['invoice'], dryRun: true })).rejects.toMatchObject({
      code: 'selection-incomplete',
    });
  });
});

describe('restore arguments', () => {
  it('refuses combinations that cannot work, before reading anything', async () => {
    const ctx = project.context(source.url);
    const cases = [
      { withDependencies: true },
      { into: 'somewhere' },
      { into: 'somewhere', tables: ['company'], replace: true, confirm: 'somewhere' },
      { into: 'somewhere', tables: ['company'], database: 'other' },
      { tables: [] },
    ];
    for (const extra of cases) {
      await expect(restore({ ...ctx, id: 'no-such-snapshot', ...extra }), JSON.stringify(extra)).rejects.toMatchObject({
        code: 'invalid-arguments',
        exitCode: 2,
      });
    }
  });
});
