// Every command with an environment whose storage is s3://, through the built CLI against s3rver:
// snapshot, list, show, verify, restore and copy between two buckets with their own settings
// (one from the config, one from the URL and the AWS environment chain) and file://. A fault
// proxy in front of s3rver proves the retry path end to end, and a permanent 403 fails cleanly.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { seedShop } from '../../examples/shop/seed.js';
import { describeRun, runStrata, type CliResult } from '../support/cli.js';
import { createTestDatabase, databaseUrl, dropDatabase, type TestDatabase } from '../support/database.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { createTestBucket, type TestBucket } from '../support/s3.js';
import { SHOP_MIGRATIONS, SHOP_MODULES, dumpTables, expectUserError, listFiles, snapshotIdOf } from './shop-fixture.js';

// s3rver checks the access key id, not the signature, so each environment can carry its own
// recognisable secret: none of them may ever appear in any output.
const PROD_SECRET = 'prod-Secret-7c1e9a';
const STAGING_SECRET = 'staging-Secret-3b5d2f';

let source: TestDatabase;
let prodBucket: TestBucket;
let stagingBucket: TestBucket;
let flaky: FaultProxy;
let denied: FaultProxy;
let work: string;
const outputs: string[] = [];
const databases: string[] = [];

function strata(args: string[]): Promise<CliResult> {
  const server = prodBucket.server;
  return runStrata([...args, '--config', path.join(work, 'strata.config.json')], {
    cwd: work,
    env: {
      SOURCE_DATABASE_URL: source.url,
      PROD_S3_KEY: server.accessKeyId,
      PROD_S3_SECRET: PROD_SECRET,
      // staging gets its credentials the way AWS tools do: from the standard variables.
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: STAGING_SECRET,
      AWS_REGION: undefined,
      AWS_PROFILE: undefined,
      AWS_ENDPOINT_URL_S3: undefined,
      STRATA_ENV: undefined,
    },
  }).then((result) => {
    outputs.push(result.stdout, result.stderr);
    return result;
  });
}

async function strataJson<T = any>(args: string[]): Promise<T> {
  const result = await strata([...args, '--json']);
  expect(result.exitCode, `strata ${args.join(' ')}: ${describeRun(result)}`).toBe(0);
  return result.json<T>();
}

/** Restores `id` of `env` into a new database and returns its tables. */
async function restoreAndDump(env: string, id: string): Promise<Record<string, string[]>> {
  const name = `strata_test_s3_${env}_${Date.now()}`;
  databases.push(name);
  await strataJson(['restore', id, '--env', env, '--database', name, '--target-url', databaseUrl(inject('adminDatabaseUrl'), name)]);
  return dumpTables(databaseUrl(inject('adminDatabaseUrl'), name));
}

/** The source's tables as a restore must give them back: `sessions` is excluded from capture, so empty. */
async function sourceTables(): Promise<Record<string, string[]>> {
  return { ...(await dumpTables(source.url)), sessions: [] };
}

