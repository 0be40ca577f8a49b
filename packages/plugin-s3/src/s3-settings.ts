import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { StorageClass } from '@aws-sdk/client-s3';
import { z } from 'zod';

import { configError } from './s3-error.js';
import { parseS3Url } from './s3-url.js';

/**
 * `when-required` (the default) sends and checks S3's own checksums only where the API demands
 * them (DeleteObjects). `when-supported` is the AWS SDK's default: a CRC on every upload and
 * download. It is not the default here because s3rver and several S3-compatible servers store the
 * SDK's aws-chunked framing (used for checksummed streaming uploads) inside the object, silently
 * corrupting it; strata verifies data end to end anyway, with the sha256 of every data file that
 * the manifest records, on every restore and in `strata verify`.
 */
export type ChecksumMode = 'when-required' | 'when-supported';

/** Everything the driver needs, after the config's options, the URL and the defaults are merged. */
export interface S3Settings {
  bucket: string;
  /** Key prefix without leading or trailing slash, `''` for the bucket root. */
  prefix: string;
  /** Custom endpoint (MinIO, R2, …); unset means AWS, or AWS_ENDPOINT_URL_S3 resolved by the SDK. */
  endpoint?: string;
  /** Unset means the SDK's chain (AWS_REGION, the profile's region). */
  region?: string;
  /** Path-style addressing (`endpoint/bucket/key`); defaults to true with a custom endpoint. */
  forcePathStyle?: boolean;
  /** Static credentials; unset means the SDK's chain (environment, profiles, SSO, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** A profile of ~/.aws/config and ~/.aws/credentials. */
  profile?: string;
  /** Server-side encryption applied to every object written. */
  sse?: 'AES256' | 'aws:kms' | 'aws:kms:dsse';
  /** KMS key for `sse: aws:kms`; unset means the bucket's or account's default key. */
  kmsKeyId?: string;
  storageClass?: StorageClass;
  checksums: ChecksumMode;
  /** Multipart part size in MiB (≥ 5). Objects are limited to 10,000 parts. */
  partSizeMb: number;
  /** Parts uploaded in parallel per write; memory per write is about (queueSize + 1) × partSize. */
  queueSize: number;
  /** Attempts per request, the first included, for the SDK's standard retry strategy. */
  maxAttempts: number;
  /** Time to establish a connection before the attempt fails (and is retried). */
  connectionTimeoutMs: number;
  /** Time a connection may stay idle mid-request or mid-response before the attempt fails. */
  socketTimeoutMs: number;
  /** Keys per ListObjectsV2 page (1–1000). */
  listPageSize: number;
}

/** Defaults of the tuning options. */
export const S3_DEFAULTS = {
  checksums: 'when-required',
  partSizeMb: 8,
  queueSize: 4,
  maxAttempts: 5,
  connectionTimeoutMs: 10_000,
  socketTimeoutMs: 60_000,
  listPageSize: 1000,
} as const satisfies Partial<S3Settings>;

const httpUrl = z.string().refine(
  (value) => {
    try {
      return ['http:', 'https:'].includes(new URL(value).protocol);
    } catch {
      return false;
    }
  },
  { message: 'must be an http:// or https:// URL' },
);
const int = (min: number, max: number) => z.number().int().min(min).max(max);

/** Settings that may come from the config's options or from the URL's query. */
const scalarFields = {
  endpoint: httpUrl,
  region: z.string().min(1),
  forcePathStyle: z.boolean(),
  profile: z.string().min(1),
  sse: z.enum(['AES256', 'aws:kms', 'aws:kms:dsse']),
  kmsKeyId: z.string().min(1),
  storageClass: z.enum(Object.values(StorageClass) as [StorageClass, ...StorageClass[]]),
  checksums: z.enum(['when-required', 'when-supported']),
  partSizeMb: int(5, 5120),
  queueSize: int(1, 64),
  maxAttempts: int(1, 20),
  connectionTimeoutMs: int(1, 600_000),
  socketTimeoutMs: int(1, 3_600_000),
  listPageSize: int(1, 1000),
};
type ScalarName = keyof typeof scalarFields;

const optionsSchema = z
  .strictObject({
    ...scalarFields,
    credentials: z.strictObject({
      accessKeyId: z.string().min(1),
      secretAccessKey: z.string().min(1),
      sessionToken: z.string().min(1).optional(),
    }),
  })
  .partial();

