import { randomUUID } from 'node:crypto';
import { createWriteStream, type Dirent } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';

import { StorageError, type StorageDriver } from '@strata/contracts';

/** Suffix of in-flight writes; such files are never listed and never read as objects. */
const TEMP_SUFFIX = '.strata-tmp';

/**
 * Snapshots in a directory on disk. Keys map to paths below `root`. Writes go to a temporary file
 * in the target's directory and are renamed into place after an fsync, so a reader (or a crash)
 * never sees a partial object under its real name.
 */
export class LocalStorage implements StorageDriver {
  /** Absolute directory holding every object. */
  readonly root: string;
  readonly location: string;

  /** @param root absolute directory; created on the first write. */
  constructor(root: string) {
    if (!path.isAbsolute(root)) throw new TypeError(`LocalStorage needs an absolute directory, got ${root}.`);
    this.root = path.resolve(root);
    this.location = pathToFileURL(this.root).href;
  }

  /** Streams `body` to `key`; on failure or abort the temporary file is removed and nothing is left under `key`. */
  async write(key: string, body: Readable, options: { signal?: AbortSignal } = {}): Promise<void> {
    const target = this.pathOf(key);
    const dir = path.dirname(target);
    const temp = path.join(dir, `.${path.basename(target)}.${randomUUID()}${TEMP_SUFFIX}`);
    try {
      options.signal?.throwIfAborted();
      await mkdir(dir, { recursive: true });
      // `flush` fsyncs the file before it is closed, so the rename below publishes complete data.
      // (FileHandle.sync() after a FileHandle write stream never settles on Node 20.)
      await pipeline(body, createWriteStream(temp, { flags: 'wx', flush: true }), options.signal ? { signal: options.signal } : {});
      await rename(temp, target);
      await syncDirectory(dir);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => {});
      // The body's own failure or an abort is not a storage problem: pass it through unchanged.
      throw isFsError(error) ? this.fsError(error, 'write', key) : error;
    }
  }

  /** Opens `key`; rejects with a `StorageError` coded `not-found` when there is no such object. */
  async read(key: string, options: { signal?: AbortSignal } = {}): Promise<Readable> {
    const file = this.pathOf(key);
    let handle: FileHandle | undefined;
    try {
      options.signal?.throwIfAborted();
      handle = await open(file, 'r');
      if (!(await handle.stat()).isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT', syscall: 'open' });
    } catch (error) {
      await handle?.close().catch(() => {});
      throw isFsError(error) ? this.fsError(error, 'read', key) : error;
    }
    const stream = handle.createReadStream();
    return options.signal ? addAbortSignal(options.signal, stream) : stream;
  }

  /** Whether an object (a file, not a directory) exists under `key`. */
  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(key))).isFile();
    } catch (error) {
      if (isFsError(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return false;
      throw isFsError(error) ? this.fsError(error, 'read', key) : error;
    }
  }

  /** Names of the files and directories directly below `prefix`, without in-flight temporary files. */
  async *listChildren(prefix: string): AsyncIterable<string> {
    const dir = this.pathOf(prefix, { allowRoot: true });
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isFsError(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return;
      throw isFsError(error) ? this.fsError(error, 'list', prefix) : error;
    }
    for (const entry of entries) {
      if (isTempName(entry.name)) continue;
      if (entry.isFile() || entry.isDirectory()) yield entry.name;
    }
  }

  /** Removes every object whose key starts with `prefix` (a whole directory when it ends in `/`). */
  async removePrefix(prefix: string): Promise<void> {
    try {
      if (prefix === '' || prefix.endsWith('/')) {
        const dir = this.pathOf(prefix, { allowRoot: true });
        if (dir === this.root) {
          // Never delete the configured directory itself, only what is in it.
          for await (const name of this.listChildren('')) await rm(path.join(dir, name), { recursive: true, force: true });
        } else {
          await rm(dir, { recursive: true, force: true });
        }
        return;
      }
      // A partial name such as `shop/dev/01J` matches `01JA…` and `01JB…` siblings too.
      const base = this.pathOf(prefix);
      const parent = path.dirname(base);
      const stem = path.basename(base);
      let names: string[];
      try {
        names = await readdir(parent);
      } catch (error) {
        if (isFsError(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return;
        throw error;
      }
      for (const name of names) {
        if (name.startsWith(stem)) await rm(path.join(parent, name), { recursive: true, force: true });
      }
    } catch (error) {
      throw isFsError(error) ? this.fsError(error, 'remove', prefix) : error;
    }
  }

  /**
   * The absolute path of a key. Keys come from core, but a manifest read from storage could be
   * crafted, so a key that climbs out of the root (`..`) or is absolute is refused.
   */
  private pathOf(key: string, options: { allowRoot?: boolean } = {}): string {
    const segments = key.split('/').filter((s) => s !== '');
    const unsafe = key.startsWith('/') || key.includes('\\') || key.includes('\0') || segments.some((s) => s === '..' || s === '.');
    if (unsafe || (segments.length === 0 && !options.allowRoot)) {
      throw new StorageError(`The storage key "${key}" is not a valid relative key.`, {
        code: 'storage-key-invalid',
        hint: 'Keys are relative paths separated by "/", without "." or ".." segments.',
      });
    }
    return path.join(this.root, ...segments);
  }

  private fsError(error: NodeJS.ErrnoException, doing: 'read' | 'write' | 'list' | 'remove', key: string): StorageError {
    const where = `${this.location.replace(/\/$/, '')}/${key}`;
    if (doing === 'read' && (error.code === 'ENOENT' || error.code === 'ENOTDIR' || error.code === 'EISDIR')) {
      return new StorageError(`There is no object ${key} in ${this.location}.`, {
        code: 'not-found',
        hint: 'Check the snapshot id with `strata list`, and that the environment points at the right storage.',
        cause: error,
      });
    }
    const reason = FS_REASONS[error.code ?? ''] ?? error.message.replace(/^[A-Z]+: /, '').split(',')[0] ?? 'unknown error';
    return new StorageError(`Cannot ${doing} ${where}: ${reason} (${error.code ?? 'unknown'}).`, {
      code: `storage-${doing}-failed`,
      hint: HINTS[error.code ?? ''] ?? 'Check that the directory exists and that this user may read and write it.',
      cause: error,
    });
  }
}

const FS_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EISDIR: 'the path is a directory',
  ENOENT: 'no such file or directory',
  EEXIST: 'the file already exists',
};

const HINTS: Record<string, string> = {
  EACCES: 'Give this user write access to the storage directory, or point `storage` at another one.',
  EPERM: 'Give this user write access to the storage directory, or point `storage` at another one.',
  ENOSPC: 'Free some space, or point `storage` at a larger disk.',
  EDQUOT: 'Free some space, or point `storage` at a larger disk.',
  EROFS: 'Point `storage` at a writable directory.',
};

function isFsError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string' && 'syscall' in error;
}

function isTempName(name: string): boolean {
  return name.startsWith('.') && name.endsWith(TEMP_SUFFIX);
}

/** Makes a rename durable; some platforms cannot open directories, and that is not worth failing a write for. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // best effort
  } finally {
    await handle?.close().catch(() => {});
  }
}
