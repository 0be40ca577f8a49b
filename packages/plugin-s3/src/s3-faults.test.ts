// The driver against failing servers: a fault proxy in front of a real S3 protocol server injects
// 5xx answers, throttling, cut connections, stalls and permanent refusals.
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, inject, it, vi } from 'vitest';

import { startFaultProxy, type FaultAction, type FaultProxy, type RecordedRequest } from '../../../test/support/fault-proxy.js';
import { createTestBucket, s3DriverOptions, type TestBucket } from '../../../test/support/s3.js';
import { S3Storage } from './s3-storage.js';
import { resolveS3Settings } from './s3-settings.js';

const servers = inject('s3Servers');
const MB = 1024 * 1024;

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `size` random bytes, handed out in 256 KiB chunks. */
function bytes(size: number): { data: Buffer; body: () => Readable } {
  const data = randomBytes(size);
  const chunks: Buffer[] = [];
  for (let i = 0; i < size; i += 256 * 1024) chunks.push(data.subarray(i, i + 256 * 1024));
  return { data, body: () => Readable.from(chunks, { objectMode: false }) };
}

async function collect(names: AsyncIterable<string>): Promise<string[]> {
  const all: string[] = [];
  for await (const name of names) all.push(name);
  return all.sort();
}

/** A rule that applies `action` to the first attempt of every request `matches` picks, and passes retries. */
function firstAttemptOf(matches: (r: RecordedRequest) => boolean, action: (r: RecordedRequest, nth: number) => FaultAction) {
  const seen = new Set<string>();
  let nth = 0;
  return (r: RecordedRequest): FaultAction => {
    if (!matches(r)) return 'pass';
    const id = `${r.method} ${r.path} ${JSON.stringify(r.query)} ${r.range ?? ''}`;
    if (seen.has(id)) return 'pass';
    seen.add(id);
    return action(r, nth++);
  };
}

