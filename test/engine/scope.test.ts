// Tenant-scoped snapshots (`snapshot({ scope: { name, values } })`) on the multi-tenant example of
// test/fixtures/tenants: what a scoped snapshot holds is compared, row by row after a restore into
// a fresh database, with SQL written for that schema alone (expected-capture.ts), never with
// strata's own selection code. Another tenant's rows are never captured: rows whose NOT NULL key
// needs one are left out, nullable references to one come back NULL.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listSnapshots, restore, snapshot, verifySnapshot } from './engine-imports.js';
import { brokenReferences, expectedCapture, tableRows, type ExpectedCrossTenant } from '../fixtures/tenants/expected-capture.js';
import { TENANT_SCOPES, TENANT_TABLES, seedTenants, tenantMigrations, tenantOptionsForRows } from '../fixtures/tenants/seed.mjs';
import { createTestDatabase, databaseUrl, dropDatabase, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';

const SHARED = ['country', 'currency'];
// The seed's small sizes: 4 companies of 12 users, 3 projects × 5 tasks × 4 comments.
const USERS_PER_COMPANY = 12;
const CAPTURED = TENANT_TABLES.filter((t) => t !== 'app_settings');

let source: TestDatabase;
let project: EngineProject;
const created: string[] = [];

async function sql<R extends pg.QueryResultRow = any>(url: string, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

const bare = (name: string) => name.replace(/^public\./, '');

/** Normalised crossTenant entries (no schema, sorted) with a reference count above zero. */
function crossTenantOf(entries: Array<{ table: string; columns: string[]; references: string; rows: number; action: string }>): ExpectedCrossTenant[] {
  return entries
    .filter((e) => e.rows > 0)
    .map((e) => ({ table: bare(e.table), columns: [...e.columns], references: bare(e.references), rows: e.rows, action: e.action as ExpectedCrossTenant['action'] }))
    .sort((a, b) => `${a.table}.${a.columns}`.localeCompare(`${b.table}.${b.columns}`));
}

beforeAll(async () => {
  source = await createTestDatabase('scope');
  project = await engineProject(await tenantMigrations(), {
    scopes: {
      ...TENANT_SCOPES,
      companyById: { table: 'company', shared: SHARED },
      byPlan: { table: 'company', key: 'plan', shared: [] },
      byTag: { table: 'task_tags', shared: [] },
      ghost: { table: 'no_such_table', key: 'id', shared: [] },
      badShared: { table: 'company', key: 'name', shared: ['no_such_lookup'] },
      sharedProjects: { table: 'company', key: 'name', shared: ['country', 'projects'] },
    },
  });
  await project.migrate(source.url);
  await seedTenants(source.url);
  const U = USERS_PER_COMPANY;
  // Deliberate extras on top of the seed: a manager cycle across two companies (Acme user 5 ↔
  // Globex user 5), and Acme's task 1 assigned to a Globex user who wrote a comment on an Acme
  // task (nulled in Acme's snapshot, kept in Acme and Globex's).
  await sql(source.url, `UPDATE users SET manager_id = $2 WHERE id = $1`, [5, U + 5]);
  await sql(source.url, `UPDATE users SET manager_id = $2 WHERE id = $1`, [U + 5, 5]);
  await sql(
    source.url,
    `UPDATE tasks SET assignee_id = (
        SELECT min(c.author_id) FROM comments c JOIN tasks t ON t.id = c.task_id JOIN projects p ON p.id = t.project_id
         JOIN users u ON u.id = c.author_id WHERE p.company_id = 1 AND u.company_id = 2)
      WHERE id = 1`,
  );
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  await source?.drop();
});

/** Snapshot of `values` of scope `name`, restored into a fresh database; returns both and the database's URL. */
async function captureAndRestore(name: string, values: string[], label: string) {
  const ctx = project.context(source.url);
  const taken = await snapshot({ ...ctx, scope: { name, values } });
  const database = `${source.name}_${label}`;
  created.push(database);
  const report = await restore({ ...ctx, id: taken.id, database });
  return { ctx, taken, report, url: databaseUrl(source.adminUrl, database) };
}

describe('scoped snapshot of one company', () => {
  let run: Awaited<ReturnType<typeof captureAndRestore>>;
  let expected: Awaited<ReturnType<typeof expectedCapture>>;

  beforeAll(async () => {
    expected = await expectedCapture(source.url, [1]);
    run = await captureAndRestore('company', ['Acme'], 'acme');
  });

  it('the fixture has what the test is about: cross-tenant references both ways, cycles, reply chains', async () => {
    // Without these the other assertions would pass on a schema with nothing to get wrong.
    const kinds = expected.crossTenant.map((e) => `${e.table}.${e.columns[0]}:${e.action}`);
    expect(kinds).toEqual(
      expect.arrayContaining(['comments.author_id:excluded', 'comments.task_id:excluded', 'tasks.assignee_id:nulled', 'comments.parent_id:nulled', 'users.manager_id:nulled']),
    );
    const [{ n: cycles }] = await sql(source.url, 'SELECT count(*)::int AS n FROM users a JOIN users b ON b.id = a.manager_id WHERE b.manager_id = a.id');
    expect(cycles).toBeGreaterThan(0);
    const [{ n: replies }] = await sql(source.url, 'SELECT count(*)::int AS n FROM comments c JOIN comments p ON p.id = c.parent_id WHERE p.parent_id IS NOT NULL');
    expect(replies).toBeGreaterThan(0);
  });

  it('records the scope: root, key, values, shared tables, the unrelated table left out', () => {
    const scope = run.taken.manifest.scope;
    expect(scope).toMatchObject({ kind: 'tenant', name: 'company', key: 'name', values: ['Acme'] });
    if (scope?.kind !== 'tenant') throw new Error('not a tenant scope');
    expect(bare(scope.table)).toBe('company');
    expect(scope.shared.map(bare).sort()).toEqual(SHARED);
    expect(scope.leftOut.map(bare)).toEqual(['app_settings']);
    expect(run.taken.manifest.tables.map((t) => t.name).sort()).toEqual([...CAPTURED].sort());
  });

  it('holds exactly the rows the spec gives, table by table, in the manifest and after a restore', async () => {
    const counts = Object.fromEntries(run.taken.manifest.tables.map((t) => [t.name, t.rows]));
    expect(counts).toEqual(Object.fromEntries(CAPTURED.map((t) => [t, expected.rows[t]!.length])));
    const restored = await tableRows(run.url, CAPTURED);
    for (const table of CAPTURED) expect(restored[table], table).toEqual(expected.rows[table]);
    expect(await tableRows(run.url, ['app_settings'])).toEqual({ app_settings: [] });
  });

  it('holds no row of any other company', async () => {
    const [foreign] = await sql(
      run.url,
      `SELECT (SELECT count(*)::int FROM company WHERE id <> 1) AS company,
              (SELECT count(*)::int FROM users WHERE company_id <> 1) AS users,
              (SELECT count(*)::int FROM projects WHERE company_id <> 1) AS projects,
              (SELECT count(*)::int FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.company_id <> 1) AS tasks,
              (SELECT count(*)::int FROM comments c JOIN users u ON u.id = c.author_id WHERE u.company_id <> 1) AS comments,
              (SELECT count(*)::int FROM priority WHERE label = 'unused') AS unused_priority`,
    );
    expect(foreign).toEqual({ company: 0, users: 0, projects: 0, tasks: 0, comments: 0, unused_priority: 0 });
    // The comments Globex users wrote on Acme's tasks are left out, and the source has some.
    const [{ n }] = await sql(
      source.url,
      `SELECT count(*)::int AS n FROM comments c JOIN users u ON u.id = c.author_id JOIN tasks t ON t.id = c.task_id
         JOIN projects p ON p.id = t.project_id WHERE p.company_id = 1 AND u.company_id <> 1`,
    );
    expect(n).toBeGreaterThan(0);
  });

  it('nulls the nullable references into other tenants and reports what it nulled and left out', async () => {
    const [task1] = await sql(source.url, 'SELECT assignee_id FROM tasks WHERE id = 1');
    expect(task1!.assignee_id).toBeGreaterThan(USERS_PER_COMPANY);
    expect(await sql(run.url, 'SELECT assignee_id FROM tasks WHERE id = 1')).toEqual([{ assignee_id: null }]);
    // Every assignment the restore lost pointed at a user of another company who is not in the snapshot.
    const restoredTasks = await sql(run.url, 'SELECT id, assignee_id FROM tasks');
    const sourceTasks = await sql(source.url, 'SELECT t.id, t.assignee_id, u.company_id FROM tasks t LEFT JOIN users u ON u.id = t.assignee_id WHERE t.id = ANY($1)', [
      restoredTasks.map((t) => t.id),
    ]);
    const restoredUsers = new Set((await sql(run.url, 'SELECT id FROM users')).map((u) => u.id));
    const lost = sourceTasks.filter((t) => t.assignee_id !== null && restoredTasks.find((r) => r.id === t.id)!.assignee_id === null);
    expect(lost.length).toBeGreaterThan(0);
    for (const task of lost) {
      expect(task.company_id, `task ${task.id}`).not.toBe(1);
      expect(restoredUsers.has(task.assignee_id), `task ${task.id}`).toBe(false);
    }
    expect(restoredTasks.filter((t) => t.assignee_id !== null).every((t) => restoredUsers.has(t.assignee_id))).toBe(true);

    const scope = run.taken.manifest.scope;
    if (scope?.kind !== 'tenant') throw new Error('not a tenant scope');
    expect(crossTenantOf(scope.crossTenant)).toEqual(crossTenantOf(expected.crossTenant));
    for (const entry of expected.crossTenant) {
      expect(
        run.ctx.warnings.some((w) => w.includes(entry.table) && w.includes(entry.columns[0]!)),
        `no warning names ${entry.table}.${entry.columns[0]}: ${run.ctx.warnings.join(' | ')}`,
      ).toBe(true);
    }
  });

  it('verifies like any snapshot: every data file matches its checksum and row count', async () => {
    const verified = await verifySnapshot(run.ctx, run.taken.id);
    expect(verified.ok).toBe(true);
    expect(verified.tables.map((t) => [t.table.replace(/^public\./, ''), t.rows]).sort()).toEqual(
      CAPTURED.map((t) => [t, expected.rows[t]!.length]).sort(),
    );
  });

  it('restores with every foreign key rebuilt and valid', async () => {
    expect(await brokenReferences(run.url)).toEqual([]);
    const constraints = await sql(run.url, `SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace`);
    expect(constraints).toHaveLength(13);
    expect(constraints.every((c) => c.convalidated)).toBe(true);
  });

  it('terminates on cycles: the manager cycle, the cross-company one, reply chains', async () => {
    const U = USERS_PER_COMPANY;
    // Acme user 5's manager is Globex user 5, another tenant's row: NULL.
    const managers = await sql(run.url, 'SELECT id, manager_id FROM users WHERE id = ANY($1) ORDER BY id', [[1, 2, 5, U + 5]]);
    expect(managers).toEqual([
      { id: 1, manager_id: 2 },
      { id: 2, manager_id: 1 },
      { id: 5, manager_id: null },
    ]);
    const [{ depth }] = await sql(
      run.url,
      `WITH RECURSIVE chain(id, parent_id, depth) AS (
         SELECT id, parent_id, 1 FROM comments WHERE parent_id IS NULL
         UNION ALL SELECT c.id, c.parent_id, chain.depth + 1 FROM comments c JOIN chain ON c.parent_id = chain.id)
       SELECT max(depth)::int AS depth FROM chain`,
    );
    expect(depth).toBe(4);
  });
});

describe('scoped snapshot of two companies', () => {
  it('holds the union of both, with what is owned by either one no longer cross-tenant', async () => {
    const expected = await expectedCapture(source.url, [1, 2]);
    const run = await captureAndRestore('company', ['Acme', 'Globex'], 'two');
    const scope = run.taken.manifest.scope;
    expect(scope).toMatchObject({ kind: 'tenant', name: 'company', values: ['Acme', 'Globex'] });
    const restored = await tableRows(run.url, CAPTURED);
    for (const table of CAPTURED) expect(restored[table], table).toEqual(expected.rows[table]);
    expect(await brokenReferences(run.url)).toEqual([]);
    if (scope?.kind !== 'tenant') throw new Error('not a tenant scope');
    expect(crossTenantOf(scope.crossTenant)).toEqual(crossTenantOf(expected.crossTenant));
    // Globex users' comments on Acme tasks, task 1's Globex assignee and the cross-company manager
    // cycle are all inside the scope now: kept.
    const [{ n: globexOnAcme }] = await sql(
      run.url,
      `SELECT count(*)::int AS n FROM comments c JOIN users u ON u.id = c.author_id JOIN tasks t ON t.id = c.task_id
         JOIN projects p ON p.id = t.project_id WHERE p.company_id = 1 AND u.company_id = 2`,
    );
    expect(globexOnAcme).toBeGreaterThan(0);
    expect(await sql(run.url, 'SELECT assignee_id FROM tasks WHERE id = 1')).toEqual(await sql(source.url, 'SELECT assignee_id FROM tasks WHERE id = 1'));
    const managers = await sql(run.url, 'SELECT id, manager_id FROM users WHERE id = ANY($1) ORDER BY id', [[5, USERS_PER_COMPANY + 5]]);
    expect(managers).toEqual([
      { id: 5, manager_id: USERS_PER_COMPANY + 5 },
      { id: USERS_PER_COMPANY + 5, manager_id: 5 },
    ]);
  });

  it('takes the primary key as the key when the scope names none', async () => {
    const expected = await expectedCapture(source.url, [3]);
    const ctx = project.context(source.url);
    const taken = await snapshot({ ...ctx, scope: { name: 'companyById', values: ['3'] } });
    expect(taken.manifest.scope).toMatchObject({ kind: 'tenant', key: 'id', values: ['3'] });
    const counts = Object.fromEntries(taken.manifest.tables.map((t) => [t.name, t.rows]));
    expect(counts).toEqual(Object.fromEntries(CAPTURED.map((t) => [t, expected.rows[t]!.length])));
  });
});

describe('a company with nothing below it', () => {
  it('lists every tenant table and the reachable lookup with 0 rows, and restores', async () => {
    await sql(source.url, "INSERT INTO company (id, name, plan) VALUES (1000, 'Empty Co', 'free')");
    const run = await captureAndRestore('company', ['Empty Co'], 'empty');
    const counts = Object.fromEntries(run.taken.manifest.tables.map((t) => [t.name, t.rows]));
    const [lookups] = await sql(source.url, 'SELECT (SELECT count(*)::int FROM country) AS country, (SELECT count(*)::int FROM currency) AS currency');
    expect(counts).toEqual({ ...lookups, company: 1, users: 0, projects: 0, tasks: 0, comments: 0, task_tags: 0, priority: 0 });
    expect(await tableRows(run.url, ['company'])).toEqual({ company: [JSON.stringify({ id: 1000, name: 'Empty Co', plan: 'free', country_id: null })] });
    if (run.taken.manifest.scope?.kind !== 'tenant') throw new Error('not a tenant scope');
    expect(run.taken.manifest.scope.crossTenant).toEqual([]);
    expect(run.ctx.warnings.filter((w) => /tenant/i.test(w))).toEqual([]);
  });
});

describe('one company out of a hundred', () => {
  let many: TestDatabase;
  beforeAll(async () => {
    many = await createTestDatabase('scope_many');
    await project.migrate(many.url);
    // 200,000 rows: big enough that reading a whole tenant table costs more than its index lookups.
    await seedTenants(many.url, tenantOptionsForRows(200_000, 100));
  });
  afterAll(async () => {
    await many?.drop();
  });

  it('reads the large tenant tables through their indexes: no sequential scan of them', async () => {
    // company (100 rows) and priority (4) fit in a page or two, where a sequential scan is the
    // cheaper read.
    const tenantTables = ['users', 'projects', 'tasks', 'comments', 'task_tags'];
    const scans = async () => {
      const rows = await sql(many.url, 'SELECT relname, seq_scan::int AS n FROM pg_stat_user_tables WHERE relname = ANY($1)', [tenantTables]);
      return Object.fromEntries(rows.map((r) => [r.relname, r.n])) as Record<string, number>;
    };
    /** Counters after an operation, waiting (up to 2 s) for them to move away from `previous`. */
    const scansAfter = async (previous: Record<string, number>) => {
      let now = await scans();
      for (let i = 0; i < 20 && JSON.stringify(now) === JSON.stringify(previous); i++) {
        await new Promise((r) => setTimeout(r, 100));
        now = await scans();
      }
      return now;
    };
    // The seed's connections report their own scans when they end: wait until the counters settle.
    let before = await scans();
    for (let i = 0, settled = 0; i < 40 && settled < 5; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const now = await scans();
      settled = JSON.stringify(now) === JSON.stringify(before) ? settled + 1 : 0;
      before = now;
    }
    const ctx = project.context(many.url);
    const taken = await snapshot({ ...ctx, scope: { name: 'company', values: ['tenant-0050'] } });
    expect(taken.manifest.tables.find((t) => t.name === 'comments')!.rows).toBeGreaterThan(0);
    // The capture's connections are closed once it returns; a backend reports its counters when it ends.
    const after = await scansAfter(before);
    expect(after).toEqual(before);
    // The probe sees scans: a whole capture reads every table sequentially.
    await snapshot(ctx);
    const whole = await scansAfter(after);
    for (const table of tenantTables) expect(whole[table], table).toBeGreaterThan(after[table]!);
  });
});

describe('scope errors', () => {
  const cases: Array<[string, { name: string; values: string[] }, Record<string, unknown>, RegExp[]]> = [
    ['an unknown scope', { name: 'department', values: ['x'] }, { code: 'scope-unknown' }, [/department/]],
    ['a value with no root row', { name: 'company', values: ['Nobody Inc'] }, { code: 'scope-root-not-found' }, [/company/, /name/, /Nobody Inc/]],
    ['one of two values with no root row', { name: 'company', values: ['Acme', 'Nobody Inc'] }, { code: 'scope-root-not-found' }, [/Nobody Inc/]],
    ['a key that is not unique', { name: 'byPlan', values: ['pro'] }, { code: 'scope-key-not-unique' }, [/plan/]],
    ['an unknown root table', { name: 'ghost', values: ['1'] }, { code: 'scope-table-unknown' }, [/no_such_table/]],
    ['an unknown shared table', { name: 'badShared', values: ['Acme'] }, { code: 'scope-table-unknown' }, [/no_such_lookup/]],
    ['a shared table with a NOT NULL key into the tenant tables', { name: 'sharedProjects', values: ['Acme'] }, { code: 'scope-invalid' }, [/projects/]],
  ];

  it.each(cases)('%s: a ConfigError with its code and a hint, and no snapshot', async (_label, scope, shape, patterns) => {
    const ctx = project.context(source.url);
    const before = (await listSnapshots(ctx)).length;
    const error = await snapshot({ ...ctx, scope }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ name: 'ConfigError', exitCode: 2, ...shape });
    const { message, hint } = error as { message: string; hint?: string };
    for (const pattern of patterns) expect(message).toMatch(pattern);
    expect(message.trim().split(/(?<=\.)\s+(?=[A-Z])/)).toHaveLength(1);
    expect(hint).toMatch(/\S/);
    expect((await listSnapshots(ctx)).length).toBe(before);
  });

  it("the unknown scope's hint lists the config's scopes", async () => {
    const ctx = project.context(source.url);
    await expect(snapshot({ ...ctx, scope: { name: 'department', values: ['x'] } })).rejects.toMatchObject({ hint: expect.stringContaining('company') });
  });

  it('a root without a single-column primary key and no key: a ConfigError asking for `key`', async () => {
    const ctx = project.context(source.url);
    const before = (await listSnapshots(ctx)).length;
    await expect(snapshot({ ...ctx, scope: { name: 'byTag', values: ['x'] } })).rejects.toMatchObject({ name: 'ConfigError', message: expect.stringMatching(/key/) });
    expect((await listSnapshots(ctx)).length).toBe(before);
  });

  it('--scope with tables: invalid-arguments', async () => {
    const ctx = project.context(source.url);
    const before = (await listSnapshots(ctx)).length;
    await expect(snapshot({ ...ctx, scope: { name: 'company', values: ['Acme'] }, tables: ['users'] })).rejects.toMatchObject({
      name: 'ConfigError',
      code: 'invalid-arguments',
    });
    expect((await listSnapshots(ctx)).length).toBe(before);
  });
});
