// strata doctor through the built CLI: one line per check, a warning for pending migrations, and a
// non-zero exit (the first failure's domain) with the whole report under --json.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { describeRun, runStrata, type CliResult } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let migrated: TestDatabase;
let empty: TestDatabase;
let work: string;

function strata(args: string[]): Promise<CliResult> {
  return runStrata([...args, '--config', path.join(work, 'strata.config.json')], {
    cwd: work,
    env: { MIGRATED_URL: migrated.url, EMPTY_URL: empty.url, STRATA_ENV: undefined },
  });
}

beforeAll(async () => {
  migrated = await createTestDatabase('doctor');
  empty = await createTestDatabase('doctor_empty');
  work = await mkdtemp(path.join(os.tmpdir(), 'strata-doctor-'));
  await mkdir(path.join(work, 'migrations'));
  await writeFile(
    path.join(work, 'migrations', '20240101000000_t.mjs'),
    'export async function up(knex) { await knex.raw("CREATE TABLE t (id int PRIMARY KEY)"); }\nexport async function down() {}\n',
  );
  const file = 'file://./snapshots';
  const config = {
    project: 'doc',
    modules: { app: { migrations: './migrations' } },
    environments: {
      good: { database: '${MIGRATED_URL}', storage: file, plugins: { '@strata/plugin-local': '^0.1.0' } },
      pending: { database: '${EMPTY_URL}', storage: file },
      down: { database: 'postgres://postgres:doctor-Secret-7@127.0.0.1:1/nothing', storage: file },
      pinned: { database: '${MIGRATED_URL}', storage: file, plugins: { '@strata/plugin-s3': '^9.0.0' } },
    },
  };
  await writeFile(path.join(work, 'strata.config.json'), JSON.stringify(config, null, 2));
  const up = await strata(['migrate', 'up', '--env', 'good']);
  expect(up.exitCode, describeRun(up)).toBe(0);
});

afterAll(async () => {
  await migrated?.drop();
  await empty?.drop();
  if (work) await rm(work, { recursive: true, force: true });
});

function lines(result: CliResult): string[] {
  return result.stdout.trim().split('\n');
}

describe('strata doctor', () => {
  it('reports every check on its own line and exits 0 when all pass', async () => {
    const result = await strata(['doctor', '--env', 'good']);
    expect(result.exitCode, describeRun(result)).toBe(0);
    expect(lines(result).map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual([
      '✓ config',
      '✓ plugins',
      '✓ database',
      '✓ server',
      '✓ migrations',
      '✓ storage',
    ]);
    expect(result.stdout).toMatch(/server\s+PostgreSQL \d+/);
  });

  it('warns about pending migrations without failing', async () => {
    const result = await strata(['doctor', '--env', 'pending', '--json']);
    expect(result.exitCode, describeRun(result)).toBe(0);
    const report = result.json<{ ok: boolean; checks: Array<{ check: string; status: string; detail: string }> }>();
    expect(report.ok).toBe(true);
    expect(report.checks.find((c) => c.check === 'migrations')).toMatchObject({ status: 'warn', detail: expect.stringContaining('1 pending') });
  });

  it('fails with the database error domain, skips what needs the database, and never shows the password', async () => {
    const result = await strata(['doctor', '--env', 'down']);
    expect(result.exitCode, describeRun(result)).toBe(3);
    expect(result.stdout).toMatch(/^✗ database\s+.*127\.0\.0\.1:1/m);
    expect(result.stdout).toMatch(/^- server\s+needs the database/m);
    expect(result.stdout).toMatch(/^✓ storage/m);
    expect(result.stderr).toMatch(/^Error: 1 check failed: database\.$/m);
    expect(result.stdout + result.stderr).not.toContain('doctor-Secret-7');
  });

  it('reports a plugin outside its range as a failed check, with the install command, under --json', async () => {
    const result = await strata(['doctor', '--env', 'pinned', '--json']);
    expect(result.exitCode, describeRun(result)).toBe(2);
    const body = result.json<{ ok: boolean; checks: Array<{ check: string; status: string; detail: string }>; error: { code: string } }>();
    expect(body.ok).toBe(false);
    expect(body.error.code).toBe('doctor-failed');
    expect(body.checks.find((c) => c.check === 'plugins')).toMatchObject({ status: 'fail', detail: expect.stringContaining('strata plugins install @strata/plugin-s3@"^9.0.0"') });
    expect(body.checks.find((c) => c.check === 'database')?.status).toBe('ok');
  });
});
