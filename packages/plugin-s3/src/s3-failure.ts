import { S3StorageError } from './s3-error.js';

/** What the driver was doing, for the sentence. */
export interface FailureContext {
  bucket: string;
  /** Custom endpoint, shown so the user knows which server answered; never contains credentials. */
  endpoint?: string;
  doing: 'write' | 'read' | 'check' | 'list' | 'remove';
  /** Full object key or prefix in the bucket. */
  key: string;
}

/** Error codes of Node's sockets and DNS that mean "could not talk to the server". */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const CREDENTIAL_CODES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired', 'InvalidSecurity', 'AuthorizationHeaderMalformed']);
const VERBS: Record<FailureContext['doing'], string> = { write: 'write', read: 'read', check: 'look up', list: 'list', remove: 'delete' };

interface SdkErrorLike {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  cause?: unknown;
}

/** HTTP status of an SDK service error, if the server answered. */
export function statusOf(error: unknown): number | undefined {
  return (error as SdkErrorLike | null)?.$metadata?.httpStatusCode;
}

/** S3 error code (`NoSuchKey`, `AccessDenied`…) of an SDK service error, else the error's name. */
export function s3CodeOf(error: unknown): string | undefined {
  const e = error as SdkErrorLike | null;
  return (e as { Code?: string } | null)?.Code ?? e?.name;
}

/** Whether the server said the object (or, for HEAD, possibly the bucket) is not there. */
export function isMissingObject(error: unknown): boolean {
  const code = s3CodeOf(error);
  return code === 'NoSuchKey' || code === 'NotFound' || (statusOf(error) === 404 && code !== 'NoSuchBucket');
}

/** Whether `error` is an S3 server's "this API is not here" (s3rver, some gateways). */
export function isNotImplemented(error: unknown): boolean {
  const code = s3CodeOf(error);
  return code === 'NotImplemented' || code === 'MethodNotAllowed' || statusOf(error) === 501 || statusOf(error) === 405;
}

/**
 * Turns whatever the AWS SDK threw into one sentence with a code and a hint. Server messages are
 * not copied: some echo request details, and the code says enough. Credentials never appear:
 * the sentence names the bucket, the key and the endpoint only.
 */
export function toStorageError(error: unknown, ctx: FailureContext): S3StorageError {
  if (error instanceof S3StorageError) return error;
  const e = (error ?? {}) as SdkErrorLike;
  const code = s3CodeOf(error) ?? 'Error';
  const status = statusOf(error);
  const at = ctx.endpoint ? ` at ${ctx.endpoint}` : '';
  const object = `s3://${ctx.bucket}/${ctx.key}`;
  const verb = VERBS[ctx.doing];
  const attempts = e.$metadata?.attempts;
  const after = attempts && attempts > 1 ? ` after ${attempts} attempts` : '';

  if (code === 'CredentialsProviderError' || /could not load credentials/i.test(e.message ?? '')) {
    return new S3StorageError(`No AWS credentials were found for bucket ${ctx.bucket}${at}.`, {
      code: 's3-credentials-missing',
      hint: 'Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name a `profile`, or give `credentials` in the storage options.',
      cause: error,
    });
  }
  if (/region is missing/i.test(e.message ?? '')) {
    return new S3StorageError(`No AWS region is set for bucket ${ctx.bucket}.`, {
      code: 's3-region-missing',
      hint: 'Set AWS_REGION, or `region` in the storage options or as ?region=… in the URL.',
      exitCode: 2,
      cause: error,
    });
  }
  if (code === 'NoSuchBucket') {
    return new S3StorageError(`The bucket ${ctx.bucket} does not exist${at}.`, {
      code: 's3-bucket-not-found',
      hint: 'Create the bucket, or fix the bucket name, endpoint or region of this environment\'s storage.',
      cause: error,
    });
  }
  if (isMissingObject(error)) {
    return new S3StorageError(`There is no object ${object}${at}.`, {
      code: 'not-found',
      hint: 'Check the snapshot id with `strata list`, and that the environment points at the right storage.',
      cause: error,
    });
  }
  if (CREDENTIAL_CODES.has(code)) {
    return new S3StorageError(`The S3 server${at || ' (AWS)'} refused the credentials used for bucket ${ctx.bucket} (${code}).`, {
      code: 's3-credentials-refused',
      hint: 'Check the access key id and secret (or the profile) this environment uses, and that the session token has not expired.',
      cause: error,
    });
  }
  if (code === 'AccessDenied' || code === 'AllAccessDisabled' || status === 403) {
    return new S3StorageError(`Access denied: cannot ${verb} ${object}${at} (${code === 'Error' || code === 'Forbidden' ? 'HTTP 403' : code}).`, {
      code: 's3-access-denied',
      hint: 'Grant these credentials s3:PutObject, s3:GetObject, s3:ListBucket, s3:DeleteObject, s3:AbortMultipartUpload and s3:ListBucketMultipartUploads on the bucket (and check the credentials themselves).',
      cause: error,
    });
  }
  if (code === 'PreconditionFailed' || status === 412) {
    return new S3StorageError(`The object ${object}${at} changed while it was being read.`, {
      code: 's3-object-changed',
      hint: 'Something else is writing to this storage; run the command again once it is done.',
      cause: error,
    });
  }
  const network = networkCodeOf(error);
  if (network || code === 'TimeoutError') {
    return new S3StorageError(`Cannot reach the S3 server${at || ' (AWS)'} to ${verb} ${object}${after}: ${network ?? 'the connection timed out'}.`, {
      code: 's3-unreachable',
      hint: ctx.endpoint ? 'Check that the endpoint is right and the server is running, and the network between.' : 'Check the network connection and the region.',
      cause: error,
    });
  }
  if (status !== undefined && (status >= 500 || status === 429)) {
    return new S3StorageError(`The S3 server${at || ' (AWS)'} failed to ${verb} ${object}${after}: HTTP ${status} ${code}.`, {
      code: 's3-unavailable',
      hint: 'The server is overloaded or failing; try again later, or raise `maxAttempts` in the storage options.',
      cause: error,
    });
  }
  return new S3StorageError(`Cannot ${verb} ${object}${at}: ${status ? `HTTP ${status} ` : ''}${code}.`, {
    code: `s3-${ctx.doing}-failed`,
    hint: 'Check the storage settings of this environment; DEBUG=1 shows the details.',
    cause: error,
  });
}

function networkCodeOf(error: unknown, depth = 0): string | undefined {
  const e = error as SdkErrorLike | null;
  if (!e || depth > 5) return undefined;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return e.code;
  // AggregateError (happy eyeballs trying IPv4 and IPv6) keeps the real codes inside.
  for (const inner of (e as { errors?: unknown[] }).errors ?? []) {
    const found = networkCodeOf(inner, depth + 1);
    if (found) return found;
  }
  return networkCodeOf(e.cause, depth + 1);
}