beforeAll(async () => {
  const [server] = inject('s3Servers');
  if (!server) throw new Error('no S3 server');
  source = await createTestDatabase('s3cli');
  prodBucket = await createTestBucket(server);
  stagingBucket = await createTestBucket(server);
  flaky = await startFaultProxy(server.endpoint);
  denied = await startFaultProxy(server.endpoint, () => ({ status: 403, code: 'AccessDenied' }));
  work = await mkdtemp(path.join(os.tmpdir(), 'strata-s3cli-'));
  const s3 = (bucket: TestBucket, endpoint: string) => ({
    url: `s3://${bucket.name}/backups`,
    endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: '${PROD_S3_KEY}', secretAccessKey: '${PROD_S3_SECRET}' },
    // More attempts than the default 5: the fault test fails a request's retries too.
    maxAttempts: 6,
  });
  const query = new URLSearchParams({ endpoint: server.endpoint, region: server.region, forcePathStyle: 'true' });
  const config = {
    project: 'shop',
    modules: Object.fromEntries(SHOP_MODULES.map((m) => [m, { migrations: path.join(SHOP_MIGRATIONS, m) }])),
    environments: {
      prod: { database: '${SOURCE_DATABASE_URL}', storage: s3(prodBucket, server.endpoint) },
      staging: { database: '${SOURCE_DATABASE_URL}', storage: `s3://${stagingBucket.name}/staging?${query}` },
      local: { database: '${SOURCE_DATABASE_URL}', storage: 'file://./snapshots' },
      flaky: { database: '${SOURCE_DATABASE_URL}', storage: s3(prodBucket, flaky.endpoint) },
      denied: { database: '${SOURCE_DATABASE_URL}', storage: s3(prodBucket, denied.endpoint) },
    },
    exclude: ['sessions'],
  };
  await writeFile(path.join(work, 'strata.config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await strataJson(['migrate', 'up', '--env', 'prod']);
  await seedShop(source.url);
});

afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
  await source?.drop();
  await flaky?.close();
  await denied?.close();
  await prodBucket?.drop();
  await stagingBucket?.drop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('strata with s3:// storage', () => {
  let prodId: string;

  it('snapshot, list, show, verify and restore work as with file://', async () => {
    prodId = snapshotIdOf(await strataJson(['snapshot', '--env', 'prod', '--description', 's3 e2e']));
    expect((await prodBucket.keys('backups/shop/prod/')).some((k) => k.endsWith(`${prodId}/manifest.json`))).toBe(true);

    const list = await strataJson<Array<{ id: string }>>(['list', '--env', 'prod']);
    expect(list.map((s) => s.id)).toEqual([prodId]);
    const shown = await strataJson(['show', 'latest', '--env', 'prod']);
    expect(shown.id).toBe(prodId);
    const verified = await strataJson<{ ok: boolean; tables: unknown[] }>(['verify', prodId, '--env', 'prod']);
    expect(verified.ok).toBe(true);
    expect(verified.tables.length).toBeGreaterThan(3);

    expect(await restoreAndDump('prod', prodId)).toEqual(await sourceTables());
  });

  it('copies between two buckets with their own settings, and via file://, checksums verified', async () => {
    const toLocal = await strataJson(['copy', 'latest', '--from-env', 'prod', '--to-env', 'local']);
    expect(toLocal).toMatchObject({ id: prodId, status: 'copied' });
    expect((await listFiles(path.join(work, 'snapshots'))).some((f) => f.endsWith(path.join('shop', 'local', prodId, 'manifest.json')))).toBe(true);

    const toStaging = await strataJson(['copy', prodId, '--from-env', 'local', '--to-env', 'staging']);
    expect(toStaging).toMatchObject({ id: prodId, status: 'copied' });
    expect((await stagingBucket.keys('staging/shop/staging/')).filter((k) => k.endsWith('manifest.json'))).toEqual([
      `staging/shop/staging/${prodId}/manifest.json`,
    ]);
    // The manifest arrives unchanged through both hops.
    expect((await stagingBucket.get(`staging/shop/staging/${prodId}/manifest.json`)).equals(await prodBucket.get(`backups/shop/prod/${prodId}/manifest.json`))).toBe(true);

    const again = await strataJson(['copy', prodId, '--from-env', 'prod', '--to-env', 'staging']);
    expect(again.status).toBe('already-present');
    expect((await strataJson<{ ok: boolean }>(['verify', 'latest', '--env', 'staging'])).ok).toBe(true);
    expect(await restoreAndDump('staging', prodId)).toEqual(await sourceTables());
  });

  it('retries through 503s and dropped connections: the snapshot completes, verifies and restores', async () => {
    let seen = 0;
    flaky.setRule((request) => {
      seen++;
      // Every fourth request fails with 503, every seventh loses its connection; reads of data
      // files are cut mid-body on their first attempt.
      if (request.operation === 'GetObject' && request.range === undefined && request.path.includes('/data/')) return 'drop-response-mid-body';
      if (seen % 4 === 0) return { status: 503, code: 'SlowDown' };
      if (seen % 7 === 0) return 'drop-request';
      return 'pass';
    });
    const id = snapshotIdOf(await strataJson(['snapshot', '--env', 'flaky']));
    const verified = await strataJson<{ ok: boolean }>(['verify', id, '--env', 'flaky']);
    expect(verified.ok).toBe(true);
    expect(await restoreAndDump('flaky', id)).toEqual(await sourceTables());

    const actions = flaky.requests.map((r) => r.action);
    expect(actions).toContain('status 503');
    expect(actions).toContain('drop-request');
    expect(actions).toContain('drop-response-mid-body');
    // Cut downloads were resumed where they stopped, not restarted.
    expect(flaky.ofOperation('GetObject').some((r) => r.range !== undefined && r.ifMatch !== undefined)).toBe(true);
  });

  it('a permanent 403 fails at once, names the bucket, never shows a secret, and leaves nothing', async () => {
    const before = denied.requests.length;
    const result = await strata(['snapshot', '--env', 'denied']);
    expect(result.exitCode, describeRun(result)).toBe(4);
    const error = expectUserError(result);
    expect(error.message).toContain(prodBucket.name);
    // No retry loop: with 6 attempts per request, retrying a 403 would send at least 6.
    expect(denied.requests.length - before).toBeLessThan(6);
    expect(await prodBucket.keys('backups/shop/denied/')).toEqual([]);

    const json = expectUserError(await strata(['list', '--env', 'denied', '--json']), { json: true });
    expect(json.code).toBe('s3-access-denied');
  });

  it('no output of any run showed a secret', () => {
    const all = outputs.join('\n');
    expect(all).not.toContain(PROD_SECRET);
    expect(all).not.toContain(STAGING_SECRET);
  });
});
