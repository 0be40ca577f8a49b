// strata promote through the built CLI, as a CI job would run it (no terminal): prod's shop into
// a new staging database, copied to staging's own storage, masked because staging requires it,
// with an excluded table left empty and the staging hooks run (a shell command before the
// restore, a SQL file on the restored database before it takes its name). A failing hook stops
// the promotion and leaves no database.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { seedShop } from '../../examples/shop/seed.js';
import { describeRun, REPO_ROOT, runStrata, type CliResult } from '../support/cli.js';
import { createTestDatabase, databaseUrl, dropDatabase, type TestDatabase } from '../support/database.js';
import { SHOP_MIGRATIONS, SHOP_MODULES, databaseExists, listFiles, query, restoreLeftovers } from './shop-fixture.js';

const run = promisify(execFile);
const SALT = 'promote-e2e-Salt-2f7c9e41';
let source: TestDatabase;
let work: string;
let hookServer: http.Server;
let webhookUrl: string;
const events: Array<Record<string, any>> = [];
const created: string[] = [];

function strata(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runStrata([...args, '--config', path.join(work, 'strata.config.json')], {
    cwd: work,
    env: {
      SOURCE_DATABASE_URL: source.url,
      STAGING_DATABASE_URL: databaseUrl(inject('adminDatabaseUrl'), 'postgres'),
      STRATA_ANON_SALT: SALT,
      WEBHOOK_URL: webhookUrl,
      STRATA_ENV: undefined,
      ...env,
    },
  });
}

function newDatabase(label: string): string {
  const name = `strata_test_promote_${label}_${Date.now()}`;
  created.push(name);
  return name;
}