describe.each(servers)('S3Storage under faults on $name', (server) => {
  let bucket: TestBucket;
  let proxy: FaultProxy;
  const drivers: S3Storage[] = [];

  function driver(options: Record<string, unknown> = {}, endpoint = proxy.endpoint): S3Storage {
    const storage = new S3Storage(resolveS3Settings(`s3://${bucket.name}/root`, s3DriverOptions(server, { endpoint, partSizeMb: 5, ...options })));
    drivers.push(storage);
    return storage;
  }

  beforeEach(async () => {
    bucket = await createTestBucket(server);
    proxy = await startFaultProxy(server.endpoint);
  });

  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.close();
    await proxy.close();
    await bucket.drop();
  });

  it('retries 500, 502, 503 SlowDown and 504 answers on every kind of request, and the data is intact', async () => {
    const answers: FaultAction[] = [{ status: 500, code: 'InternalError' }, { status: 502 }, { status: 503, code: 'SlowDown' }, { status: 504 }];
    proxy.setRule(firstAttemptOf(() => true, (_r, nth) => answers[nth % answers.length]!));
    const storage = driver();
    const big = bytes(12 * MB);
    const small = bytes(1000);
    await storage.write('a/big', big.body());
    await storage.write('a/small', small.body());
    expect(sha256(await bucket.get('root/a/big'))).toBe(sha256(big.data));
    expect(sha256(await buffer(await storage.read('a/big')))).toBe(sha256(big.data));
    expect(sha256(await buffer(await storage.read('a/small')))).toBe(sha256(small.data));
    expect(await collect(storage.listChildren('a/'))).toEqual(['big', 'small']);
    expect(await storage.exists('a/small')).toBe(true);
    await storage.removePrefix('a/');
    expect(await bucket.keys()).toEqual([]);

    // Every operation met a failure first, and was retried to success.
    const operations = ['PutObject', 'CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload', 'GetObject', 'ListObjectsV2', 'HeadObject', 'DeleteObjects'];
    for (const operation of operations) {
      const requests = proxy.ofOperation(operation);
      expect(requests.some((r) => r.action.startsWith('status 5')), operation).toBe(true);
      expect(requests.some((r) => r.action === 'pass' && r.status !== undefined && r.status < 300), operation).toBe(true);
    }
    for (const status of [500, 502, 503, 504]) expect(proxy.requests.some((r) => r.action === `status ${status}`)).toBe(true);
  });

  it('retries requests whose connection is cut before an answer, also mid-request-body', async () => {
    const dropped = new Set(['UploadPart', 'PutObject', 'GetObject', 'HeadObject']);
    proxy.setRule(firstAttemptOf((r) => dropped.has(r.operation), () => 'drop-request'));
    const storage = driver();
    const big = bytes(11 * MB);
    await storage.write('big', big.body());
    await storage.write('small', bytes(10).body());
    expect(sha256(await bucket.get('root/big'))).toBe(sha256(big.data));
    // Requests without a body are cut before any answer: retried as well.
    expect(sha256(await buffer(await storage.read('big')))).toBe(sha256(big.data));
    expect(await storage.exists('small')).toBe(true);
    expect(proxy.ofOperation('GetObject').map((r) => r.action)).toEqual(['drop-request', 'pass']);
    expect(proxy.ofOperation('HeadObject').map((r) => r.action)).toEqual(['drop-request', 'pass']);
    expect(proxy.ofOperation('UploadPart').filter((r) => r.action === 'drop-request')).toHaveLength(3);
    expect(proxy.ofOperation('PutObject').filter((r) => r.action === 'drop-request')).toHaveLength(1);
  });

  it('resumes a read whose connection is cut mid-body, from the next byte, pinned to the ETag', async () => {
    const object = bytes(3 * MB);
    await bucket.put('root/data', object.data);
    const storage = driver();
    // Cut the first response and the first resumed one, each half-way through its body.
    proxy.setRule(firstAttemptOf((r) => r.operation === 'GetObject', (_r, nth) => (nth < 2 ? 'drop-response-mid-body' : 'pass')));
    const read = await buffer(await storage.read('data'));
    expect(sha256(read)).toBe(sha256(object.data));
    const gets = proxy.ofOperation('GetObject');
    expect(gets.map((r) => r.action)).toEqual(['drop-response-mid-body', 'drop-response-mid-body', 'pass']);
    expect(gets[0]!.range).toBeUndefined();
    const starts = gets.slice(1).map((r) => Number(/^bytes=(\d+)-$/.exec(r.range ?? '')?.[1]));
    expect(starts[0]).toBeGreaterThan(0);
    expect(starts[1]).toBeGreaterThan(starts[0]!);
    expect(gets.slice(1).every((r) => r.ifMatch !== undefined && r.ifMatch.length > 2)).toBe(true);
  });

  it('gives up a read that keeps being cut, with an s3 error', async () => {
    await bucket.put('root/data', bytes(MB).data);
    const storage = driver({ maxAttempts: 2 });
    proxy.setRule((r) => (r.operation === 'GetObject' && r.range !== undefined ? { status: 503 } : r.operation === 'GetObject' ? 'drop-response-mid-body' : 'pass'));
    const error = await buffer(await storage.read('data')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 's3-unavailable', exitCode: 4 });
  });

  it('retries a listing whose response is cut mid-body', async () => {
    for (const name of ['a', 'b', 'c']) await bucket.put(`root/x/${name}`, 'x');
    const storage = driver();
    proxy.setRule(firstAttemptOf((r) => r.operation === 'ListObjectsV2', () => 'drop-response-mid-body'));
    expect(await collect(storage.listChildren('x/'))).toEqual(['a', 'b', 'c']);
    expect(proxy.ofOperation('ListObjectsV2').map((r) => r.action)).toEqual(['drop-response-mid-body', 'pass']);
  });

  it('retries requests that time out without an answer', async () => {
    const storage = driver({ socketTimeoutMs: 500 });
    proxy.setRule(firstAttemptOf((r) => r.operation === 'PutObject' || r.operation === 'GetObject', () => 'stall'));
    await storage.write('k', Readable.from(['patience']));
    expect((await buffer(await storage.read('k'))).toString()).toBe('patience');
    expect(proxy.ofOperation('PutObject').map((r) => r.action)).toEqual(['stall', 'pass']);
    expect(proxy.ofOperation('GetObject').map((r) => r.action)).toEqual(['stall', 'pass']);
  });

  it('a part that always fails: the write rejects, the upload is aborted, nothing is listed', async () => {
    const storage = driver({ maxAttempts: 3 });
    proxy.setRule((r) => (r.operation === 'UploadPart' && r.query.partNumber === '2' ? { status: 503, code: 'ServiceUnavailable' } : 'pass'));
    const error = await storage.write('shop/dev/01A/data/t.gz', bytes(12 * MB).body()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 's3-unavailable', exitCode: 4 });
    expect((error as Error).message).toContain(bucket.name);
    expect(proxy.ofOperation('UploadPart').filter((r) => r.query.partNumber === '2')).toHaveLength(3);
    const uploadId = proxy.ofOperation('CreateMultipartUpload').length === 1 ? proxy.ofOperation('UploadPart')[0]!.query.uploadId : 'none';
    expect(proxy.ofOperation('AbortMultipartUpload').map((r) => r.query.uploadId)).toEqual([uploadId]);
    expect(proxy.ofOperation('CompleteMultipartUpload')).toHaveLength(0);
    expect(await bucket.keys()).toEqual([]);
    expect((await bucket.openUploads()) ?? []).toEqual([]);
  });

  it('a failing part stops the write early instead of streaming the rest of a large body', async () => {
    const storage = driver({ maxAttempts: 2, queueSize: 1 });
    proxy.setRule((r) => (r.operation === 'UploadPart' ? { status: 503 } : 'pass'));
    let produced = 0;
    const body = Readable.from(
      (async function* () {
        for (; produced < 60 * MB; produced += MB) yield Buffer.alloc(MB, 3);
      })(),
      { objectMode: false },
    );
    await expect(storage.write('huge', body)).rejects.toMatchObject({ code: 's3-unavailable' });
    expect(produced).toBeLessThan(20 * MB);
    expect(proxy.ofOperation('UploadPart')).toHaveLength(2);
    expect(proxy.ofOperation('AbortMultipartUpload')).toHaveLength(1);
  });

  it('a permanent 403 fails at once, naming the bucket and never the secret', async () => {
    proxy.setRule(() => ({ status: 403, code: 'AccessDenied' }));
    const storage = driver();
    const started = Date.now();
    const failures = await failuresOf(storage);
    expect(Date.now() - started).toBeLessThan(3000);
    for (const error of failures) {
      expect(error).toMatchObject({ code: 's3-access-denied', exitCode: 4 });
      const { message, hint } = error as { message: string; hint: string };
      expect(message).toContain(bucket.name);
      expect(message).toContain(proxy.endpoint);
      expect(`${message} ${hint}`).not.toContain(server.secretAccessKey);
    }
    // One request per operation, and for exists() a listing that explains the bodiless HEAD 403.
    expect(proxy.requests.map((r) => r.operation)).toEqual(['PutObject', 'GetObject', 'ListObjectsV2', 'HeadObject', 'ListObjectsV2', 'ListObjectsV2']);
  });

  /** Every operation of `storage`, one at a time, each with its failure. */
  async function failuresOf(storage: S3Storage): Promise<unknown[]> {
    const operations = [
      () => storage.write('k', Readable.from(['x'])),
      () => storage.read('k'),
      () => collect(storage.listChildren('')),
      () => storage.exists('k'),
      () => storage.removePrefix('k'),
    ];
    const failures: unknown[] = [];
    for (const operation of operations) failures.push(await operation().then(() => 'no error', (e: unknown) => e));
    return failures;
  }

  it('an unknown access key ends in s3-credentials-refused, without the secret', async () => {
    const secret = `wrong-${randomBytes(8).toString('hex')}`;
    const storage = driver({ credentials: { accessKeyId: 'NOSUCHKEY', secretAccessKey: secret } }, server.endpoint);
    for (const error of await failuresOf(storage)) {
      expect(error).toMatchObject({ code: 's3-credentials-refused', exitCode: 4 });
      expect(JSON.stringify({ ...(error as object), message: (error as Error).message })).not.toContain(secret);
    }
  });

  // s3rver checks the access key id but not SigV4 signatures ("calculation is unimplemented" in
  // its authentication middleware), so a wrong secret only shows on a server that checks.
  it.skipIf(server.name === 's3rver')('a wrong secret ends in s3-credentials-refused, without the secret', async () => {
    const secret = `wrong-${randomBytes(8).toString('hex')}`;
    const storage = driver({ credentials: { accessKeyId: server.accessKeyId, secretAccessKey: secret } }, server.endpoint);
    for (const error of await failuresOf(storage)) {
      expect(error).toMatchObject({ code: 's3-credentials-refused', exitCode: 4 });
      expect(JSON.stringify({ ...(error as object), message: (error as Error).message })).not.toContain(secret);
    }
  });

  it('a SignatureDoesNotMatch answer ends in s3-credentials-refused, at once', async () => {
    proxy.setRule(() => ({ status: 403, code: 'SignatureDoesNotMatch' }));
    const storage = driver();
    const error = await storage.write('k', Readable.from(['x'])).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 's3-credentials-refused', exitCode: 4 });
    expect(proxy.requests).toHaveLength(1);
  });

  it('a missing bucket ends in s3-bucket-not-found for every operation', async () => {
    const storage = new S3Storage(resolveS3Settings(`s3://strata-no-such-bucket-${randomBytes(4).toString('hex')}/p`, s3DriverOptions(server)));
    drivers.push(storage);
    for (const error of await failuresOf(storage)) {
      expect(error).toMatchObject({ code: 's3-bucket-not-found', exitCode: 4 });
      expect((error as Error).message).toContain('strata-no-such-bucket-');
    }
  });

  it('an unreachable endpoint ends in s3-unreachable, quickly with few attempts', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const storage = driver({ maxAttempts: 2, connectionTimeoutMs: 500 }, endpoint);
    const started = Date.now();
    const error = await storage.write('k', Readable.from(['x'])).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error).toMatchObject({ code: 's3-unreachable', exitCode: 4 });
    expect((error as Error).message).toContain(endpoint);
    expect((error as Error).message).toMatch(/after 2 attempts/);
  });

  describe('without credentials anywhere', () => {
    afterEach(() => {
      vi.unstubAllEnvs();
    });

    it('ends in s3-credentials-missing', async () => {
      for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI']) {
        vi.stubEnv(name, undefined);
      }
      vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/strata/credentials');
      vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/strata/config');
      vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
      const url = `s3://${bucket.name}/p?endpoint=${encodeURIComponent(server.endpoint)}&region=${server.region}`;
      const storage = new S3Storage(resolveS3Settings(url));
      drivers.push(storage);
      const error = await storage.write('k', Readable.from(['x'])).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 's3-credentials-missing', exitCode: 4 });
      expect((error as { hint: string }).hint).toMatch(/AWS_ACCESS_KEY_ID/);
    });
  });
});
