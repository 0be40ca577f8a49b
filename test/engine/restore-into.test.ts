// restoreInto: replacing some tables of a live database with a snapshot's rows, in one
// transaction, after checking module versions and the references of the tables left alone.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { listSnapshots, restore, showSnapshot, snapshot } from './engine-imports.js';
import type { Transformer } from '../../packages/core/src/contracts/transformer.js';
import { restoreInto } from '../../packages/core/src/restore/restore-into.js';
import { createTestDatabase, type TestDatabase, queryAt as query } from '../support/database.js';
import { damageDataFile, engineProject, type EngineProject } from '../support/engine.js';

const APP = `
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE colours (id serial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE projects (id serial PRIMARY KEY, name text NOT NULL, colour_id integer CONSTRAINT projects_colour_fk REFERENCES colours(id));
    CREATE TABLE tasks (
      id serial PRIMARY KEY,
      project_id integer NOT NULL CONSTRAINT tasks_project_fk REFERENCES projects(id),
      parent_id integer CONSTRAINT tasks_parent_fk REFERENCES tasks(id),
      title text NOT NULL);
    CREATE TABLE audit (id serial PRIMARY KEY, note text NOT NULL);
    CREATE FUNCTION audit_task() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit (note) VALUES ('task ' || NEW.id); RETURN NEW; END $$;
    CREATE TRIGGER tasks_audit AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION audit_task();
    CREATE TRIGGER tasks_audit_off AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION audit_task();
    ALTER TABLE tasks DISABLE TRIGGER tasks_audit_off;
    -- What an index's or a key's definition does not carry, and a restore --into must keep.
    CREATE INDEX tasks_title_idx ON tasks (title);
    COMMENT ON INDEX tasks_title_idx IS 'titles, for search';
    ALTER TABLE tasks CLUSTER ON tasks_title_idx;
    COMMENT ON CONSTRAINT tasks_pkey ON tasks IS 'task ids';
    COMMENT ON CONSTRAINT tasks_project_fk ON tasks IS 'every task has a project';
    ALTER TABLE projects ADD CONSTRAINT projects_name_key UNIQUE (name);
    ALTER TABLE projects ALTER COLUMN name SET NOT NULL, REPLICA IDENTITY USING INDEX projects_name_key;
    CREATE INDEX tasks_lower_title_idx ON tasks (lower(title));
    ALTER INDEX tasks_lower_title_idx ALTER COLUMN 1 SET STATISTICS 500;
  \`);
}
export async function down() {}
`;

const BILLING = `
export async function up(knex) {
  await knex.raw('CREATE TABLE invoices (id serial PRIMARY KEY, project_id integer NOT NULL CONSTRAINT invoices_project_fk REFERENCES projects(id), amount integer NOT NULL)');
}
export async function down() {}
`;

const SEED = `
  INSERT INTO colours (name) SELECT 'c' || g FROM generate_series(1, 3) g;
  INSERT INTO projects (name, colour_id) SELECT 'p' || g, 1 + g % 3 FROM generate_series(1, 5) g;
  INSERT INTO tasks (project_id, title) SELECT 1 + g % 5, 't' || g FROM generate_series(1, 40) g;
  UPDATE tasks SET parent_id = id - 1 WHERE id % 4 = 0;
  INSERT INTO invoices (project_id, amount) SELECT 1 + g % 5, g * 10 FROM generate_series(1, 10) g;
`;

// What happens to the live database after the snapshot: every table changes.
const DRIFT = `
  DELETE FROM tasks WHERE id > 30;
  UPDATE projects SET name = name || '-renamed';
  INSERT INTO projects (name) VALUES ('new project');
  INSERT INTO tasks (project_id, title) SELECT max(id), 'new task' FROM projects;
  UPDATE invoices SET amount = amount + 1;
  INSERT INTO colours (name) VALUES ('c4');
`;

const TABLES = ['colours', 'projects', 'tasks', 'audit', 'invoices'];

let project: EngineProject;
const databases: TestDatabase[] = [];

/** Every row of every table, as JSON, in id order. */
async function contents(url: string): Promise<Record<string, unknown[]>> {
  const result: Record<string, unknown[]> = {};
  for (const table of TABLES) result[table] = (await query<{ row: unknown }>(url, `SELECT to_jsonb(t) AS row FROM ${table} t ORDER BY id`)).map((r) => r.row);
  return result;
}

