import type { StorageHookOptions, StorageHookResult } from '@strata/contracts';

import { isS3Url } from '../s3-url.js';

/**
 * The `strata:storage` hook: an `S3Storage` for `s3:` URLs, `undefined` for every other scheme so
 * that core asks the next plugin. Registered in package.json under `oclif.hooks`. A bad URL or
 * option throws here, at load time, with exit code 2.
 */
export async function storageHook(options: StorageHookOptions): Promise<StorageHookResult> {
  if (!isS3Url(options.url)) return undefined;
  // Every command asks every storage plugin; the AWS SDK (~100 ms to load) is loaded only for s3://.
  const [{ S3Storage }, { resolveS3Settings }] = await Promise.all([import('../s3-storage.js'), import('../s3-settings.js')]);
  return new S3Storage(resolveS3Settings(options.url, options.options ?? {}));
}