beforeAll(async () => {
  hookServer = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      events.push(JSON.parse(body).event);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
  webhookUrl = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/promotions`;
  source = await createTestDatabase('promote');
  work = await mkdtemp(path.join(os.tmpdir(), 'strata-promote-'));
  await writeFile(
    path.join(work, 'scrub.sql'),
    "UPDATE orders SET notes = NULL;\nINSERT INTO categories (slug, label, path) VALUES ('from-hook', 'Added by the hook', 'from-hook');\n" +
      // The name the database will have, not the temporary one it has while the hooks run.
      "INSERT INTO categories (slug, label, path) VALUES ('hook-saw', current_setting('strata.database_name') || ' / ' || current_database(), 'hook-saw');\n",
  );
  await writeFile(path.join(work, 'broken.sql'), 'UPDATE no_such_table SET x = 1;\n');
  // The hook's own session is ended under it, as a server restart or an administrator would.
  await writeFile(path.join(work, 'lost.sql'), 'SELECT pg_terminate_backend(pg_backend_pid());\n');
  const modules = Object.fromEntries(SHOP_MODULES.map((m) => [m, { migrations: path.join(SHOP_MIGRATIONS, m) }]));
  const base = {
    project: 'shop',
    modules,
    exclude: ['sessions'],
    anonymize: { salt: '${STRATA_ANON_SALT}', tables: { customers: { email: 'email', first_name: 'firstName', last_name: 'lastName', signup_ip: 'ip' } } },
  };
  const staging = {
    database: '${STAGING_DATABASE_URL}',
    storage: 'file://./staging-snapshots',
    requireAnonymized: true,
    restore: { exclude: ['order_audit'] },
    notify: [{ type: 'webhook', url: '${WEBHOOK_URL}' }],
    hooks: {
      beforeRestore: [{ run: 'printf "%s %s %s" "$STRATA_ENV" "$STRATA_SNAPSHOT_ID" "$STRATA_DATABASE_URL" > before-restore.txt' }],
      afterRestore: ['scrub.sql', { run: 'printf "%s" "$STRATA_DATABASE_NAME" > after-restore.txt' }],
    },
  };
  const config = {
    ...base,
    environments: {
      prod: { database: '${SOURCE_DATABASE_URL}', storage: 'file://./prod-snapshots' },
      staging,
      'staging-broken': { ...staging, hooks: { afterRestore: ['broken.sql'] } },
      'staging-lost': { ...staging, hooks: { afterRestore: ['lost.sql'] } },
      // Shares prod's storage: the snapshot is read where it is, not copied.
      'staging-shared': { database: '${STAGING_DATABASE_URL}', storage: 'file://./prod-snapshots', requireAnonymized: true },
    },
  };
  await writeFile(path.join(work, 'strata.config.json'), JSON.stringify(config, null, 2));
  const up = await strata(['migrate', 'up', '--env', 'prod']);
  expect(up.exitCode, describeRun(up)).toBe(0);
  await seedShop(source.url);
});

afterAll(async () => {
  await new Promise<void>((resolve) => hookServer?.close(() => resolve()));
  for (const name of created) await dropDatabase(name);
  await source?.drop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('strata promote', () => {
  it('dry run: prints the plan and creates nothing', async () => {
    const take = await strata(['snapshot', '--env', 'prod']);
    expect(take.exitCode, describeRun(take)).toBe(0);
    const name = newDatabase('dry');
    const result = await strata(['promote', '--from', 'prod', '--to', 'staging', '--database', name, '--dry-run']);
    expect(result.exitCode, describeRun(result)).toBe(0);
    expect(result.stdout).toMatch(/Plan: promote snapshot \S+ of prod to staging\./);
    expect(result.stdout).toMatch(/copied to file:/);
    expect(result.stdout).toMatch(/left empty: order_audit/);
    expect(await databaseExists(inject('adminDatabaseUrl'), name)).toBe(false);
    expect(await listFiles(path.join(work, 'staging-snapshots')).catch(() => [])).toEqual([]);
  });

  it('promotes a fresh snapshot: copied, masked, excluded table empty, hooks run', async () => {
    const name = newDatabase('ok');
    const result = await strata(['promote', '--from', 'prod', '--to', 'staging', '--fresh', '--database', name, '--json']);
    expect(result.exitCode, describeRun(result)).toBe(0);
    const body = result.json<{ snapshotId: string; taken: boolean; copy: string; anonymized: boolean; hooks: { beforeRestore: string[]; afterRestore: string[] } }>();
    expect(body).toMatchObject({ taken: true, copy: 'copied', anonymized: true });
    expect(body.hooks.beforeRestore).toHaveLength(1);
    expect(body.hooks.afterRestore).toEqual(['hooks.afterRestore[0] (sql scrub.sql)', 'hooks.afterRestore[1] (run printf "%s" "$STRATA_DATABASE_NAME" > after-restore.txt)']);

    const url = databaseUrl(inject('adminDatabaseUrl'), name);
    const originals = await query<{ email: string }>(source.url, 'SELECT email FROM customers ORDER BY id');
    const masked = await query<{ email: string }>(url, 'SELECT email FROM customers ORDER BY id');
    expect(masked).toHaveLength(originals.length);
    expect(masked.some((m, i) => m.email === originals[i]!.email)).toBe(false);
    expect(await query(url, 'SELECT count(*)::int AS n FROM order_audit')).toEqual([{ n: 0 }]);
    expect(await query(url, 'SELECT count(*)::int AS n FROM orders WHERE notes IS NOT NULL')).toEqual([{ n: 0 }]);
    expect(await query(url, "SELECT label FROM categories WHERE slug = 'from-hook'")).toEqual([{ label: 'Added by the hook' }]);
    // Both afterRestore steps were told the lasting name while they worked on the database under its temporary one.
    const [saw] = await query<{ label: string }>(url, "SELECT label FROM categories WHERE slug = 'hook-saw'");
    const [lasting, temporary] = saw!.label.split(' / ');
    expect(lasting).toBe(name);
    expect(temporary).toMatch(/^strata_tmp_/);
    expect(await readFile(path.join(work, 'after-restore.txt'), 'utf8')).toBe(name);

    // The beforeRestore command saw the target environment, the snapshot and staging's current database.
    const seen = (await readFile(path.join(work, 'before-restore.txt'), 'utf8')).split(' ');
    expect(seen[0]).toBe('staging');
    expect(seen[1]).toBe(body.snapshotId);
    expect(seen[2]).toMatch(/\/postgres$/);
    // The team heard of it: one promote event, from prod to staging.
    expect(events.filter((e) => e.operation === 'promote' && e.snapshotId === body.snapshotId)).toMatchObject([
      { outcome: 'succeeded', environment: 'staging', fromEnvironment: 'prod', database: name },
    ]);
    // The snapshot now lists in staging's own storage.
    const list = await strata(['list', '--env', 'staging', '--json']);
    expect(list.json<Array<{ id: string }>>().map((s) => s.id)).toContain(body.snapshotId);
  });

  it('a failing afterRestore hook stops the promotion, names the hook, and leaves no database', async () => {
    const name = newDatabase('broken');
    const result = await strata(['promote', '--from', 'prod', '--to', 'staging-broken', '--database', name]);
    expect(result.exitCode, describeRun(result)).toBe(7);
    expect(result.stderr).toMatch(/Error: The promotion stopped: hooks\.afterRestore\[0\] \(sql broken\.sql\) failed: .*no_such_table/);
    expect(await restoreLeftovers(inject('adminDatabaseUrl'), name)).toEqual([]);
    expect(events.at(-1)).toMatchObject({ operation: 'promote', outcome: 'failed', environment: 'staging-broken', error: { code: 'hook-failed' } });
  });

  it('a connection lost inside an afterRestore SQL hook is a lost connection (exit 3), not a failed hook, and leaves no database', async () => {
    const name = newDatabase('lost');
    const result = await strata(['promote', '--from', 'prod', '--to', 'staging-lost', '--database', name, '--json']);
    expect(result.exitCode, describeRun(result)).toBe(3);
    expect(result.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: 'database-connection-lost', message: expect.stringMatching(/^The connection to PostgreSQL at .+ was lost/) });
    expect(await restoreLeftovers(inject('adminDatabaseUrl'), name)).toEqual([]);
  });

  it('the example promotion script does the same through the API', async () => {
    const name = newDatabase('script');
    const script = path.join(REPO_ROOT, 'examples/shop/scripts/promote.ts');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', script, '--config', path.join(work, 'strata.config.json'), '--from', 'prod', '--to', 'staging', '--database', name], {
      cwd: REPO_ROOT, // where `--import tsx` resolves
      env: { ...process.env, SOURCE_DATABASE_URL: source.url, STAGING_DATABASE_URL: databaseUrl(inject('adminDatabaseUrl'), 'postgres'), STRATA_ANON_SALT: SALT },
    });
    const printed = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(printed).toMatchObject({ database: name });
    expect(printed.rows).toBeGreaterThan(0);
    const emails = await query<{ email: string }>(databaseUrl(inject('adminDatabaseUrl'), name), 'SELECT email FROM customers');
    const originals = new Set((await query<{ email: string }>(source.url, 'SELECT email FROM customers')).map((r) => r.email));
    expect(emails.length).toBe(originals.size);
    expect(emails.filter((e) => originals.has(e.email))).toEqual([]);
  });

  it('reads the snapshot in place when both environments share a storage', async () => {
    const name = newDatabase('shared');
    const before = await listFiles(path.join(work, 'prod-snapshots'));
    const result = await strata(['promote', '--from', 'prod', '--to', 'staging-shared', '--database', name, '--json']);
    expect(result.exitCode, describeRun(result)).toBe(0);
    expect(result.json()).toMatchObject({ copy: 'shared', anonymized: true });
    expect((await listFiles(path.join(work, 'prod-snapshots'))).sort()).toEqual(before.sort());
    expect(await query(databaseUrl(inject('adminDatabaseUrl'), name), 'SELECT count(*)::int AS n FROM customers')).toEqual(
      await query(source.url, 'SELECT count(*)::int AS n FROM customers'),
    );
  });

  it('refuses to promote an environment into itself', async () => {
    const result = await strata(['promote', '--from', 'prod', '--to', 'prod']);
    expect(result.exitCode, describeRun(result)).toBe(2);
    expect(result.stderr).toContain('Cannot promote environment "prod" into itself.');
  });
});
