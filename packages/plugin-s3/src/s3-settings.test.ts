import { describe, expect, it } from 'vitest';

import { parseS3Url, isS3Url } from './s3-url.js';
import { resolveS3Settings, s3ClientConfig, S3_DEFAULTS } from './s3-settings.js';

const NO_ENV = {};

describe('parseS3Url', () => {
  it.each([
    ['s3://my-bucket', { bucket: 'my-bucket', prefix: '', query: {} }],
    ['s3://my-bucket/', { bucket: 'my-bucket', prefix: '', query: {} }],
    ['s3://my-bucket/backups/strata/', { bucket: 'my-bucket', prefix: 'backups/strata', query: {} }],
    ['s3://my-bucket//a//b', { bucket: 'my-bucket', prefix: 'a/b', query: {} }],
    ['s3://my.bucket.example/with%20space', { bucket: 'my.bucket.example', prefix: 'with space', query: {} }],
    ['S3://Legacy_Bucket/x', { bucket: 'Legacy_Bucket', prefix: 'x', query: {} }],
    ['s3://b-1/p?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-1', { bucket: 'b-1', prefix: 'p', query: { endpoint: 'http://127.0.0.1:9000', region: 'eu-1' } }],
  ])('%s', (url, expected) => {
    expect(parseS3Url(url)).toEqual(expected);
  });

  it.each([
    ['s3://AKIAEXAMPLE:s3cr3t-value@bucket/prefix', 's3cr3t-value'],
    ['s3://AKIAEXAMPLE:s3cr3t/with/slash@bucket/prefix', 's3cr3t'],
    ['s3://AKIAEXAMPLE:12345@bucket', '12345'],
    ['s3://AKIAEXAMPLE@bucket', 'AKIAEXAMPLE'],
  ])('refuses credentials in %s without echoing them', (url, secret) => {
    const error = (() => {
      try {
        parseS3Url(url);
      } catch (e) {
        return e as Error & { code: string; hint: string; exitCode: number };
      }
      throw new Error('no error');
    })();
    expect(error).toMatchObject({ code: 's3-url-credentials', exitCode: 2 });
    expect(error.hint).toMatch(/AWS_ACCESS_KEY_ID/);
    expect(error.hint).toMatch(/credentials/);
    expect(`${error.message} ${error.hint}`).not.toContain(secret);
  });

  it.each([
    ['s3://', 'storage-url-invalid'],
    ['s3:bucket', 'storage-url-invalid'],
    ['s3://bucket:9000/x', 'storage-url-invalid'],
    ['s3://a/x', 'storage-url-invalid'],
    ['s3://-bad-/x', 'storage-url-invalid'],
    ['s3://bucket/a/../b', 'storage-url-invalid'],
    ['s3://bucket/%zz', 'storage-url-invalid'],
    ['s3://bucket/?region=a&region=b', 'storage-url-invalid'],
    ['file:///x', 'storage-url-invalid'],
  ])('refuses %s', (url, code) => {
    expect(() => parseS3Url(url)).toThrow(expect.objectContaining({ code, exitCode: 2 }));
  });

  it('recognises only the s3 scheme', () => {
    expect(isS3Url('s3://b')).toBe(true);
    expect(isS3Url('S3://b')).toBe(true);
    expect(isS3Url('file:///x')).toBe(false);
    expect(isS3Url('./s3://x')).toBe(false);
  });
});

