// prune() on file:// and on s3:// (s3rver): a history fabricated from one real snapshot whose
// manifest is cloned under chosen ULIDs and dates, then pruned with a fixed `now`. Checks which
// snapshots still list, what is left in the storage itself, the order of deletions, the
// incomplete, leased, damaged and foreign folders, the dry run and the refusals.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import type { OperationContext, PruneResult, RetentionPolicy, StorageDriver } from '../../packages/core/src/index.js';
import { LocalStorage } from '../../packages/plugin-local/src/local-storage.js';
import { resolveS3Settings } from '../../packages/plugin-s3/src/s3-settings.js';
import { S3Storage } from '../../packages/plugin-s3/src/s3-storage.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';
import { leaseRecord, putLease } from '../support/leases.js';
import { createTestBucket, s3DriverOptions, type TestBucket } from '../support/s3.js';
import { listSnapshots, prune, snapshot } from '../../packages/core/src/index.js';

// Saturday 15 June 2030, noon UTC: years after the real snapshot, so every date below is chosen.
const NOW = new Date('2030-06-15T12:00:00Z');
const HOUR = 3_600_000;
const ENV = 'rt/test/';
const POLICY: RetentionPolicy = { within: '2d', monthly: 3 };

/** The fabricated history: name → createdAt (and tags). Expected fate worked out from POLICY at NOW. */
const HISTORY: Record<string, { createdAt: string; tags?: string[]; kept?: string[] }> = {
  jun15: { createdAt: '2030-06-15T02:00:00.000Z', kept: ['within 2d', 'monthly 2030-06'] },
  jun14: { createdAt: '2030-06-14T02:00:00.000Z', kept: ['within 2d'] },
  // 2d before noon on the 15th is noon on the 13th: 02:00 that day is older.
  jun13: { createdAt: '2030-06-13T02:00:00.000Z' },
  may31: { createdAt: '2030-05-31T02:00:00.000Z', kept: ['monthly 2030-05'] },
  may20: { createdAt: '2030-05-20T02:00:00.000Z' },
  apr10: { createdAt: '2030-04-10T02:00:00.000Z', kept: ['monthly 2030-04'] },
  // March is the fourth month back: only its tag keeps it.
  mar31: { createdAt: '2030-03-31T02:00:00.000Z', tags: ['keep'], kept: ['tag keep'] },
  mar30: { createdAt: '2030-03-30T02:00:00.000Z' },
};

interface Backend {
  name: string;
  /**
   * s3rver lists a "folder" as a common prefix only when an object sits directly in it (its
   * delimiter walk skips deeper directories; real S3 and MinIO do not), so on it an incomplete
   * folder also gets an object at its top level.
   */
  shallowListing?: boolean;
  open(): Promise<{ storage: StorageDriver; objects(): Promise<string[]>; cleanup(): Promise<void> }>;
}

let source: TestDatabase;
let project: EngineProject;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  source = await createTestDatabase('prune');
  project = await engineProject({
    '20240101000000_schema.mjs': `export async function up(knex) { await knex.raw("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)"); }\nexport async function down() {}\n`,
  });
  await project.migrate(source.url);
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  await source?.drop();
});

