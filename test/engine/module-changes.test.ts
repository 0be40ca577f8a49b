import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedConfig } from '../../packages/core/src/index.js';
import { createKnexForTest, restore, snapshot } from './engine-imports.js';
import { createTestDatabase, databaseUrl, dropDatabase, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';

const APP = `
export async function up(knex) { await knex.raw("CREATE TABLE note (id serial PRIMARY KEY, body text); INSERT INTO note (body) VALUES ('kept')"); }
export async function down() {}
`;
const LEGACY = `
export async function up(knex) { await knex.raw("CREATE TABLE legacy_thing (id serial PRIMARY KEY); INSERT INTO legacy_thing DEFAULT VALUES"); }
export async function down() {}
`;
const BILLING = `
export async function up(knex) { await knex.raw("CREATE TABLE invoice (id serial PRIMARY KEY, note_id integer REFERENCES note(id))"); }
export async function down() {}
`;

describe('modules that came or went between snapshot and restore', () => {
  let source: TestDatabase;
  let project: EngineProject;
  const created: string[] = [];

  beforeAll(async () => {
    source = await createTestDatabase('modules');
    project = await engineProject({ '20240101000000_note.mjs': APP });
    const legacyDir = path.join(project.dir, 'legacy');
    await mkdir(legacyDir);
    await writeFile(path.join(legacyDir, '20240102000000_legacy.mjs'), LEGACY);
    project.config.modules.legacy = { migrations: legacyDir };
    await project.migrate(source.url);
  });

  afterAll(async () => {
    for (const name of created) await dropDatabase(name);
    await source?.drop();
  });

  it('skips a removed module\'s tables with a warning and migrates a new module fully', async () => {
    const taken = await snapshot(project.context(source.url));
    expect(Object.keys(taken.manifest.modules).sort()).toEqual(['app', 'legacy']);

    // Today's code base: `legacy` is gone, `billing` is new and depends on app's table.
    const billingDir = path.join(project.dir, 'billing');
    await mkdir(billingDir);
    await writeFile(path.join(billingDir, '20240103000000_invoice.mjs'), BILLING);
    const today: LoadedConfig = { ...project.config, modules: { app: project.config.modules.app!, billing: { migrations: billingDir } } };
    const ctx = { ...project.context(source.url), config: today };

    const target = `${source.name}_r`;
    created.push(target);
    const report = await restore({ ...ctx, id: taken.id, database: target });
    expect(report.plan.skipped.map((s) => s.table)).toEqual(['public.legacy_thing']);
    expect(report.warnings.join('\n')).toMatch(/Module legacy is in the snapshot but no longer in the config/);
    expect(report.warnings.join('\n')).toMatch(/Module billing is not in the snapshot/);
    expect(report.plan.migrationsAfter).toEqual(['billing:20240103000000_invoice.mjs']);

    const knex = createKnexForTest(databaseUrl(source.adminUrl, target));
    try {
      expect(await knex('note').select('body')).toEqual([{ body: 'kept' }]);
      expect(await knex.schema.hasTable('legacy_thing')).toBe(false);
      expect(await knex.schema.hasTable('invoice')).toBe(true);
      const billing = await knex('knex_migrations_billing').select('name');
      expect(billing.map((r) => r.name)).toEqual(['20240103000000_invoice.mjs']);
    } finally {
      await knex.destroy();
    }
  });
});