/** Query parameters are strings: booleans and numbers are converted before the same checks run. */
const queryBoolean = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const queryNumber = (schema: z.ZodNumber) => z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(schema);
const querySchema = z
  .strictObject({
    ...scalarFields,
    forcePathStyle: queryBoolean,
    partSizeMb: queryNumber(scalarFields.partSizeMb),
    queueSize: queryNumber(scalarFields.queueSize),
    maxAttempts: queryNumber(scalarFields.maxAttempts),
    connectionTimeoutMs: queryNumber(scalarFields.connectionTimeoutMs),
    socketTimeoutMs: queryNumber(scalarFields.socketTimeoutMs),
    listPageSize: queryNumber(scalarFields.listPageSize),
  })
  .partial();

/**
 * Merges the settings for one storage. Precedence, per setting: (1) the environment's storage
 * options from the config, (2) the URL's query parameters, (3) what the AWS SDK resolves by itself
 * (AWS_REGION, AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID…, profiles), which is why region, endpoint
 * and credentials stay unset unless given. Unknown or invalid settings are refused, by name.
 */
export function resolveS3Settings(url: string, options: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = process.env): S3Settings {
  const { bucket, prefix, query } = parseS3Url(url);
  const fromQuery = check(querySchema, query, `the query parameter`, bucket);
  const fromOptions = check(optionsSchema, options, `the storage option`, bucket);
  const merged = { ...S3_DEFAULTS, ...defined(fromQuery), ...defined(fromOptions) };
  if (merged.kmsKeyId !== undefined && merged.sse !== 'aws:kms' && merged.sse !== 'aws:kms:dsse') {
    throw configError(
      's3-option-invalid',
      `The storage option kmsKeyId for bucket ${bucket} needs sse: aws:kms.`,
      'Set `sse: aws:kms` next to `kmsKeyId`, or remove `kmsKeyId`.',
    );
  }
  const settings: S3Settings = { bucket, prefix, ...merged };
  if (settings.endpoint !== undefined) {
    // S3-compatible servers rarely have the wildcard DNS that virtual-hosted addressing needs.
    settings.forcePathStyle ??= true;
    // Such servers ignore the region, but the SDK refuses to sign without one.
    if (settings.region === undefined && !env.AWS_REGION && !env.AWS_DEFAULT_REGION) settings.region = 'us-east-1';
  }
  return settings;
}

/** The S3Client configuration for `settings`: only what was decided here; the SDK resolves the rest. */
export function s3ClientConfig(settings: S3Settings): S3ClientConfig {
  const checksums = settings.checksums === 'when-supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
  return {
    ...(settings.endpoint !== undefined ? { endpoint: settings.endpoint } : {}),
    ...(settings.region !== undefined ? { region: settings.region } : {}),
    ...(settings.forcePathStyle !== undefined ? { forcePathStyle: settings.forcePathStyle } : {}),
    ...(settings.credentials !== undefined ? { credentials: settings.credentials } : {}),
    ...(settings.profile !== undefined ? { profile: settings.profile } : {}),
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    // The SDK's standard strategy: exponential backoff with jitter for 5xx, throttling
    // (SlowDown, 429), timeouts and connection errors; everything else fails at once.
    retryMode: 'standard',
    maxAttempts: settings.maxAttempts,
    requestHandler: {
      connectionTimeout: settings.connectionTimeoutMs,
      socketTimeout: settings.socketTimeoutMs,
    },
  };
}

function check<T>(schema: z.ZodType<T>, input: unknown, what: string, bucket: string): T {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw configError('s3-option-invalid', `The storage options for bucket ${bucket} must be an object.`, OPTIONS_HINT);
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue?.code === 'unrecognized_keys') {
    const name = issue.keys[0] ?? '?';
    throw configError('s3-option-unknown', `The S3 storage does not know ${what} "${[...issue.path, name].join('.')}" (bucket ${bucket}).`, OPTIONS_HINT);
  }
  const name = issue?.path.join('.') || '?';
  // Never echo the value: it may be a secret that failed validation.
  const reason = issue?.code === 'invalid_value' && 'values' in issue ? `must be one of ${issue.values.join(', ')}` : (issue?.message ?? 'is invalid');
  throw configError('s3-option-invalid', `The S3 storage ${what} "${name}" for bucket ${bucket} is invalid: ${reason}.`, OPTIONS_HINT);
}

const OPTIONS_HINT = `Known settings: ${[...(Object.keys(scalarFields) as ScalarName[]), 'credentials'].join(', ')} (see the @strata/plugin-s3 README).`;

function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
