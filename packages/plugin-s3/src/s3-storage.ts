import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { StorageDriver } from '@strata/contracts';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

import { ResumableObjectStream, type ObjectResponse } from './resumable-read.js';
import { S3StorageError } from './s3-error.js';
import { isMissingObject, isNotImplemented, s3CodeOf, statusOf, toStorageError, type FailureContext } from './s3-failure.js';
import { s3ClientConfig, type S3Settings } from './s3-settings.js';

/** DeleteObjects takes at most this many keys per request. */
const DELETE_BATCH = 1000;

/**
 * Snapshots in an S3 bucket (AWS S3, MinIO, R2, any S3-compatible endpoint), below an optional
 * key prefix. Writes stream through lib-storage's multipart `Upload` with bounded memory; reads
 * resume after a dropped connection; every request goes through the SDK's standard retries.
 */
export class S3Storage implements StorageDriver {
  readonly location: string;
  readonly settings: S3Settings;
  /** The SDK client; exposed for tests and tooling. */
  readonly client: S3Client;
  /** The endpoint as shown in messages: a custom one only, without user info. */
  private readonly shownEndpoint: string | undefined;
  /** Set once a request proved the bucket exists, so a HEAD 404 can mean "no object" at once. */
  private bucketSeen = false;

  constructor(settings: S3Settings) {
    this.settings = settings;
    // On Node 20 the SDK prints a seven-line notice that SDK releases after January 2027 need
    // Node 22, on every strata command. strata pins its SDK version, so the notice is for
    // strata's maintainers, not its users; setting the variable to "false" shows it again.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new S3Client(s3ClientConfig(settings));
    if (settings.checksums === 'when-required') addContentMd5ToDeleteObjects(this.client);
    this.location = `s3://${settings.bucket}/${settings.prefix ? `${settings.prefix}/` : ''}`;
    this.shownEndpoint = settings.endpoint === undefined ? undefined : withoutUserInfo(settings.endpoint);
  }

  /**
   * Streams `body` to `key` as one object: a single PutObject when it fits in one part, else a
   * multipart upload with `queueSize` parts of `partSizeMb` in flight. On failure or abort the
   * multipart upload is aborted and nothing is left under `key`; the body's own error or the
   * signal's reason is rethrown unchanged, S3 failures become an `S3StorageError`.
   */
  async write(key: string, body: Readable, options: { signal?: AbortSignal } = {}): Promise<void> {
    const Key = this.keyOf(key);
    const signal = options.signal;
    signal?.throwIfAborted();
    // Cancels in-flight requests and the body at the first failure, so a part that keeps failing
    // does not leave the other uploaders streaming the rest of a large body for nothing.
    const stop = new AbortController();
    const requestSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    let halted = false;
    let bodyError: unknown;
    let requestError: unknown;
    let publishMaybeHappened = false;
    const halt = (reason: unknown): void => {
      if (halted) return;
      halted = true;
      stop.abort(reason);
      if (!body.destroyed) body.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    };
    const onBodyError = (error: unknown): void => {
      if (halted) return;
      bodyError = error;
      halt(error);
    };
    const onAbort = (): void => halt(signal?.reason);
    body.once('error', onBodyError);
    signal?.addEventListener('abort', onAbort, { once: true });

    // Upload sends every request through this view of the client: same config and connections,
    // plus the abort signal (Upload has no way to pass one) and a watch on failures.
    const watched = Object.create(this.client) as S3Client;
    watched.send = ((command: Parameters<S3Client['send']>[0]) => {
      const publishes = command instanceof PutObjectCommand || command instanceof CompleteMultipartUploadCommand;
      return this.client.send(command, { abortSignal: requestSignal }).catch((error: unknown) => {
        // A publishing request cut off without an answer may still have created the object.
        if (publishes && statusOf(error) === undefined) publishMaybeHappened = true;
        if (!halted) requestError = error;
        halt(error);
        throw error;
      });
    }) as S3Client['send'];

    const upload = new Upload({
      client: watched,
      params: { Bucket: this.settings.bucket, Key, Body: body, ...this.objectParams() },
      partSize: this.settings.partSizeMb * 1024 * 1024,
      queueSize: this.settings.queueSize,
      // lib-storage's own abort replaces the original failure with the abort's error when the
      // abort fails (s3rver answers 405 to it); aborting below keeps the real cause.
      leavePartsOnError: true,
    });
    try {
      await upload.done();
      if (signal?.aborted) {
        publishMaybeHappened = true;
        throw signal.reason;
      }
    } catch (error) {
      await this.cleanUpFailedWrite(Key, upload.uploadId, publishMaybeHappened);
      if (signal?.aborted) throw signal.reason;
      if (bodyError !== undefined) throw bodyError;
      throw this.failure(requestError ?? error, 'write', Key);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      body.off('error', onBodyError);
    }
    this.bucketSeen = true;
  }

