import type { StorageHookOptions, StorageHookResult } from '@strata/contracts';

import { isFileUrl, resolveFileUrl } from '../file-url.js';
import { LocalStorage } from '../local-storage.js';

/**
 * The `strata:storage` hook: a `LocalStorage` for `file:` URLs, `undefined` for every other
 * scheme so that core asks the next plugin. Registered in package.json under `oclif.hooks`.
 */
export async function storageHook(options: StorageHookOptions): Promise<StorageHookResult> {
  if (!isFileUrl(options.url)) return undefined;
  return new LocalStorage(resolveFileUrl(options.url, options.baseDir));
}
