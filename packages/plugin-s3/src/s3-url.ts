import { configError } from './s3-error.js';

/** What an `s3://bucket/prefix?query` URL says. */
export interface ParsedS3Url {
  bucket: string;
  /** Key prefix without leading or trailing slash; `''` for the bucket's root. */
  prefix: string;
  /** Query parameters, as given (validated later, with the config's options). */
  query: Record<string, string>;
}

/** Whether this plugin handles `url`: any `s3:` URL, in any letter case. */
export function isS3Url(url: string): boolean {
  return /^s3:/i.test(url);
}

const WHERE_CREDENTIALS =
  'Put them in the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), an AWS profile (`profile` option), or the storage options as `credentials: { accessKeyId: "${S3_KEY}", secretAccessKey: "${S3_SECRET}" }`.';
const URL_FORM = 'Use s3://bucket/optional/prefix, with settings such as ?endpoint=…&region=… as query parameters or storage options.';

/** Bucket names as S3 and the compatible servers accept them, legacy (uppercase, `_`) names included. */
const BUCKET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/;

/**
 * Parses `s3://bucket/optional/prefix?endpoint=…`. Credentials in the URL are refused: URLs end up
 * in configs, shell history and logs, and a URL-encoded secret is easy to get subtly wrong. A URL
 * that does not parse is never echoed back, since there is no telling where a secret sits in it.
 */
export function parseS3Url(url: string): ParsedS3Url {
  if (!/^s3:\/\//i.test(url)) {
    throw configError('storage-url-invalid', 'The storage URL must start with s3:// followed by the bucket name.', URL_FORM);
  }
  // `@` before the query means user info, even when a secret containing `/` or `:` makes the
  // authority end early (`s3://KEY:se/cret@bucket`); refuse before parsing so nothing is echoed.
  if ((url.split(/[?#]/, 1)[0] ?? '').includes('@')) throw credentialsInUrl();
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw configError('storage-url-invalid', 'The storage URL is not a valid s3:// URL.', URL_FORM, error);
  }
  if (parsed.port !== '') {
    throw configError('storage-url-invalid', 'The storage URL has a port after the bucket name.', 'Put the server address in the `endpoint` option or query parameter, not in the bucket part of the URL.');
  }
  const bucket = parsed.hostname;
  if (bucket === '') throw configError('storage-url-invalid', 'The storage URL names no bucket: it must be s3://bucket/….', URL_FORM);
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..')) {
    throw configError(
      'storage-url-invalid',
      `The storage URL names an invalid bucket "${bucket}".`,
      'Bucket names are 3 to 63 letters, digits, dots and hyphens; put the server address in the `endpoint` option, not in the URL.',
    );
  }
  // The raw path, not `parsed.pathname`: URL parsing silently resolves `a/../b` to `b`.
  const rawPath = (url.split(/[?#]/, 1)[0] ?? '').slice('s3://'.length + parsed.host.length);
  let segments: string[];
  try {
    segments = rawPath.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
  } catch (error) {
    throw configError('storage-url-invalid', `The storage URL for bucket ${bucket} has an invalid %-escape in its prefix.`, URL_FORM, error);
  }
  if (segments.some((s) => s === '.' || s === '..' || s.includes('/') || s.includes('\0'))) {
    throw configError('storage-url-invalid', `The storage URL for bucket ${bucket} has "." or ".." in its prefix.`, URL_FORM);
  }
  const query: Record<string, string> = {};
  for (const [name, value] of parsed.searchParams) {
    if (name in query) {
      throw configError('storage-url-invalid', `The storage URL for bucket ${bucket} gives the query parameter "${name}" twice.`, 'Give each setting once.');
    }
    query[name] = value;
  }
  return { bucket, prefix: segments.join('/'), query };
}

function credentialsInUrl() {
  return configError(
    's3-url-credentials',
    'The storage URL contains credentials (an "@" before the query); strata does not read credentials from s3:// URLs.',
    WHERE_CREDENTIALS,
  );
}
