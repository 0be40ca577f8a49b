import type { StorageHookOptions, StorageHookResult } from '@strata/core';

import { S3Storage } from '../s3-storage.js';
import { resolveS3Settings } from '../s3-settings.js';
import { isS3Url } from '../s3-url.js';

/**
 * The `strata:storage` hook: an `S3Storage` for `s3:` URLs, `undefined` for every other scheme so
 * that core asks the next plugin. Registered in package.json under `oclif.hooks`. A bad URL or
 * option throws here, at load time, with exit code 2.
 */
export async function storageHook(options: StorageHookOptions): Promise<StorageHookResult> {
  if (!isS3Url(options.url)) return undefined;
  return new S3Storage(resolveS3Settings(options.url, options.options ?? {}));
}
