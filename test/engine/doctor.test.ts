// runDoctor as the dashboard and the API call it: against a real PostgreSQL, with the plugin
// lookups handed in, one check per line in order, and the first failure's exit code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runDoctor, type DoctorCheck, type InstalledPlugin } from '../../packages/core/src/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';

const MIGRATION = { '20240101000000_t.mjs': 'export async function up(knex) { await knex.raw("CREATE TABLE t (id int PRIMARY KEY)"); }\nexport async function down() {}\n' };
const installed: InstalledPlugin[] = [{ name: '@strata/plugin-local', version: '0.1.0', type: 'core' }];

let migrated: TestDatabase;
let empty: TestDatabase;
let project: EngineProject;

beforeAll(async () => {
  migrated = await createTestDatabase('doctor_api');
  empty = await createTestDatabase('doctor_api_empty');
  project = await engineProject(MIGRATION);
  await project.migrate(migrated.url);
});

afterAll(async () => {
  await migrated?.drop();
  await empty?.drop();
});

function doctorOn(databaseUrl: string, plugins?: Record<string, string>) {
  const ctx = project.context(databaseUrl);
  const seen: DoctorCheck[] = [];
  const run = runDoctor({
    load: async () => ({ config: project.config, env: { ...ctx.env, ...(plugins ? { plugins } : {}) } }),
    installedPlugins: () => installed,
    openStorage: async () => ctx.storage,
    onCheck: (check) => seen.push(check),
  });
  return { run, seen };
}

describe('runDoctor', () => {
  it('passes every check on a migrated database, reporting each as it completes', async () => {
    const { run, seen } = doctorOn(migrated.url, { '@strata/plugin-local': '^0.1.0' });
    const { report, exitCode } = await run;
    expect(exitCode).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.environment).toBe('test');
    expect(report.checks.map((c) => [c.check, c.status])).toEqual([
      ['config', 'ok'], ['plugins', 'ok'], ['database', 'ok'], ['server', 'ok'], ['migrations', 'ok'], ['storage', 'ok'],
    ]);
    expect(seen).toEqual(report.checks);
    expect(report.checks.find((c) => c.check === 'server')!.detail).toMatch(/^PostgreSQL \d+/);
  });

  it('warns about pending migrations without failing', async () => {
    const { report, exitCode } = await doctorOn(empty.url).run;
    expect(exitCode).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.checks.find((c) => c.check === 'migrations')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^1 pending/) });
  });

  it('fails the database check with its domain exit code and skips what needs it', async () => {
    const { report, exitCode } = await doctorOn('postgres://postgres@127.0.0.1:1/nothing').run;
    expect(report.ok).toBe(false);
    expect(exitCode).toBe(3);
    expect(report.checks.map((c) => [c.check, c.status])).toEqual([
      ['config', 'ok'], ['plugins', 'ok'], ['database', 'fail'], ['server', 'skipped'], ['migrations', 'skipped'], ['storage', 'ok'],
    ]);
  });

  it('reports a config that does not load as the config check, and skips the rest', async () => {
    const { report, exitCode } = await runDoctor({
      load: async () => { throw Object.assign(new Error('The config is invalid.'), { exitCode: 2 }); },
      installedPlugins: () => [],
      openStorage: async () => { throw new Error('not reached'); },
    });
    expect(exitCode).toBe(2);
    expect(report.environment).toBeUndefined();
    expect(report.checks.map((c) => c.status)).toEqual(['fail', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped']);
  });
});
