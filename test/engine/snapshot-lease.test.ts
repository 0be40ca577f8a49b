// Leases on file:// and on s3:// (s3rver): what the lease objects are in the storage, how they are
// refreshed, lost and released, how a second writer steps back, and which folders the clean-up
// of killed writers removes. Everything is checked by reading the storage itself.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { ulid } from 'ulid';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';

import type { LoadedConfig, OperationContext, StorageDriver } from '../../packages/core/src/index.js';
import { removeAbandonedSnapshots } from '../../packages/core/src/snapshot/snapshot-leftovers.js';
import { inspectFolder, removeAbandonedFolder, SnapshotLease, takeExclusiveLease } from '../../packages/core/src/snapshot/snapshot-lease.js';
import { LocalStorage } from '../../packages/plugin-local/src/local-storage.js';
import { resolveS3Settings } from '../../packages/plugin-s3/src/s3-settings.js';
import { S3Storage } from '../../packages/plugin-s3/src/s3-storage.js';
import { leaseRecord, putLease } from '../support/leases.js';
import { createTestBucket, s3DriverOptions } from '../support/s3.js';

interface Opened {
  storage: StorageDriver;
  /** Every key below `prefix`, sorted. */
  objects(prefix: string): Promise<string[]>;
  cleanup(): Promise<void>;
}