  /**
   * Opens `key` for reading, as a stream that resumes with a ranged GET when the connection
   * drops mid-body. Rejects with code `not-found` when there is no such object.
   */
  async read(key: string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    const Key = this.keyOf(key);
    const signal = options.signal;
    signal?.throwIfAborted();
    const first = await this.getObject(Key, 0, undefined, signal);
    return new ResumableObjectStream(first, (start, etag) => this.getObject(Key, start, etag, signal), {
      maxResumes: this.settings.maxAttempts,
      ...(signal ? { signal } : {}),
      mapError: (error) => this.failure(error, 'read', Key),
    });
  }

  /** Whether an object exists under `key` (a "directory" is not an object). */
  async exists(key: string): Promise<boolean> {
    const Key = this.keyOf(key);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key }));
      this.bucketSeen = true;
      return true;
    } catch (error) {
      if (isMissingObject(error) && this.bucketSeen) return false;
      // HEAD answers carry no body: a 404 may be a missing bucket, a 403 bad credentials.
      // A listing of the same key says which, with a proper S3 error code.
      await this.explainHeadFailure(Key, error);
      return false;
    }
  }

  /** Names of the objects and "directories" directly below `prefix`, paging through any number. */
  async *listChildren(prefix: string): AsyncIterable<string> {
    const Prefix = this.prefixOf(prefix, true);
    const seen = new Set<string>();
    const pages = paginateListObjectsV2(
      { client: this.client, pageSize: this.settings.listPageSize },
      { Bucket: this.settings.bucket, Prefix, Delimiter: '/' },
    );
    let page;
    const iterator = pages[Symbol.asyncIterator]();
    for (;;) {
      try {
        page = await iterator.next();
      } catch (error) {
        throw this.failure(error, 'list', Prefix);
      }
      if (page.done) break;
      this.bucketSeen = true;
      const names = [
        ...(page.value.CommonPrefixes ?? []).map((p) => (p.Prefix ?? '').slice(Prefix.length).replace(/\/$/, '')),
        ...(page.value.Contents ?? []).map((o) => (o.Key ?? '').slice(Prefix.length)),
      ];
      for (const name of names) {
        // `name === ''` is a "directory marker" object equal to the prefix itself.
        if (name === '' || name.includes('/') || seen.has(name)) continue;
        seen.add(name);
        yield name;
      }
    }
  }

  /**
   * Removes every object whose key starts with `prefix`, 1000 per DeleteObjects request, then
   * aborts multipart uploads in progress below it (best effort: servers without
   * ListMultipartUploads, such as s3rver, are skipped).
   */
  async removePrefix(prefix: string): Promise<void> {
    const Prefix = this.prefixOf(prefix, false);
    const Bucket = this.settings.bucket;
    try {
      // List from the start after each batch rather than following continuation tokens over a
      // listing that the deletes keep changing.
      for (;;) {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket, Prefix, MaxKeys: DELETE_BATCH }));
        this.bucketSeen = true;
        const keys = (page.Contents ?? []).map((o) => o.Key).filter((k): k is string => typeof k === 'string');
        if (keys.length === 0) break;
        const result = await this.client.send(
          new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.map((k) => ({ Key: k })), Quiet: true } }),
        );
        const failed = result.Errors?.[0];
        if (failed) {
          const error = Object.assign(new Error(failed.Message ?? 'delete failed'), { name: failed.Code ?? 'DeleteFailed' });
          throw this.failure(error, 'remove', failed.Key ?? Prefix);
        }
      }
      await this.abortUploadsUnder(Prefix);
    } catch (error) {
      throw this.failure(error, 'remove', Prefix);
    }
  }

  /** Closes the client's connections. */
  async close(): Promise<void> {
    this.client.destroy();
  }

  /** SSE and storage class for new objects. */
  private objectParams(): { ServerSideEncryption?: S3Settings['sse']; SSEKMSKeyId?: string; StorageClass?: S3Settings['storageClass'] } {
    const { sse, kmsKeyId, storageClass } = this.settings;
    return {
      ...(sse !== undefined ? { ServerSideEncryption: sse } : {}),
      ...(kmsKeyId !== undefined ? { SSEKMSKeyId: kmsKeyId } : {}),
      ...(storageClass !== undefined ? { StorageClass: storageClass } : {}),
    };
  }

  private async getObject(Key: string, start: number, etag: string | undefined, signal: AbortSignal | undefined): Promise<ObjectResponse> {
    try {
      const output = await this.client.send(
        new GetObjectCommand({
          Bucket: this.settings.bucket,
          Key,
          ...(start > 0 ? { Range: `bytes=${start}-` } : {}),
          ...(etag !== undefined ? { IfMatch: etag } : {}),
        }),
        signal ? { abortSignal: signal } : {},
      );
      this.bucketSeen = true;
      const range = /^bytes (\d+)-\d+\/(\d+)$/.exec(output.ContentRange ?? '');
      return {
        body: output.Body as Readable,
        ...(output.ETag !== undefined ? { etag: output.ETag } : {}),
        start: range ? Number(range[1]) : 0,
        ...(range ? { totalLength: Number(range[2]) } : output.ContentLength !== undefined ? { totalLength: output.ContentLength } : {}),
      };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw this.failure(error, 'read', Key);
    }
  }

  /** After a failed write: abort the multipart upload, and remove an object that may have been published. */
  private async cleanUpFailedWrite(Key: string, uploadId: string | undefined, publishMaybeHappened: boolean): Promise<void> {
    const Bucket = this.settings.bucket;
    if (uploadId !== undefined) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: uploadId })).catch(() => {
        // NoSuchUpload (already completed or aborted), or a server without the API (s3rver's
        // 405): nothing more can be done, and the write's own failure is what the user needs.
      });
    }
    if (publishMaybeHappened) {
      await this.client.send(new DeleteObjectCommand({ Bucket, Key })).catch(() => {});
    }
  }

  private async abortUploadsUnder(Prefix: string): Promise<void> {
    const Bucket = this.settings.bucket;
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(new ListMultipartUploadsCommand({ Bucket, Prefix, KeyMarker, UploadIdMarker }));
      } catch (error) {
        if (isNotImplemented(error)) return;
        throw error;
      }
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId) continue;
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket, Key: upload.Key, UploadId: upload.UploadId }))
          .catch((error: unknown) => {
            if (s3CodeOf(error) !== 'NoSuchUpload' && statusOf(error) !== 404) throw error;
          });
      }
      if (!page.IsTruncated) return;
      KeyMarker = page.NextKeyMarker;
      UploadIdMarker = page.NextUploadIdMarker;
    }
  }

  /** Throws the error a listing of the same key gives for a failed HEAD; returns when the object is simply absent. */
  private async explainHeadFailure(Key: string, headError: unknown): Promise<void> {
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: Key, MaxKeys: 1 }));
    } catch (listError) {
      throw this.failure(listError, 'check', Key);
    }
    this.bucketSeen = true;
    if (!isMissingObject(headError)) throw this.failure(headError, 'check', Key);
  }

  private failure(error: unknown, doing: FailureContext['doing'], key: string): S3StorageError {
    return toStorageError(error, {
      bucket: this.settings.bucket,
      doing,
      key,
      ...(this.shownEndpoint !== undefined ? { endpoint: this.shownEndpoint } : {}),
    });
  }

  /** The full object key of a storage key; refuses keys that are not plain relative paths. */
  private keyOf(key: string): string {
    const segments = checkKey(key, false);
    return [this.settings.prefix, ...segments].filter((s) => s !== '').join('/');
  }

  /**
   * The full key prefix for a listing (`directory`: always ending in `/`, so `shop` does not match
   * `shop2/`) or a removal (a partial name such as `shop/dev/01J` matches `01JA…` and `01JB…`).
   */
  private prefixOf(prefix: string, directory: boolean): string {
    checkKey(prefix, true);
    const root = this.settings.prefix ? `${this.settings.prefix}/` : '';
    const full = `${root}${prefix.replace(/^\/+/, '')}`;
    if (full === '') return '';
    return directory && !full.endsWith('/') ? `${full}/` : full;
  }
}

