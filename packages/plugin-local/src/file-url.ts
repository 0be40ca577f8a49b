import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { StorageError } from '@strata/contracts';

/** Whether this plugin handles `url`: any `file:` URL, in any letter case. */
export function isFileUrl(url: string): boolean {
  return /^file:/i.test(url);
}

/**
 * The absolute directory a `file:` URL names. Besides standard `file:///abs/dir`, configs commonly
 * say `file://./dir` or `file:dir`, which WHATWG URL parsing would mangle (`.` becomes a host), so
 * relative forms are recognised by hand and resolved against `baseDir` (the config's directory),
 * never against the process's cwd, so a command means the same place from any directory.
 */
export function resolveFileUrl(url: string, baseDir: string): string {
  if (!isFileUrl(url)) {
    throw new StorageError(`${url} is not a file: URL.`, { code: 'storage-url-invalid', hint: 'Use file:///absolute/dir or file://./relative/dir.' });
  }
  const rest = url.slice('file:'.length);
  if (rest.startsWith('///') || /^\/\/localhost\//i.test(rest)) {
    try {
      return path.resolve(fileURLToPath(url));
    } catch (error) {
      throw invalid(url, error);
    }
  }
  let relative: string;
  if (rest.startsWith('//')) {
    const afterSlashes = rest.slice(2);
    // `file://./x` and `file://../x` are relative spellings; anything else after `//`
    // is a host name, which would mean a network share this plugin cannot reach.
    if (!/^\.{1,2}(\/|$)/.test(afterSlashes)) {
      throw new StorageError(`The storage URL ${url} names a host; the local storage plugin only reads directories on this machine.`, {
        code: 'storage-url-invalid',
        hint: 'Use file:///absolute/dir, or file://./dir for a directory next to the config file.',
      });
    }
    relative = afterSlashes;
  } else {
    relative = rest;
  }
  if (relative === '') throw invalid(url);
  let decoded: string;
  try {
    decoded = decodeURIComponent(relative);
  } catch (error) {
    throw invalid(url, error);
  }
  return path.resolve(baseDir, decoded);
}

function invalid(url: string, cause?: unknown): StorageError {
  return new StorageError(`The storage URL ${url} is not a valid file: URL.`, {
    code: 'storage-url-invalid',
    hint: 'Use file:///absolute/dir, or file://./dir for a directory next to the config file.',
    cause,
  });
}
