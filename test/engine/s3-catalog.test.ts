// Core's catalog on an S3 bucket with a long history: `list` reads every manifest once, and
// `list --limit`/`latest` read only the newest manifests instead of one GET per snapshot.
import pLimit from 'p-limit';
import { decodeTime, ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { S3Storage } from '../../packages/plugin-s3/src/s3-storage.js';
import { resolveS3Settings } from '../../packages/plugin-s3/src/s3-settings.js';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js';
import { createTestBucket, s3DriverOptions, type TestBucket } from '../support/s3.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';
import { listSnapshots, showSnapshot, snapshot } from './engine-imports.js';

const HISTORY = 1_100;

let source: TestDatabase;
let project: EngineProject;
let bucket: TestBucket;
let proxy: FaultProxy;
let storage: S3Storage;
let ids: string[];

beforeAll(async () => {
  const [server] = inject('s3Servers');
  if (!server) throw new Error('no S3 server');
  source = await createTestDatabase('s3catalog');
  project = await engineProject({
    '20240101000000_schema.mjs': `export async function up(knex) { await knex.raw("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)"); }\nexport async function down() {}\n`,
  });
  await project.migrate(source.url);
  bucket = await createTestBucket(server);
  proxy = await startFaultProxy(server.endpoint);
  storage = new S3Storage(resolveS3Settings(`s3://${bucket.name}/history`, s3DriverOptions(server, { endpoint: proxy.endpoint })));

  // One real snapshot, then its manifest cloned under older ids: a long history without the data.
  const real = await snapshot({ ...project.context(source.url), storage });
  const manifest = JSON.parse((await bucket.get(`history/rt/test/${real.id}/manifest.json`)).toString('utf8'));
  const start = decodeTime(real.id) - HISTORY * 60_000;
  const limit = pLimit(16);
  const clones = Array.from({ length: HISTORY }, (_, i) => {
    const time = start + i * 60_000;
    return { ...manifest, id: ulid(time), createdAt: new Date(time).toISOString() };
  });
  await Promise.all(clones.map((m) => limit(() => bucket.put(`history/rt/test/${m.id}/manifest.json`, JSON.stringify(m)))));
  ids = [real.id, ...clones.map((m) => m.id).reverse()];
}, 300_000);

afterAll(async () => {
  await storage?.close();
  await proxy?.close();
  await bucket?.drop();
  await source?.drop();
});

describe('the catalog on a bucket with a long history', () => {
  it('list reads every manifest once and returns all snapshots, newest first', async () => {
    const before = proxy.requests.length;
    const all = await listSnapshots({ ...project.context(source.url), storage });
    expect(all.map((s) => s.id)).toEqual(ids);
    // Each manifest is read exactly once. (s3rver answers every common prefix in one page whatever
    // MaxKeys says, so the paging itself is proven by the plugin's tests over objects.)
    const reads = proxy.requests.slice(before).filter((r) => r.operation === 'GetObject');
    expect(reads.length).toBe(ids.length);
  });

  it('--limit and latest read only the newest manifests', async () => {
    const ctx = { ...project.context(source.url), storage };
    let before = proxy.requests.length;
    const newest = await listSnapshots(ctx, { limit: 5 });
    expect(newest.map((s) => s.id)).toEqual(ids.slice(0, 5));
    expect(proxy.requests.slice(before).filter((r) => r.operation === 'GetObject').length).toBeLessThanOrEqual(16);

    before = proxy.requests.length;
    expect((await showSnapshot(ctx, 'latest')).id).toBe(ids[0]);
    expect(proxy.requests.slice(before).filter((r) => r.operation === 'GetObject').length).toBeLessThanOrEqual(16);
  });
});
