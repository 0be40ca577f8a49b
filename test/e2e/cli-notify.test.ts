// The environment's notify targets hear how snapshot and restore end, through the built CLI and
// the bundled notify plugin, on a real local HTTP server: once per command (after the last retry),
// with the outcome and the figures; a target that cannot be reached is a warning, not a failure.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { describeRun, runStrata, type CliResult } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

interface Received {
  path: string;
  body: { text: string; event: Record<string, any> };
}

let source: TestDatabase;
let work: string;
let server: http.Server;
let endpoint: string;
const received: Received[] = [];

function strata(args: string[]): Promise<CliResult> {
  return runStrata([...args, '--config', path.join(work, 'strata.config.json')], {
    cwd: work,
    env: {
      SOURCE_DATABASE_URL: source.url,
      HOOK_URL: `${endpoint}/hooks/T000/B000/secret-token`,
      FAILURES_URL: `${endpoint}/failures-only`,
      STRATA_ENV: undefined,
    },
  });
}

beforeAll(async () => {
  source = await createTestDatabase('notify');
  work = await mkdtemp(path.join(os.tmpdir(), 'strata-notify-'));
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(body) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const migrations = path.join(work, 'migrations');
  await mkdir(migrations);
  await writeFile(
    path.join(migrations, '20240101000000_schema.mjs'),
    'export async function up(knex) { await knex.raw("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 50)"); }\nexport async function down() {}\n',
  );
  const config = {
    project: 'notified',
    modules: { app: { migrations: './migrations' } },
    environments: {
      prod: {
        database: '${SOURCE_DATABASE_URL}',
        storage: 'file://./snapshots',
        notify: [
          { type: 'webhook', url: '${HOOK_URL}' },
          { type: 'webhook', url: '${FAILURES_URL}', on: ['failed'] },
        ],
      },
      broken: {
        database: 'postgres://postgres@127.0.0.1:1/nothing',
        storage: 'file://./snapshots',
        notify: [{ type: 'webhook', url: '${HOOK_URL}', on: ['failed'] }],
      },
      deaf: {
        database: '${SOURCE_DATABASE_URL}',
        storage: 'file://./snapshots',
        notify: [{ type: 'webhook', url: 'http://127.0.0.1:1/hooks/nobody-listens' }],
      },
    },
  };
  await writeFile(path.join(work, 'strata.config.json'), JSON.stringify(config, null, 2));
  const migrated = await strata(['migrate', 'up', '--env', 'prod']);
  expect(migrated.exitCode, describeRun(migrated)).toBe(0);
});

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await source?.drop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('notifications', () => {
  it('a snapshot that succeeds posts one event with its figures, to the targets that want successes', async () => {
    const before = received.length;
    const result = await strata(['snapshot', '--env', 'prod', '--json']);
    expect(result.exitCode, describeRun(result)).toBe(0);
    const id = result.json<{ id: string }>().id;
    const posts = received.slice(before);
    expect(posts).toHaveLength(1);
    expect(posts[0]!.path).toBe('/hooks/T000/B000/secret-token');
    expect(posts[0]!.body.event).toMatchObject({ operation: 'snapshot', outcome: 'succeeded', project: 'notified', environment: 'prod', snapshotId: id, tables: 1, rows: 50 });
    expect(posts[0]!.body.text).toContain(id);
    // Figures for people, formatted as the CLI prints them.
    expect(posts[0]!.body.event.display).toMatchObject({ duration: expect.stringMatching(/^\d+(\.\d)? (ms|s)$/), size: expect.stringMatching(/^\d+(\.\d)? (B|KiB|MiB)$/) });
  });

  it('a snapshot that keeps failing posts one failure, after the last retry, with the error sentence', async () => {
    const before = received.length;
    const result = await strata(['snapshot', '--env', 'broken', '--retries', '2', '--retry-delay', '0.1s']);
    expect(result.exitCode, describeRun(result)).toBe(3);
    expect(result.stderr.match(/Snapshot attempt \d of 3 failed/g)).toHaveLength(2);
    const posts = received.slice(before);
    expect(posts).toHaveLength(1);
    expect(posts[0]!.body.event).toMatchObject({ operation: 'snapshot', outcome: 'failed', environment: 'broken' });
    expect(posts[0]!.body.event.error.message).toMatch(/127\.0\.0\.1:1/);
    expect(posts[0]!.body.text).toMatch(/failed/);
  });

  it('a prune posts what it removed and kept; a dry run posts nothing', async () => {
    const another = await strata(['snapshot', '--env', 'prod']);
    expect(another.exitCode, describeRun(another)).toBe(0);
    const before = received.length;
    const dry = await strata(['prune', '--env', 'prod', '--keep-last', '1', '--dry-run']);
    expect(dry.exitCode, describeRun(dry)).toBe(0);
    expect(received.slice(before)).toHaveLength(0);
    const real = await strata(['prune', '--env', 'prod', '--keep-last', '1', '--json']);
    expect(real.exitCode, describeRun(real)).toBe(0);
    const pruned = real.json<{ removed: Array<{ id: string }>; kept: unknown[] }>();
    const posts = received.slice(before);
    expect(posts).toHaveLength(1);
    expect(posts[0]!.body.event).toMatchObject({ operation: 'prune', outcome: 'succeeded', kept: pruned.kept.length });
    expect(pruned.removed.length).toBeGreaterThan(0);
    expect(posts[0]!.body.event.removed).toEqual(expect.arrayContaining(pruned.removed.map((s) => s.id)));
  });

  it('a restore dry run notifies nobody, whether it succeeds or fails', async () => {
    const before = received.length;
    const plan = await strata(['restore', 'latest', '--env', 'prod', '--dry-run']);
    expect(plan.exitCode, describeRun(plan)).toBe(0);
    const failedPlan = await strata(['restore', '01ZZZZZZZZZZZZZZZZZZZZZZZZ', '--env', 'prod', '--dry-run']);
    expect(failedPlan.exitCode, describeRun(failedPlan)).toBe(4);
    expect(received.slice(before)).toHaveLength(0);
  });

  it('a target that cannot be reached is a warning: the snapshot still succeeds, and the URL is not shown', async () => {
    const result = await strata(['snapshot', '--env', 'deaf']);
    expect(result.exitCode, describeRun(result)).toBe(0);
    expect(result.stderr).toMatch(/Warning: .*notif/i);
    expect(result.stderr).not.toContain('nobody-listens');
  });
});