const backends: Array<{ name: string; open(): Promise<Opened> }> = [
  {
    name: 'file://',
    async open() {
      const root = await mkdtemp(path.join(os.tmpdir(), 'strata-lease-'));
      return {
        storage: new LocalStorage(root),
        async objects(prefix) {
          const entries = await readdir(root, { recursive: true, withFileTypes: true });
          return entries
            .filter((e) => e.isFile())
            .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
            .filter((k) => k.startsWith(prefix))
            .sort();
        },
        cleanup: () => rm(root, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 's3://',
    async open() {
      const [server] = inject('s3Servers');
      if (!server) throw new Error('no S3 server');
      const bucket = await createTestBucket(server);
      const storage = new S3Storage(resolveS3Settings(`s3://${bucket.name}/root`, s3DriverOptions(server)));
      return {
        storage,
        objects: async (prefix) => (await bucket.keys(`root/${prefix}`)).map((k) => k.slice('root/'.length)),
        async cleanup() {
          await storage.close();
          await bucket.drop();
        },
      };
    },
  },
];

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup().catch(() => {});
});

function put(storage: StorageDriver, key: string, body: string | Buffer): Promise<void> {
  return storage.write(key, Readable.from([Buffer.from(body)]));
}

describe.each(backends)('leases on $name', (backend) => {
  let opened: Opened;
  const folder = (id = ulid()): string => `p/e/${id}/`;

  it('a lease is one object in the folder, rewritten while held, gone once released', async () => {
    opened = await backend.open();
    cleanups.push(opened.cleanup);
    const { storage } = opened;
    const where = folder();
    const lease = await SnapshotLease.take(storage, where, 'snapshot', { refreshMs: 30 });
    expect(await opened.objects(where)).toEqual([`${where}${lease.name}`]);
    expect(lease.name).toMatch(/^lease-[0-9a-f]{16}\.json$/);
    const first = JSON.parse(await text(await storage.read(lease.key)));
    expect(first).toMatchObject({ operation: 'snapshot', pid: process.pid, host: os.hostname(), startedAt: first.refreshedAt });
    expect(Date.parse(first.expiresAt) - Date.parse(first.refreshedAt)).toBe(120_000);
    // The refresh moves refreshedAt and expiresAt on, and keeps startedAt.
    await vi.waitFor(async () => {
      const now = JSON.parse(await text(await storage.read(lease.key)));
      expect(now.refreshedAt > first.refreshedAt).toBe(true);
      expect(now.startedAt).toBe(first.startedAt);
    }, { timeout: 5000, interval: 20 });
    await lease.confirm();
    await lease.release();
    expect(await opened.objects(where)).toEqual([]);
  });

  it('a lease whose folder was removed is lost: confirm refuses, and no refresh brings it back', async () => {
    const { storage } = opened;
    const where = folder();
    const lease = await SnapshotLease.take(storage, where, 'copy', { refreshMs: 60_000 });
    await put(storage, `${where}data/x.copy.gz`, 'x');
    await storage.removePrefix(where);
    await expect(lease.confirm()).rejects.toMatchObject({ code: 'lease-lost', exitCode: 4, message: expect.stringContaining('removed by another process') });
    await lease.stop();
    expect(await opened.objects(where)).toEqual([]);
  });

  it('a lease that expired while the storage refused writes is lost too', async () => {
    const real = opened.storage;
    let failing = false;
    const flaky: StorageDriver = {
      location: real.location,
      write: (key, body, o) => (failing ? Promise.reject(new Error('no space left on the device')) : real.write(key, body, o)),
      read: (key, o) => real.read(key, o),
      exists: (key) => real.exists(key),
      listChildren: (prefix) => real.listChildren(prefix),
      removePrefix: (prefix) => real.removePrefix(prefix),
    };
    const warnings: string[] = [];
    const lease = await SnapshotLease.take(flaky, folder(), 'snapshot', { refreshMs: 60_000, ttlMs: 300, log: (_l, m) => warnings.push(m) });
    failing = true;
    // The lease's whole lifetime passes without a successful refresh.
    await new Promise((resolve) => setTimeout(resolve, 350));
    await expect(lease.confirm()).rejects.toMatchObject({ code: 'lease-lost', message: expect.stringContaining('expired') });
    expect(warnings.some((w) => w.includes('no space left'))).toBe(true);
    failing = false;
    await lease.release();
  });

  it('a second writer steps back before a live lease, and takes over from a dead or expired one', async () => {
    const { storage } = opened;
    const busy = folder();
    const live = await putLease(storage, busy, leaseRecord('live', 'copy'));
    const refused = await takeExclusiveLease(storage, busy, 'copy');
    expect(refused.heldBy?.record).toMatchObject({ operation: 'copy', host: 'elsewhere', pid: 4242 });
    expect(await opened.objects(busy)).toEqual([live]);

    const stale = folder();
    await putLease(storage, stale, leaseRecord('dead', 'copy'));
    await putLease(storage, stale, leaseRecord('expired', 'copy'));
    const taken = await takeExclusiveLease(storage, stale, 'copy');
    expect(taken.lease).toBeDefined();
    expect((await opened.objects(stale)).filter((k) => k.endsWith(taken.lease!.name))).toHaveLength(1);
    await taken.lease!.release();
  });

  it('objects that are not leases (garbage, oversized) are no owner at all', async () => {
    const { storage } = opened;
    const where = folder();
    await put(storage, `${where}lease-garbage.json`, '{"pid": "not a number"');
    await put(storage, `${where}lease-huge.json`, Buffer.alloc(100_000, 0x20));
    await put(storage, `${where}manifest.json`, '{}');
    expect(await inspectFolder(storage, where)).toEqual({ manifest: true, removing: false, leases: [] });
  });

  it('a folder in which a live lease appeared after it was judged abandoned is kept', async () => {
    const { storage } = opened;
    const where = folder();
    await putLease(storage, where, leaseRecord('dead'));
    await put(storage, `${where}data/t.copy.gz`, 'partial');
    const judged = await inspectFolder(storage, where);
    const newcomer = await putLease(storage, where, leaseRecord('live', 'copy'));
    expect(await removeAbandonedFolder(storage, where, judged)).toBe(false);
    expect(await opened.objects(where)).toEqual([`${where}data/t.copy.gz`, newcomer]);
  });

  it('the clean-up of killed writers removes only folders whose writer is gone or expired', async () => {
    const { storage } = opened;
    const env = `sweep${Date.now()}/env/`;
    const make = async (name: string, kind?: 'dead' | 'expired' | 'live', manifest = false): Promise<string> => {
      const id = ulid(Date.now() - 3 * 86_400_000);
      await put(storage, `${env}${id}/data/t.copy.gz`, name);
      // s3rver lists a folder only with an object directly in it.
      await put(storage, `${env}${id}/top`, name);
      if (kind) await putLease(storage, `${env}${id}/`, leaseRecord(kind));
      if (manifest) await put(storage, `${env}${id}/manifest.json`, '{}');
      return id;
    };
    const dead = await make('dead', 'dead');
    const expired = await make('expired', 'expired');
    const live = await make('live', 'live');
    const unleased = await make('unleased');
    const finished = await make('finished', 'dead', true);
    await put(storage, `${env}notes/readme`, 'by hand');
    const ctx = {
      config: { project: env.split('/')[0] } as LoadedConfig,
      env: { name: 'env' } as OperationContext['env'],
      storage,
      log: () => {},
    };
    expect(await removeAbandonedSnapshots(ctx)).toEqual([dead, expired].sort());
    const left = new Set((await opened.objects(env)).map((k) => k.slice(env.length).split('/')[0]));
    expect([...left].sort()).toEqual([live, unleased, finished, 'notes'].sort());
  });
});
