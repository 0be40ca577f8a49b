import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { StorageError, isStorageDriver } from '@strata/contracts';

import { storageHook } from './hooks/storage.js';
import { LocalStorage } from './local-storage.js';

let root: string;
let storage: LocalStorage;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'strata-local-'));
  storage = new LocalStorage(path.join(root, 'store'));
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Every file below `dir`, relative, including hidden temporary files. */
async function filesBelow(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
  } catch {
    return [];
  }
}

/** A body that yields some chunks, then fails the way a broken database stream would. */
function failingBody(): Readable {
  return Readable.from(
    (async function* () {
      yield Buffer.from('partial data ');
      yield Buffer.from('more partial data');
      throw new Error('upstream broke');
    })(),
  );
}

/** A body that yields one chunk and then never ends, until destroyed. */
function endlessBody(): Readable {
  return new Readable({
    read() {
      // Push once; afterwards stay pending so only an abort can end the write.
      if (this.readableLength === 0 && !(this as { pushed?: boolean }).pushed) {
        (this as { pushed?: boolean }).pushed = true;
        this.push(Buffer.from('first chunk'));
      }
    },
  });
}

describe('LocalStorage', () => {
  it('is a StorageDriver with a file:// location', () => {
    expect(isStorageDriver(storage)).toBe(true);
    expect(storage.location).toBe(`file://${path.join(root, 'store')}`);
  });

  it('writes, reads back and reports existence', async () => {
    await storage.write('shop/dev/01A/data/public.users.copy.gz', Readable.from(['hello ', 'world']));
    expect(await storage.exists('shop/dev/01A/data/public.users.copy.gz')).toBe(true);
    expect(await storage.exists('shop/dev/01A/data')).toBe(false); // a directory is not an object
    expect(await storage.exists('shop/dev/01A/missing')).toBe(false);
    expect(await text(await storage.read('shop/dev/01A/data/public.users.copy.gz'))).toBe('hello world');
    expect(await filesBelow(storage.root)).toEqual(['shop/dev/01A/data/public.users.copy.gz']);
  });

  it('replaces an existing object', async () => {
    await storage.write('a/b.json', Readable.from(['old']));
    await storage.write('a/b.json', Readable.from(['new']));
    expect(await readFile(path.join(storage.root, 'a/b.json'), 'utf8')).toBe('new');
    expect(await filesBelow(storage.root)).toEqual(['a/b.json']);
  });

  it('leaves nothing behind when the body fails', async () => {
    await expect(storage.write('shop/dev/01A/manifest.json', failingBody())).rejects.toThrow('upstream broke');
    expect(await storage.exists('shop/dev/01A/manifest.json')).toBe(false);
    expect(await filesBelow(storage.root)).toEqual([]);
  });

  it('keeps the previous object when a replacing write fails', async () => {
    await storage.write('a/b.json', Readable.from(['old']));
    await expect(storage.write('a/b.json', failingBody())).rejects.toThrow('upstream broke');
    expect(await readFile(path.join(storage.root, 'a/b.json'), 'utf8')).toBe('old');
    expect(await filesBelow(storage.root)).toEqual(['a/b.json']);
  });

  it('leaves nothing behind when the write is aborted mid-stream', async () => {
    const controller = new AbortController();
    const body = endlessBody();
    const writing = storage.write('shop/dev/01A/data/big.copy.gz', body, { signal: controller.signal });
    // Wait until the temporary file exists, so the abort really interrupts a write in progress.
    for (let i = 0; i < 100 && (await filesBelow(storage.root)).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await filesBelow(storage.root)).some((f) => f.endsWith('.strata-tmp'))).toBe(true);
    controller.abort();
    await expect(writing).rejects.toMatchObject({ name: 'AbortError' });
    expect(await filesBelow(storage.root)).toEqual([]);
  });

  it('refuses to start a write with an already aborted signal', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(storage.write('x', Readable.from(['data']), { signal: controller.signal })).rejects.toThrow();
    expect(await filesBelow(storage.root)).toEqual([]);
  });

  it('rejects a read of a missing key with StorageError not-found', async () => {
    const error = await storage.read('shop/dev/nope/manifest.json').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'not-found', exitCode: 4 });
    // A directory is not an object either.
    await storage.write('dir/file', Readable.from(['x']));
    await expect(storage.read('dir')).rejects.toMatchObject({ code: 'not-found' });
  });

  it('lists immediate children, files and directories, without temporary files', async () => {
    await storage.write('shop/dev/01A/manifest.json', Readable.from(['{}']));
    await storage.write('shop/dev/01B/data/t.gz', Readable.from(['x']));
    await storage.write('shop/dev/notes.txt', Readable.from(['n']));
    await writeFile(path.join(storage.root, 'shop/dev/.manifest.json.123.strata-tmp'), 'partial');
    const list = async (prefix: string): Promise<string[]> => {
      const names: string[] = [];
      for await (const name of storage.listChildren(prefix)) names.push(name);
      return names.sort();
    };
    expect(await list('shop/dev/')).toEqual(['01A', '01B', 'notes.txt']);
    expect(await list('shop/')).toEqual(['dev']);
    expect(await list('')).toEqual(['shop']);
    expect(await list('shop/prod/')).toEqual([]);
    expect(await list('shop/dev/notes.txt/')).toEqual([]);
  });

  it('listing a storage that was never written to is empty', async () => {
    const names: string[] = [];
    for await (const name of new LocalStorage(path.join(root, 'never')).listChildren('x/')) names.push(name);
    expect(names).toEqual([]);
  });

  it('removes a prefix recursively and ignores a missing one', async () => {
    await storage.write('shop/dev/01A/manifest.json', Readable.from(['{}']));
    await storage.write('shop/dev/01A/data/t.gz', Readable.from(['x']));
    await storage.write('shop/dev/01B/manifest.json', Readable.from(['{}']));
    await storage.removePrefix('shop/dev/01A/');
    expect(await filesBelow(storage.root)).toEqual(['shop/dev/01B/manifest.json']);
    await storage.removePrefix('shop/dev/01A/');
    await storage.removePrefix('other/');
    expect(await filesBelow(storage.root)).toEqual(['shop/dev/01B/manifest.json']);
  });

  it('removes by a partial name and keeps the root directory itself', async () => {
    await storage.write('s/01AA/m', Readable.from(['1']));
    await storage.write('s/01AB/m', Readable.from(['2']));
    await storage.write('s/02CC/m', Readable.from(['3']));
    await storage.removePrefix('s/01A');
    expect(await filesBelow(storage.root)).toEqual(['s/02CC/m']);
    await storage.removePrefix('');
    expect(await filesBelow(storage.root)).toEqual([]);
    expect(await readdir(storage.root)).toEqual([]);
  });

  it('refuses keys that escape the root', async () => {
    await mkdir(path.join(root, 'outside'), { recursive: true });
    await expect(storage.write('../outside/x', Readable.from(['x']))).rejects.toMatchObject({ code: 'storage-key-invalid' });
    await expect(storage.read('/etc/passwd')).rejects.toMatchObject({ code: 'storage-key-invalid' });
    await expect(storage.removePrefix('a/../../')).rejects.toMatchObject({ code: 'storage-key-invalid' });
    expect(await filesBelow(path.join(root, 'outside'))).toEqual([]);
  });

  it('turns file system failures into a StorageError without leaving temp files', async () => {
    // A file where a directory should be makes mkdir fail with ENOTDIR/EEXIST.
    await storage.write('blocker', Readable.from(['x']));
    const error = await storage.write('blocker/child', Readable.from(['y'])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe('storage-write-failed');
    expect((error as StorageError).message).toMatch(/^Cannot write file:\/\/.*blocker\/child: /);
    expect(await filesBelow(storage.root)).toEqual(['blocker']);
  });
});

describe('storageHook', () => {
  it('returns a driver for file: URLs, resolved against baseDir', async () => {
    const driver = await storageHook({ url: 'file://./.strata/snapshots', baseDir: root });
    expect(isStorageDriver(driver)).toBe(true);
    expect((driver as LocalStorage).root).toBe(path.join(root, '.strata/snapshots'));
  });

  it('returns undefined for other schemes', async () => {
    expect(await storageHook({ url: 's3://bucket/prefix', baseDir: root })).toBeUndefined();
    expect(await storageHook({ url: '/plain/path', baseDir: root })).toBeUndefined();
  });
});
