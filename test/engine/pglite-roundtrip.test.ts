// PGlite as a real source and target (issue 7): a snapshot of a PostgreSQL server restores into a
// new PGlite directory, and a snapshot of a PGlite directory restores into a new server database,
// with every value of the types fixture identical (`t::text` of each row, as PostgreSQL prints it).
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { driverFor } from '../../packages/core/src/db/drivers.js';
import { restore, snapshot } from './engine-imports.js';
import { createTestDatabase, databaseUrl, dropDatabase, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';
import { TYPES_DATA, TYPES_SCHEMA } from '../fixtures/types-schema.js';

const TABLES = ['everything', 'person', 'team', 'audit'];

/** Every row of `table` as PostgreSQL's text of the row, in id order, through strata's own driver. */
async function rowsAsText(url: string, table: string): Promise<string[]> {
  const session = await driverFor(url).connect(url);
  try {
    const { rows } = await session.query<{ t: string }>(`SELECT t::text AS t FROM ${table} t ORDER BY id`);
    return rows.map((r) => r.t);
  } finally {
    await session.close();
  }
}

async function run(url: string, sql: string): Promise<void> {
  const session = await driverFor(url).connect(url);
  try {
    await session.query(sql);
  } finally {
    await session.close();
  }
}

describe('PGlite as a source and a target', () => {
  let server: TestDatabase;
  let project: EngineProject;
  let dir: string;
  const created: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'strata-pglite-'));
    server = await createTestDatabase('pglite_rt');
    project = await engineProject({ '20240101000000_schema.mjs': TYPES_SCHEMA }, { exclude: ['session_cache'] });
    await project.migrate(server.url);
    await run(server.url, TYPES_DATA);
  }, 120_000);

  afterAll(async () => {
    for (const name of created) await dropDatabase(name);
    await server?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('restores a server snapshot into a new PGlite directory with identical values', async () => {
    const ctx = project.context(server.url);
    const taken = await snapshot(ctx);
    const target = `pglite://${path.join(dir, 'from_server')}`;
    const report = await restore({ ...ctx, id: taken.id, targetUrl: target });
    expect(report.database).toBe('from_server');
    expect((await stat(path.join(dir, 'from_server'))).isDirectory()).toBe(true);
    for (const table of TABLES) expect(await rowsAsText(target, table), table).toEqual(await rowsAsText(server.url, table));
    // Keys were rebuilt and hold on PGlite too.
    await expect(run(target, 'UPDATE person SET team_id = 999 WHERE id = 1')).rejects.toThrow(/foreign key/);
  }, 120_000);

  it('snapshots a PGlite directory and restores it into a new server database with identical values', async () => {
    const source = `pglite://${path.join(dir, 'source')}`;
    await project.migrate(source);
    await run(source, TYPES_DATA);
    const ctx = project.context(source);
    const taken = await snapshot(ctx);
    expect(taken.manifest.source.serverVersion).toMatch(/^1[89]/);
    const target = `${server.name}_from_pglite`;
    created.push(target);
    await restore({ ...ctx, id: taken.id, targetUrl: databaseUrl(server.adminUrl, target) });
    const targetUrl = databaseUrl(server.adminUrl, target);
    for (const table of TABLES) expect(await rowsAsText(targetUrl, table), table).toEqual(await rowsAsText(source, table));
    // And the PGlite rows equal the server source's: the two engines agree on every value.
    for (const table of TABLES) expect(await rowsAsText(source, table), table).toEqual(await rowsAsText(server.url, table));
  }, 120_000);
});
