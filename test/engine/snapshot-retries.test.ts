// snapshot({ retries }): a capture that fails for a reason that may pass is tried again with a
// doubling delay, and ends with the last attempt's error; one that cannot pass is not retried.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listSnapshots, snapshot } from './engine-imports.js';
import { createTestDatabase, queryAt, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';

let source: TestDatabase;
let project: EngineProject;

beforeAll(async () => {
  source = await createTestDatabase('retries');
  project = await engineProject({
    '20240101000000_schema.mjs': 'export async function up(knex) { await knex.raw("CREATE TABLE t (id int PRIMARY KEY)"); }\nexport async function down() {}\n',
  });
  await project.migrate(source.url);
});

afterAll(async () => {
  await source?.drop();
});

describe('snapshot retries', () => {
  it('retries an unreachable server with a doubling delay, then fails with its error', async () => {
    const unreachable = 'postgres://postgres@127.0.0.1:1/nothing';
    const ctx = project.context(unreachable);
    const started = Date.now();
    await expect(snapshot({ ...ctx, env: { ...ctx.env, databaseUrl: unreachable }, retries: 2, retryDelayMs: 100 })).rejects.toMatchObject({ exitCode: 3 });
    // Two waits: 100 ms, then 200 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(ctx.warnings).toHaveLength(2);
    expect(ctx.warnings[0]).toMatch(/^Snapshot attempt 1 of 3 failed: .+ Retrying in 100 ms\.$/);
    expect(ctx.warnings[1]).toMatch(/^Snapshot attempt 2 of 3 failed: .+ Retrying in 200 ms\.$/);
    expect(await listSnapshots(project.context(source.url))).toEqual([]);
  });

  it('does not retry a failure that cannot pass (an interrupted capture)', async () => {
    const controller = new AbortController();
    controller.abort();
    const ctx = project.context(source.url, { signal: controller.signal });
    await expect(snapshot({ ...ctx, retries: 3, retryDelayMs: 10_000 })).rejects.toMatchObject({ code: 'aborted' });
    expect(ctx.warnings).toEqual([]);
  });

  it('does not retry a statement the server cut off at statement_timeout: it would fail the same way again', async () => {
    // A million rows take well over a second to stream through the compressor, and 200 ms leave
    // room for the session's set-up on a loaded machine. A limit of 1 ms is not a test of this:
    // PostgreSQL may then report the timeout between the statements of the set-up query as
    // "canceling statement due to user request", which no client can tell from pg_cancel_backend.
    await queryAt(source.url, 'CREATE TABLE IF NOT EXISTS wide AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 1000000) g');
    const limited = `${source.url}${source.url.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c statement_timeout=200')}`;
    const ctx = project.context(limited);
    await expect(snapshot({ ...ctx, env: { ...ctx.env, databaseUrl: limited }, retries: 2, retryDelayMs: 10 })).rejects.toMatchObject({ code: 'database-statement-timeout', exitCode: 3 });
    expect(ctx.warnings.filter((w) => w.includes('Retrying'))).toEqual([]);
    await queryAt(source.url, 'DROP TABLE wide');
  });

  it('succeeds on the first attempt without waiting', async () => {
    const ctx = project.context(source.url);
    const taken = await snapshot({ ...ctx, retries: 2, retryDelayMs: 60_000 });
    expect((await listSnapshots(ctx)).map((s) => s.id)).toContain(taken.id);
    expect(ctx.warnings).toEqual([]);
  });
});