const backends: Backend[] = [
  {
    name: 'file://',
    async open() {
      const root = await mkdtemp(path.join(os.tmpdir(), 'strata-prune-'));
      return {
        storage: new LocalStorage(root),
        async objects() {
          const entries = await readdir(root, { recursive: true, withFileTypes: true });
          return entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/')).sort();
        },
        cleanup: () => rm(root, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 's3://',
    shallowListing: true,
    async open() {
      const [server] = inject('s3Servers');
      if (!server) throw new Error('no S3 server');
      const bucket: TestBucket = await createTestBucket(server);
      const storage = new S3Storage(resolveS3Settings(`s3://${bucket.name}/backups`, s3DriverOptions(server)));
      return {
        storage,
        async objects() {
          return (await bucket.keys('backups/')).map((k) => k.slice('backups/'.length));
        },
        async cleanup() {
          await storage.close();
          await bucket.drop();
        },
      };
    },
  },
];

function put(storage: StorageDriver, key: string, body: string): Promise<void> {
  return storage.write(key, Readable.from([Buffer.from(body)]));
}

describe.each(backends)('prune on $name', (backend) => {
  let storage: StorageDriver;
  let objects: () => Promise<string[]>;
  let realId: string;
  /** name in HISTORY → ULID. */
  const ids: Record<string, string> = {};
  let oldIncomplete: string;
  let freshIncomplete: string;
  let damaged: string;
  let damagedLive: string;
  let newerFormat: string;
  let deadYoung: string;
  let expiredYoung: string;
  let liveOld: string;
  let markedYoung: string;
  let misplaced: string;

  function context(extra: Partial<OperationContext> = {}): OperationContext & { warnings: string[] } {
    return { ...project.context(source.url, extra), storage };
  }

  /** Writes the whole fixture afresh (each test prunes its own copy). */
  async function fabricate(): Promise<void> {
    await storage.removePrefix('rt/');
    const real = await snapshot(context());
    realId = real.id;
    const manifest = JSON.parse(await text(await storage.read(`${ENV}${realId}/manifest.json`)));
    for (const [name, entry] of Object.entries(HISTORY)) {
      const id = (ids[name] ??= ulid(Date.parse(entry.createdAt)));
      await put(storage, `${ENV}${id}/data/public.t.copy.gz`, 'not really gzip');
      await put(storage, `${ENV}${id}/manifest.json`, JSON.stringify({ ...manifest, id, createdAt: entry.createdAt, tags: entry.tags ?? [] }));
    }
    // Captures that never wrote their manifest: one from two days before NOW, one from an hour before.
    oldIncomplete ??= ulid(NOW.getTime() - 48 * HOUR);
    freshIncomplete ??= ulid(NOW.getTime() - HOUR);
    await put(storage, `${ENV}${oldIncomplete}/data/public.t.copy.gz`, 'partial');
    await put(storage, `${ENV}${freshIncomplete}/data/public.t.copy.gz`, 'partial');
    if (backend.shallowListing) {
      for (const id of [oldIncomplete, freshIncomplete]) await put(storage, `${ENV}${id}/partial`, 'partial');
    }
    // Old and with a manifest, but a damaged one: removed.
    damaged ??= ulid(NOW.getTime() - 90 * 24 * HOUR);
    await put(storage, `${ENV}${damaged}/manifest.json`, '{"formatVersion": "1.1.0", "id":');
    await put(storage, `${ENV}${damaged}/data/public.t.copy.gz`, 'data');
    // Damaged too, but a live lease is there: someone is writing it, so it stays.
    damagedLive ??= ulid(NOW.getTime() - 91 * 24 * HOUR);
    await put(storage, `${ENV}${damagedLive}/manifest.json`, 'not json');
    await putLease(storage, `${ENV}${damagedLive}/`, leaseRecord('live'));
    // A manifest of a format this strata cannot read: someone else's valid snapshot, left alone.
    newerFormat ??= ulid(NOW.getTime() - 92 * 24 * HOUR);
    await put(storage, `${ENV}${newerFormat}/manifest.json`, JSON.stringify({ ...manifest, id: newerFormat, formatVersion: '2.0.0' }));
    // Writers that died an hour before NOW: one provably (its process is gone), one whose lease
    // ran out. Removed at once, not after a day.
    deadYoung ??= ulid(NOW.getTime() - HOUR);
    await put(storage, `${ENV}${deadYoung}/data/public.t.copy.gz`, 'partial');
    await putLease(storage, `${ENV}${deadYoung}/`, leaseRecord('dead'));
    expiredYoung ??= ulid(NOW.getTime() - HOUR);
    await put(storage, `${ENV}${expiredYoung}/data/public.t.copy.gz`, 'partial');
    await putLease(storage, `${ENV}${expiredYoung}/`, leaseRecord('expired', 'copy'));
    // A capture (or a copy of an old id) running for three days, its lease live: never removed.
    liveOld ??= ulid(NOW.getTime() - 72 * HOUR);
    await put(storage, `${ENV}${liveOld}/data/public.t.copy.gz`, 'partial');
    await putLease(storage, `${ENV}${liveOld}/`, leaseRecord('live'));
    // A prune that was killed after it marked a young snapshot and removed its manifest: no lease,
    // but the marker says it is on its way out, so the next prune finishes it at once.
    markedYoung ??= ulid(NOW.getTime() - HOUR);
    await put(storage, `${ENV}${markedYoung}/data/public.t.copy.gz`, 'data');
    await put(storage, `${ENV}${markedYoung}/removing.json`, '{}');
    // A whole, valid snapshot in a folder of another name (moved by hand): misplaced, not damaged.
    misplaced ??= ulid(NOW.getTime() - 93 * 24 * HOUR);
    await put(storage, `${ENV}${misplaced}/manifest.json`, JSON.stringify({ ...manifest, id: ids[Object.keys(HISTORY)[0]!] }));
    await put(storage, `${ENV}${misplaced}/data/public.t.copy.gz`, 'data');
    // Not a snapshot id at all.
    await put(storage, `${ENV}notes/README.txt`, 'kept by hand');
  }

  const keptNames = Object.keys(HISTORY).filter((n) => HISTORY[n]!.kept);
  const removedNames = Object.keys(HISTORY).filter((n) => !HISTORY[n]!.kept);
  const byTime = (names: string[]): string[] => [...names].sort((a, b) => HISTORY[b]!.createdAt.localeCompare(HISTORY[a]!.createdAt));

  beforeAll(async () => {
    const opened = await backend.open();
    cleanups.push(opened.cleanup);
    storage = opened.storage;
    objects = opened.objects;
  });

  function expectPlan(result: PruneResult): void {
    expect(result.kept.map((k) => k.id)).toEqual(byTime(keptNames).map((n) => ids[n]));
    for (const name of keptNames) {
      expect(result.kept.find((k) => k.id === ids[name])).toEqual({ id: ids[name], createdAt: HISTORY[name]!.createdAt, reasons: HISTORY[name]!.kept });
    }
    // The real snapshot was taken years before NOW and is the oldest of all.
    expect(result.removed.map((r) => r.id)).toEqual([...byTime(removedNames).map((n) => ids[n]), realId]);
    expect(result.incompleteRemoved).toEqual([deadYoung, expiredYoung, markedYoung, oldIncomplete].sort().reverse());
    expect(result.damagedRemoved).toEqual([{ id: damaged, reason: expect.stringContaining('is not valid JSON') }]);
  }

  it('a dry run reports the plan and removes nothing', async () => {
    await fabricate();
    const before = await objects();
    const ctx = context();
    const result = await prune(ctx, { policy: POLICY, dryRun: true, now: NOW });
    expect(result.dryRun).toBe(true);
    expectPlan(result);
    expect(await objects()).toEqual(before);
    expect((await listSnapshots(ctx)).map((s) => s.id)).toHaveLength(Object.keys(HISTORY).length + 1);
  });

  it('removes what no rule keeps, manifest first, and the old incomplete folder', async () => {
    await fabricate();
    const calls: string[] = [];
    const recording: StorageDriver = Object.assign(Object.create(storage) as StorageDriver, {
      removePrefix: async (prefix: string) => {
        calls.push(prefix);
        await storage.removePrefix(prefix);
      },
    });
    const ctx = { ...context(), storage: recording };
    const result = await prune(ctx, { policy: POLICY, now: NOW });
    expect(result.dryRun).toBe(false);
    expectPlan(result);

    expect((await listSnapshots(ctx)).map((s) => s.id)).toEqual(byTime(keptNames).map((n) => ids[n]));
    const left = await objects();
    const removedIds = [...removedNames.map((n) => ids[n]!), realId, oldIncomplete, deadYoung, expiredYoung, damaged, markedYoung];
    for (const id of removedIds) expect(left.filter((k) => k.startsWith(`${ENV}${id}/`)), id).toEqual([]);
    for (const name of keptNames) expect(left).toContain(`${ENV}${ids[name]}/data/public.t.copy.gz`);
    expect(left).toContain(`${ENV}${freshIncomplete}/data/public.t.copy.gz`);
    expect(left).toContain(`${ENV}${liveOld}/data/public.t.copy.gz`);
    expect(left).toContain(`${ENV}${damagedLive}/manifest.json`);
    expect(left).toContain(`${ENV}${newerFormat}/manifest.json`);
    expect(left).toContain(`${ENV}${misplaced}/manifest.json`);
    expect(ctx.warnings.some((w) => w.startsWith(`Left ${misplaced} alone: `)), ctx.warnings.join('\n')).toBe(true);
    expect(left).toContain(`${ENV}notes/README.txt`);
    expect(ctx.warnings.some((w) => w.includes('notes') && /not a snapshot id/.test(w)), ctx.warnings.join('\n')).toBe(true);
    // Damaged manifests are in the result, not repeated as "Skipping snapshot" warnings.
    expect(ctx.warnings.filter((w) => w.includes(damaged)), ctx.warnings.join('\n')).toEqual([]);

    // Each removed snapshot lost its manifest (the exact key) before anything else of it; an
    // incomplete folder has no manifest to remove; nothing that is kept was touched.
    for (const id of [...removedNames.map((n) => ids[n]!), realId]) {
      const manifestCall = calls.indexOf(`${ENV}${id}/manifest.json`);
      expect(manifestCall, id).toBeGreaterThanOrEqual(0);
      expect(calls.indexOf(`${ENV}${id}/`)).toBeGreaterThan(manifestCall);
    }
    expect(calls.filter((c) => c.startsWith(`${ENV}${oldIncomplete}`))).toEqual([`${ENV}${oldIncomplete}/`]);
    expect(calls.filter((c) => c.startsWith(`${ENV}${damaged}`))).toEqual([`${ENV}${damaged}/`]);
    // Marked for removal by a prune that died: one removal of the folder, at once though it is an hour old.
    expect(calls.filter((c) => c.startsWith(`${ENV}${markedYoung}`))).toEqual([`${ENV}${markedYoung}/`]);
    // A folder judged by its lease loses the lease, is looked at again, then goes.
    expect(calls.filter((c) => c.startsWith(`${ENV}${deadYoung}`))).toEqual([expect.stringMatching(new RegExp(`^${ENV}${deadYoung}/lease-`)), `${ENV}${deadYoung}/`]);
    expect(calls).toHaveLength(2 * (removedNames.length + 1) + 1 + 1 + 2 * 2 + 1);

    // A second run finds nothing more to do.
    const again = await prune(context(), { policy: POLICY, now: NOW });
    expect(again.removed).toEqual([]);
    expect(again.incompleteRemoved).toEqual([]);
    expect(again.damagedRemoved).toEqual([]);
  });

  it("uses the environment's retention from the config when no policy is given", async () => {
    await fabricate();
    const base = context();
    const ctx = { ...base, env: { ...base.env, retention: { keepWithin: '2d', keepMonthly: 3 } } };
    const result = await prune(ctx, { dryRun: true, now: NOW });
    expect(result.policy).toEqual(POLICY);
    expectPlan(result);
  });

  it('refuses without any rule, before touching the storage', async () => {
    const touched: string[] = [];
    const watching = new Proxy(storage, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          touched.push(String(property));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const base = { ...context(), storage: watching };
    for (const ctx of [base, { ...base, env: { ...base.env, retention: {} } }]) {
      await expect(prune(ctx, { now: NOW })).rejects.toMatchObject({
        code: 'retention-policy-empty',
        exitCode: 2,
        message: expect.stringContaining('"test"'),
        hint: expect.stringContaining('--keep-within'),
      });
    }
    await expect(prune(base, { policy: {}, now: NOW })).rejects.toMatchObject({ code: 'retention-policy-empty' });
    await expect(prune(base, { policy: { within: '30 days' }, now: NOW })).rejects.toMatchObject({ code: 'retention-policy-invalid', exitCode: 2 });
    expect(touched).toEqual([]);
  });
});
