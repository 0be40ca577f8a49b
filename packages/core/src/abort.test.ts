import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { normaliseAbort } from './abort.js';
import { isStrataErrorLike, StorageError, StrataError } from './errors.js';

// A plugin installed per environment brings its own node_modules copy of @strata/contracts: its
// StrataError is another class than core's, and core must still know its errors for what they are.
let dir: string;
let OtherStorageError: typeof StorageError;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-contracts-copy-'));
  const built = path.join(path.dirname(createRequire(import.meta.url).resolve('@strata/contracts/package.json')), 'dist/errors.js');
  await copyFile(built, path.join(dir, 'errors.js'));
  await copyFile(`${built}.map`, path.join(dir, 'errors.js.map'));
  await writeFile(path.join(dir, 'package.json'), '{"type":"module"}');
  ({ StorageError: OtherStorageError } = (await import(pathToFileURL(path.join(dir, 'errors.js')).href)) as { StorageError: typeof StorageError });
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a StrataError from a second copy of the class', () => {
  it('is another class, yet is recognised as a StrataError', () => {
    const error = new OtherStorageError('The bucket is gone.', { code: 'not-found', hint: 'Check the URL.' });
    expect(error).not.toBeInstanceOf(StrataError);
    expect(isStrataErrorLike(error)).toBe(true);
    expect(error.exitCode).toBe(4);
  });

  it('passes through normaliseAbort unchanged, even when the signal fired', () => {
    const error = new OtherStorageError('The bucket is gone.', { code: 'not-found' });
    expect(normaliseAbort(error, AbortSignal.abort(), 'snapshot')).toBe(error);
  });

  it('is told apart from a plain Error', () => {
    expect(isStrataErrorLike(new Error('boom'))).toBe(false);
    expect(isStrataErrorLike({ code: 'x', exitCode: 1, hint: undefined, message: 'not an Error' })).toBe(false);
  });
});
