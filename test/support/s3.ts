// Buckets for S3 tests: one uniquely named bucket per test on a given server, driver options for
// that server, and a raw client to look at what really is in the bucket.
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { S3TestServer } from '../setup/s3-setup.js';

/** A raw SDK client for `server` (or for a proxy in front of it), outside the driver under test. */
export function rawS3Client(server: S3TestServer, endpoint = server.endpoint): S3Client {
  return new S3Client({
    endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    // Same reason as the driver's default: s3rver would store aws-chunked framing otherwise.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Storage options (as a config's `storage:` block would give them) that reach `server`, or a proxy in front of it. */
export function s3DriverOptions(server: S3TestServer, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    ...overrides,
  };
}

/** A bucket made for one test; `drop()` empties and deletes it. */
export interface TestBucket {
  name: string;
  server: S3TestServer;
  client: S3Client;
  /** Every key in the bucket (or below `prefix`), sorted. */
  keys(prefix?: string): Promise<string[]>;
  /** The bytes of one object, read without the driver. */
  get(key: string): Promise<Buffer>;
  /** Stores an object without the driver. */
  put(key: string, body: string | Uint8Array): Promise<void>;
  /** Keys of multipart uploads still open, or `undefined` when the server has no ListMultipartUploads (s3rver). */
  openUploads(): Promise<string[] | undefined>;
  drop(): Promise<void>;
}

/** Creates `strata-test-<random>` on `server`. */
export async function createTestBucket(server: S3TestServer): Promise<TestBucket> {
  const client = rawS3Client(server);
  const name = `strata-test-${randomBytes(6).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: name }));
  const keys = async (prefix?: string): Promise<string[]> => {
    const found: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: name, Prefix: prefix, ContinuationToken }));
      for (const object of page.Contents ?? []) if (object.Key) found.push(object.Key);
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return found.sort();
  };
  return {
    name,
    server,
    client,
    keys,
    async get(key) {
      const output = await client.send(new GetObjectCommand({ Bucket: name, Key: key }));
      return Buffer.from(await output.Body!.transformToByteArray());
    },
    async put(key, body) {
      await client.send(new PutObjectCommand({ Bucket: name, Key: key, Body: body }));
    },
    async openUploads() {
      try {
        const output = await client.send(new ListMultipartUploadsCommand({ Bucket: name }));
        return (output.Uploads ?? []).map((u) => u.Key ?? '');
      } catch (error) {
        if ((error as { name?: string }).name === 'NotImplemented') return undefined;
        throw error;
      }
    },
    async drop() {
      try {
        for (const key of await keys()) await client.send(new DeleteObjectCommand({ Bucket: name, Key: key }));
        await client.send(new DeleteBucketCommand({ Bucket: name }));
      } finally {
        client.destroy();
      }
    },
  };
}