/**
 * Keys come from core, but a manifest read from storage could be crafted: keep the same rules as
 * the local driver (no absolute keys, no `.`/`..` segments), so a snapshot behaves the same anywhere.
 */
function checkKey(key: string, allowRoot: boolean): string[] {
  const segments = key.split('/').filter((s) => s !== '');
  const unsafe = key.startsWith('/') || key.includes('\\') || key.includes('\0') || segments.some((s) => s === '..' || s === '.');
  if (unsafe || (segments.length === 0 && !allowRoot)) {
    throw new S3StorageError(`The storage key "${key}" is not a valid relative key.`, {
      code: 'storage-key-invalid',
      hint: 'Keys are relative paths separated by "/", without "." or ".." segments.',
    });
  }
  return segments;
}

function withoutUserInfo(endpoint: string): string {
  try {
    const url = new URL(endpoint);
    url.username = '';
    url.password = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '<invalid endpoint>';
  }
}

/**
 * DeleteObjects is the one S3 call that requires a body checksum. With checksums 'when-required'
 * the SDK sends a CRC32 there, which older MinIO and other S3-compatible servers reject
 * ("Missing required header for this request: Content-MD5"); sending Content-MD5 as well is what
 * every server accepts (the SDK's own MD5_FALLBACK guide does the same).
 */
function addContentMd5ToDeleteObjects(client: S3Client): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown } | undefined;
      if (context.commandName === 'DeleteObjectsCommand' && request?.headers && (typeof request.body === 'string' || request.body instanceof Uint8Array)) {
        request.headers['content-md5'] = createHash('md5').update(request.body).digest('base64');
      }
      return next(args);
    },
    { step: 'build', name: 'strataContentMd5ForDeleteObjects' },
  );
}