describe('resolveS3Settings', () => {
  it('leaves region, endpoint and credentials to the AWS SDK chain when nothing sets them', () => {
    const settings = resolveS3Settings('s3://bucket-1/p', {}, NO_ENV);
    expect(settings).toEqual({ bucket: 'bucket-1', prefix: 'p', ...S3_DEFAULTS });
    const config = s3ClientConfig(settings);
    for (const name of ['region', 'endpoint', 'credentials', 'profile', 'forcePathStyle']) expect(config).not.toHaveProperty(name);
  });

  it('defaults to checksums only when required, and can opt into the SDK default', () => {
    expect(s3ClientConfig(resolveS3Settings('s3://bucket-1', {}, NO_ENV))).toMatchObject({
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    expect(s3ClientConfig(resolveS3Settings('s3://bucket-1?checksums=when-supported', {}, NO_ENV))).toMatchObject({
      requestChecksumCalculation: 'WHEN_SUPPORTED',
      responseChecksumValidation: 'WHEN_SUPPORTED',
    });
  });

  it('takes the config options over the URL query, and the query over the defaults', () => {
    const url = 's3://bucket-1/p?endpoint=http%3A%2F%2Fquery%3A9000&region=from-query&partSizeMb=6&forcePathStyle=false&storageClass=STANDARD_IA';
    const settings = resolveS3Settings(url, { endpoint: 'https://options.example', partSizeMb: 32, queueSize: 2 }, NO_ENV);
    expect(settings).toMatchObject({
      endpoint: 'https://options.example',
      region: 'from-query',
      partSizeMb: 32,
      queueSize: 2,
      forcePathStyle: false,
      storageClass: 'STANDARD_IA',
      maxAttempts: S3_DEFAULTS.maxAttempts,
    });
  });

  it('passes the settings to the SDK client: timeouts, retries, credentials, profile', () => {
    const config = s3ClientConfig(
      resolveS3Settings(
        's3://bucket-1',
        {
          region: 'eu-central-1',
          profile: 'backup',
          credentials: { accessKeyId: 'AKIA1', secretAccessKey: 'secret-1', sessionToken: 'token-1' },
          maxAttempts: 7,
          connectionTimeoutMs: 1234,
          socketTimeoutMs: 5678,
        },
        NO_ENV,
      ),
    );
    expect(config).toMatchObject({
      region: 'eu-central-1',
      profile: 'backup',
      credentials: { accessKeyId: 'AKIA1', secretAccessKey: 'secret-1', sessionToken: 'token-1' },
      retryMode: 'standard',
      maxAttempts: 7,
      requestHandler: { connectionTimeout: 1234, socketTimeout: 5678 },
    });
  });

  it('uses path-style addressing and a placeholder region with a custom endpoint, unless told otherwise', () => {
    expect(resolveS3Settings('s3://bucket-1?endpoint=http://minio:9000', {}, NO_ENV)).toMatchObject({ forcePathStyle: true, region: 'us-east-1' });
    expect(resolveS3Settings('s3://bucket-1?endpoint=http://minio:9000', { forcePathStyle: false, region: 'auto' }, NO_ENV)).toMatchObject({
      forcePathStyle: false,
      region: 'auto',
    });
    // AWS_REGION is the SDK's to apply: no placeholder then.
    expect(resolveS3Settings('s3://bucket-1?endpoint=http://minio:9000', {}, { AWS_REGION: 'eu-west-3' }).region).toBeUndefined();
  });

  it('names an unknown option or query parameter', () => {
    expect(() => resolveS3Settings('s3://bucket-1', { partSize: 5 }, NO_ENV)).toThrow(
      expect.objectContaining({ code: 's3-option-unknown', exitCode: 2, message: expect.stringContaining('"partSize"') }),
    );
    expect(() => resolveS3Settings('s3://bucket-1?acl=private', {}, NO_ENV)).toThrow(
      expect.objectContaining({ code: 's3-option-unknown', message: expect.stringContaining('query parameter "acl"') }),
    );
    expect(() => resolveS3Settings('s3://bucket-1', { credentials: { accessKeyId: 'a', secretAccessKey: 'b', secret: 'c' } }, NO_ENV)).toThrow(
      expect.objectContaining({ code: 's3-option-unknown', message: expect.stringContaining('"credentials.secret"') }),
    );
  });

  it.each([
    [{ partSizeMb: 4 }, 'partSizeMb'],
    [{ partSizeMb: 5.5 }, 'partSizeMb'],
    [{ queueSize: 0 }, 'queueSize'],
    [{ maxAttempts: '3' }, 'maxAttempts'],
    [{ sse: 'aes256' }, 'sse'],
    [{ storageClass: 'FAST' }, 'storageClass'],
    [{ checksums: 'never' }, 'checksums'],
    [{ endpoint: 'minio:9000' }, 'endpoint'],
    [{ forcePathStyle: 'yes' }, 'forcePathStyle'],
    [{ credentials: { accessKeyId: 'AKIA1' } }, 'credentials.secretAccessKey'],
  ])('names an invalid option %o', (options, name) => {
    expect(() => resolveS3Settings('s3://bucket-1', options, NO_ENV)).toThrow(
      expect.objectContaining({ code: 's3-option-invalid', exitCode: 2, message: expect.stringContaining(`"${name}"`) }),
    );
  });

  it('names an invalid query parameter', () => {
    expect(() => resolveS3Settings('s3://bucket-1?partSizeMb=big', {}, NO_ENV)).toThrow(
      expect.objectContaining({ code: 's3-option-invalid', message: expect.stringContaining('query parameter "partSizeMb"') }),
    );
    expect(() => resolveS3Settings('s3://bucket-1?forcePathStyle=yes', {}, NO_ENV)).toThrow(expect.objectContaining({ code: 's3-option-invalid' }));
  });

  it('never echoes an invalid value, which may be a secret', () => {
    const error = (() => {
      try {
        resolveS3Settings('s3://bucket-1', { credentials: { accessKeyId: 'AKIA1', secretAccessKey: 42 } }, NO_ENV);
      } catch (e) {
        return e as Error & { hint: string };
      }
      throw new Error('no error');
    })();
    expect(error.message).toContain('credentials.secretAccessKey');
    expect(`${error.message}${error.hint}`).not.toContain('42');
  });

  it('accepts SSE-KMS with a key, and refuses a KMS key without SSE-KMS', () => {
    expect(resolveS3Settings('s3://bucket-1?sse=aws:kms', { kmsKeyId: 'alias/strata' }, NO_ENV)).toMatchObject({ sse: 'aws:kms', kmsKeyId: 'alias/strata' });
    expect(() => resolveS3Settings('s3://bucket-1', { kmsKeyId: 'alias/strata' }, NO_ENV)).toThrow(
      expect.objectContaining({ code: 's3-option-invalid', message: expect.stringContaining('kmsKeyId') }),
    );
  });
});