/** Keys, indexes and triggers of the database, as the catalog has them, with their comments, clustering and replica identity. */
async function structure(url: string): Promise<{ constraints: unknown[]; indexes: unknown[]; replicaIdentity: unknown[]; triggers: unknown[] }> {
  return {
    constraints: await query(url, `SELECT conrelid::regclass::text AS table, conname, contype, pg_get_constraintdef(oid) AS def, convalidated,
                                          obj_description(oid, 'pg_constraint') AS comment
                                     FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY conname`),
    indexes: await query(url, `SELECT indexrelid::regclass::text AS index, pg_get_indexdef(indexrelid) AS def, indisclustered, indisreplident,
                                      obj_description(indexrelid, 'pg_class') AS comment,
                                      ARRAY(SELECT attstattarget FROM pg_attribute WHERE attrelid = indexrelid ORDER BY attnum)::text AS statistics
                                 FROM pg_index WHERE indrelid::regclass::text IN ('colours', 'projects', 'tasks', 'audit', 'invoices') ORDER BY 1`),
    replicaIdentity: await query(url, `SELECT relname, relreplident FROM pg_class WHERE relname IN ('projects', 'tasks') ORDER BY relname`),
    triggers: await query(url, 'SELECT tgrelid::regclass::text AS table, tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname'),
  };
}

/** A live database: migrated, seeded, snapshotted (rows recorded by SQL), then changed. */
async function liveDatabase(on: EngineProject = project): Promise<{ db: TestDatabase; id: string; atSnapshot: Record<string, unknown[]>; ctx: ReturnType<EngineProject['context']> }> {
  const db = await createTestDatabase('into');
  databases.push(db);
  await on.migrate(db.url);
  await query(db.url, SEED);
  const atSnapshot = await contents(db.url);
  const ctx = on.context(db.url);
  const taken = await snapshot(ctx);
  await query(db.url, DRIFT);
  return { db, id: taken.id, atSnapshot, ctx };
}

async function snapshotIds(ctx: ReturnType<EngineProject['context']>): Promise<string[]> {
  return (await listSnapshots(ctx)).map((s) => s.id).sort();
}

beforeAll(async () => {
  project = await engineProject({}, { modules: { app: { '20240101000000_app.mjs': APP }, billing: { '20240102000000_billing.mjs': BILLING } } });
});

afterEach(async () => {
  while (databases.length > 0) await databases.pop()!.drop();
});

describe('a fresh restore', () => {
  it('gives the indexes and keys it set aside for the load back their comments, clustering and replica identity', async () => {
    const { db, id, ctx } = await liveDatabase();
    const fresh = await createTestDatabase('into_fresh');
    databases.push(fresh);
    await fresh.drop(); // restore creates it
    const report = await restore({ ...ctx, id, database: fresh.name });
    expect(report.rebuilt.indexes).toBeGreaterThan(0);
    expect(await structure(fresh.url)).toEqual(await structure(db.url));
  });
});

