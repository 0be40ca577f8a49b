// Server-side encryption and storage class reach the server on every kind of upload, as headers
// of the request that creates the object (PutObject, or CreateMultipartUpload for large ones).
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { startFaultProxy, type FaultProxy } from '../../../test/support/fault-proxy.js';
import { createTestBucket, s3DriverOptions, type TestBucket } from '../../../test/support/s3.js';
import { S3Storage } from './s3-storage.js';
import { resolveS3Settings } from './s3-settings.js';

const MB = 1024 * 1024;

describe.each(inject('s3Servers'))('object settings on $name', (server) => {
  let bucket: TestBucket;
  let proxy: FaultProxy;
  let storage: S3Storage;

  beforeAll(async () => {
    bucket = await createTestBucket(server);
    proxy = await startFaultProxy(server.endpoint);
    storage = new S3Storage(
      resolveS3Settings(`s3://${bucket.name}/p?storageClass=STANDARD_IA`, s3DriverOptions(server, { endpoint: proxy.endpoint, sse: 'AES256', partSizeMb: 5 })),
    );
  });

  afterAll(async () => {
    await storage?.close();
    await proxy?.close();
    await bucket?.drop();
  });

  it.each([
    ['a single-request upload', 'small', 1024, 'PutObject'],
    ['a multipart upload', 'large', 11 * MB, 'CreateMultipartUpload'],
  ])('%s carries sse and storage class', async (_label, key, size, operation) => {
    await storage.write(key, Readable.from([Buffer.alloc(size, 1)]));
    const creating = proxy.requests.filter((r) => r.operation === operation && r.path.endsWith(`/p/${key}`));
    expect(creating.length).toBeGreaterThan(0);
    for (const request of creating) {
      expect(request.amzHeaders['x-amz-server-side-encryption']).toBe('AES256');
      expect(request.amzHeaders['x-amz-storage-class']).toBe('STANDARD_IA');
    }
    expect((await bucket.get(`p/${key}`)).length).toBe(size);
  });
});