describe('restoreInto', () => {
  it('replaces only the named tables, with the snapshot\'s rows, without firing user triggers', async () => {
    const { db, id, atSnapshot, ctx } = await liveDatabase();
    const before = await contents(db.url);
    const structureBefore = await structure(db.url);
    expect(before.tasks).not.toEqual(atSnapshot.tasks);

    const report = await restoreInto({ ...ctx, id, into: db.name, tables: ['projects', 'public.tasks'] });

    const after = await contents(db.url);
    expect(after.projects).toEqual(atSnapshot.projects);
    expect(after.tasks).toEqual(atSnapshot.tasks);
    // Untouched: the other tables, and audit, which the tasks trigger would have written to.
    expect(after.colours).toEqual(before.colours);
    expect(after.invoices).toEqual(before.invoices);
    expect(after.audit).toEqual(before.audit);
    // Keys and triggers are back as they were, a disabled trigger included.
    expect(await structure(db.url)).toEqual(structureBefore);
    expect(report.tables.map((t) => [t.table, t.rows])).toEqual([['public.projects', atSnapshot.projects!.length], ['public.tasks', atSnapshot.tasks!.length]]);
    expect(report.plan.into?.emptied).toEqual([
      { table: 'public.projects', rows: before.projects!.length },
      { table: 'public.tasks', rows: before.tasks!.length },
    ]);
    const fkCount = await query<{ n: string }>(db.url, `SELECT count(*) AS n FROM pg_constraint WHERE contype = 'f'
      AND (conrelid IN ('projects'::regclass, 'tasks'::regclass) OR confrelid IN ('projects'::regclass, 'tasks'::regclass))`);
    expect(report.rebuilt.foreignKeys).toBe(Number(fkCount[0]!.n));
    // Set aside and built again: tasks_title_idx and the three keys (projects_pkey, projects_name_key,
    // tasks_pkey); tasks_lower_title_idx has a statistics target, so it stays in place during the load.
    expect(report.rebuilt).toMatchObject({ indexes: 1, constraints: 3 });
  });

  it('restores the tables of a module', async () => {
    const { db, id, atSnapshot, ctx } = await liveDatabase();
    const before = await contents(db.url);
    await restoreInto({ ...ctx, id, into: db.name, modules: ['billing'] });
    const after = await contents(db.url);
    expect(after.invoices).toEqual(atSnapshot.invoices);
    expect({ ...after, invoices: [] }).toEqual({ ...before, invoices: [] });
  });

  it('rolls back entirely when one table fails to load', async () => {
    const { db, id, ctx } = await liveDatabase();
    await damageDataFile(project, id, 'tasks');
    const before = await contents(db.url);
    const structureBefore = await structure(db.url);
    const snapshotsBefore = await snapshotIds(ctx);

    await expect(restoreInto({ ...ctx, id, into: db.name, tables: ['projects', 'tasks'] })).rejects.toMatchObject({ code: 'data-corrupt' });

    // projects loads first and had been replaced inside the transaction: it is back too.
    expect(await contents(db.url)).toEqual(before);
    expect(await structure(db.url)).toEqual(structureBefore);
    // Nothing changed, so the safety snapshot is not kept.
    expect(await snapshotIds(ctx)).toEqual(snapshotsBefore);
    const locks = await query(db.url, "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname IN ('projects', 'tasks')");
    expect(locks).toEqual([]);
  });

  it('refuses when a module is at another migration, before changing or capturing anything', async () => {
    const own = await engineProject({}, { modules: { app: { '20240101000000_app.mjs': APP }, billing: { '20240102000000_billing.mjs': BILLING } } });
    const { db, id, ctx } = await liveDatabase(own);
    await writeFile(
      path.join(own.dir, 'migrations-billing', '20240301000000_note.mjs'),
      "export async function up(knex) { await knex.raw('ALTER TABLE invoices ADD COLUMN note text'); }\nexport async function down() {}\n",
    );
    await own.migrate(db.url);
    const before = await contents(db.url);
    const snapshotsBefore = await snapshotIds(ctx);

    const failure = restoreInto({ ...ctx, id, into: db.name, tables: ['tasks'] });
    await expect(failure).rejects.toMatchObject({
      code: 'module-versions-differ',
      exitCode: 2,
      message: expect.stringContaining(`billing is at 20240301000000_note in ${db.name}, the snapshot at 20240102000000_billing`),
      hint: expect.stringContaining('without --into'),
    });
    expect(await contents(db.url)).toEqual(before);
    expect(await snapshotIds(ctx)).toEqual(snapshotsBefore);
  });

  it('refuses a tenant snapshot, whose tables hold only some rows, before changing or capturing anything', async () => {
    const { db, ctx } = await liveDatabase();
    const scoped = project.context(db.url, { config: { ...project.config, scopes: { project: { table: 'projects', shared: ['colours'] } } } });
    const tenant = await snapshot({ ...scoped, scope: { name: 'project', values: ['1'] } });
    const before = await contents(db.url);
    const snapshotsBefore = await snapshotIds(ctx);

    await expect(restoreInto({ ...ctx, id: tenant.id, into: db.name, tables: ['tasks'] })).rejects.toMatchObject({
      code: 'into-tenant-snapshot',
      exitCode: 2,
      message: expect.stringContaining('holds only the rows of project 1'),
      hint: expect.stringContaining('new database'),
    });
    expect(await contents(db.url)).toEqual(before);
    expect(await snapshotIds(ctx)).toEqual(snapshotsBefore);
  });

  it('refuses, changing nothing, when rows of a table left alone would point at rows the snapshot lacks', async () => {
    const { db, id, atSnapshot, ctx } = await liveDatabase();
    await query(db.url, "INSERT INTO invoices (project_id, amount) SELECT max(id), 5 FROM projects UNION ALL SELECT max(id), 6 FROM projects");
    const snapshotProjects = atSnapshot.projects!.map((p) => (p as { id: number }).id);
    const [{ n: orphans }] = (await query<{ n: string }>(db.url, 'SELECT count(*) AS n FROM invoices WHERE project_id <> ALL($1::int[])', [snapshotProjects])) as [{ n: string }];
    const before = await contents(db.url);
    const structureBefore = await structure(db.url);
    const snapshotsBefore = await snapshotIds(ctx);

    await expect(restoreInto({ ...ctx, id, into: db.name, tables: ['projects', 'tasks'] })).rejects.toMatchObject({
      code: 'restore-into-breaks-references',
      message: `Restoring would leave ${orphans} rows of public.invoices pointing at missing rows of public.projects (invoices_project_fk); nothing was changed.`,
      hint: expect.stringContaining('public.invoices'),
    });
    expect(await contents(db.url)).toEqual(before);
    expect(await structure(db.url)).toEqual(structureBefore);
    expect(await snapshotIds(ctx)).toEqual(snapshotsBefore);
  });

  it('refuses when restored rows would point at rows a table left alone no longer has', async () => {
    const { db, id, atSnapshot, ctx } = await liveDatabase();
    await query(db.url, 'UPDATE projects SET colour_id = 2 WHERE colour_id = 1; DELETE FROM colours WHERE id = 1');
    const orphans = atSnapshot.projects!.filter((p) => (p as { colour_id: number | null }).colour_id === 1).length;
    const before = await contents(db.url);
    await expect(restoreInto({ ...ctx, id, into: db.name, tables: ['projects', 'tasks'] })).rejects.toMatchObject({
      code: 'restore-into-breaks-references',
      message: `Restoring would leave ${orphans} row${orphans === 1 ? '' : 's'} of public.projects pointing at missing rows of public.colours (projects_colour_fk); nothing was changed.`,
      hint: expect.stringContaining('public.colours'),
    });
    expect(await contents(db.url)).toEqual(before);
  });

  it('rolls back when interrupted in the middle of a load', async () => {
    const { db, id, ctx } = await liveDatabase();
    const before = await contents(db.url);
    const structureBefore = await structure(db.url);
    const snapshotsBefore = await snapshotIds(ctx);
    const controller = new AbortController();
    const onProgress = (event: { phase: string; item: string }): void => {
      if (event.phase === 'load' && event.item === 'public.tasks') controller.abort();
    };
    await expect(restoreInto({ ...ctx, signal: controller.signal, onProgress, id, into: db.name, tables: ['projects', 'tasks'] })).rejects.toMatchObject({ code: 'aborted' });
    expect(await contents(db.url)).toEqual(before);
    expect(await structure(db.url)).toEqual(structureBefore);
    expect(await snapshotIds(ctx)).toEqual(snapshotsBefore);
  });

  it('gives up with a clear error when another session holds the tables too long, changing nothing', async () => {
    const { db, id, ctx } = await liveDatabase();
    const before = await contents(db.url);
    const snapshotsBefore = await snapshotIds(ctx);
    // A reader in a long transaction: the safety snapshot can be taken, the tables cannot be emptied.
    const reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
    try {
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM tasks');
      await expect(restoreInto({ ...ctx, id, into: db.name, tables: ['projects', 'tasks'] }, { lockTimeoutMs: 300 })).rejects.toMatchObject({
        code: 'restore-into-lock-timeout',
        exitCode: 3,
        message: expect.stringContaining('nothing was changed'),
      });
      await reader.query('ROLLBACK');
    } finally {
      await reader.end();
    }
    expect(await contents(db.url)).toEqual(before);
    expect(await snapshotIds(ctx)).toEqual(snapshotsBefore);
  });

  it("applies a transformer and the environment's requireAnonymized rule", async () => {
    const { db, id, atSnapshot, ctx } = await liveDatabase();
    const strict = { ...ctx, env: { ...ctx.env, requireAnonymized: true } };
    const before = await contents(db.url);
    await expect(restoreInto({ ...strict, id, into: db.name, tables: ['projects'] })).rejects.toMatchObject({ code: 'anonymization-required' });
    expect(await contents(db.url)).toEqual(before);

    const upper: Transformer = {
      name: 'test-upper',
      version: '1.0.0',
      anonymizes: true,
      rulesHash: 'upper-names',
      rules: { 'public.projects.name': 'upper' },
      prepare() {},
      forTable(table) {
        const at = table.columns.findIndex((c) => c.name === 'name');
        if (table.name !== 'projects' || at < 0) return undefined;
        return { kind: 'rows', transformRow: (values) => ((values[at] = values[at]?.toUpperCase() ?? null), values) };
      },
    };
    await restoreInto({ ...strict, id, into: db.name, tables: ['projects', 'tasks'], transformer: upper });
    const after = await contents(db.url);
    expect(after.projects).toEqual(atSnapshot.projects!.map((p) => ({ ...(p as object), name: (p as { name: string }).name.toUpperCase() })));
    expect(after.tasks).toEqual(atSnapshot.tasks);
  });

  it('takes a safety snapshot of exactly the touched tables, which restores them back', async () => {
    const { db, id, ctx } = await liveDatabase();
    const before = await contents(db.url);
    const logged: string[] = [];
    const report = await restoreInto({ ...ctx, log: (_level, message) => logged.push(message), id, into: db.name, tables: ['projects', 'tasks'] });
    expect(report.safetySnapshotId).toBeDefined();
    expect(logged.join('\n')).toContain(report.safetySnapshotId);

    const safety = await showSnapshot(ctx, report.safetySnapshotId!);
    expect(safety.tags).toContain('safety');
    expect(safety.tables.map((t) => [`${t.schema}.${t.name}`, t.rows]).sort()).toEqual([
      ['public.projects', before.projects!.length],
      ['public.tasks', before.tasks!.length],
    ]);

    await restoreInto({ ...ctx, id: report.safetySnapshotId!, into: db.name, tables: ['projects', 'tasks'] });
    expect(await contents(db.url)).toEqual(before);
  });

  it('dry run changes nothing and reports current and new row counts', async () => {
    const { db, id, atSnapshot, ctx } = await liveDatabase();
    const before = await contents(db.url);
    const snapshotsBefore = await snapshotIds(ctx);
    const report = await restoreInto({ ...ctx, id, into: db.name, tables: ['tasks', 'projects'], dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.plan.into).toEqual({
      database: db.name,
      emptied: [
        { table: 'public.projects', rows: before.projects!.length },
        { table: 'public.tasks', rows: before.tasks!.length },
      ],
    });
    expect(report.plan.tables).toEqual([
      { table: 'public.projects', rows: atSnapshot.projects!.length },
      { table: 'public.tasks', rows: atSnapshot.tasks!.length },
    ]);
    expect(await contents(db.url)).toEqual(before);
    expect(await snapshotIds(ctx)).toEqual(snapshotsBefore);
  });

  it('moves owned sequences forward to the loaded rows, never backwards', async () => {
    const { db, id, ctx } = await liveDatabase();
    await query(db.url, "SELECT setval('tasks_id_seq', 1), setval('projects_id_seq', 1000)");
    const report = await restoreInto({ ...ctx, id, into: db.name, tables: ['projects', 'tasks'] });
    const [{ expected }] = (await query<{ expected: string }>(db.url, 'SELECT (max(id) + 1)::text AS expected FROM tasks')) as [{ expected: string }];
    const [next] = await query<{ tasks: string; projects: string }>(db.url, "SELECT nextval('tasks_id_seq')::text AS tasks, nextval('projects_id_seq')::text AS projects");
    expect(next).toEqual({ tasks: expected, projects: '1001' });
    expect(report.sequencesReset).toBe(1);
  });

  it('takes a PGlite URL as --into and refuses it, naming why, before reading anything', async () => {
    const { db, id, ctx } = await liveDatabase();
    const before = await contents(db.url);
    await expect(restoreInto({ ...ctx, id, into: 'pglite:///tmp/strata-into-nowhere/dev', tables: ['tasks'] })).rejects.toMatchObject({
      code: 'into-single-session',
      message: expect.stringContaining('--into dev'),
    });
    expect(await contents(db.url)).toEqual(before);
  });

  it('refuses a database that does not exist, without showing a password', async () => {
    const { id, ctx } = await liveDatabase();
    const missing = 'strata_test_into_missing_db';
    await expect(restoreInto({ ...ctx, id, into: missing, tables: ['tasks'] })).rejects.toMatchObject({ code: 'database-not-found', exitCode: 3 });
    const url = new URL(ctx.env.databaseUrl);
    url.password = 'sekrit-pw';
    url.pathname = `/${missing}`;
    const failure = await restoreInto({ ...ctx, id, into: url.toString(), tables: ['tasks'] }).catch((error: Error) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(JSON.stringify({ message: (failure as Error).message, hint: (failure as { hint?: string }).hint })).not.toContain('sekrit-pw');
  });
});
