import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname, basename } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { ConfigError, DatabaseError } from '../errors.js';
import { pidExists } from '../process-identity.js';

/**
 * PGlite instances of this process, one per data directory (or per in-memory database name),
 * shared by every session and knex on it. PGlite is one backend in the process's memory: two
 * instances on one directory would both write and corrupt it, and each costs seconds and hundreds
 * of megabytes, so strata never opens a second one.
 */

/** Where a `pglite://` URL points. */
export interface PgliteTarget {
  /** Registry key: `dir:<absolute path>` or `memory:<name>`. */
  key: string;
  memory: boolean;
  /** Absolute data directory; for memory databases, `memory`. */
  server: string;
  /** Directory base name, or the memory database's name. */
  database: string;
  /** Absolute data directory (directories only). */
  dir: string;
}

/** The memory database a bare `pglite://memory` means. */
export const DEFAULT_MEMORY_DATABASE = 'default';
export const LOCK_FILE = 'strata.lock';
/** The session settings strata's PostgreSQL sessions use, so COPY text is byte-identical. */
export const SESSION_SETTINGS =
  "SET TimeZone='UTC'; SET DateStyle='ISO, YMD'; SET IntervalStyle='postgres'; SET extra_float_digits=3; SET client_encoding='UTF8'";
// int8, numeric, dates and times stay strings, as in strata's pg setup: never rounded or re-zoned.
const passThrough = (value: string): string => value;
const PARSERS = Object.fromEntries([20, 1700, 1082, 1114, 1184].map((oid) => [oid, passThrough]));

/**
 * Parses `pglite://memory`, `pglite://memory/<name>`, `pglite://<relative dir>` (against the
 * process's working directory) and `pglite:///<absolute dir>`. A directory literally named
 * `memory` is written `pglite://./memory`.
 */
export function parsePgliteUrl(url: string): PgliteTarget {
  const rest = decodeURIComponent(url.replace(/^pglite:\/\//i, '').replace(/[?#].*$/, ''));
  if (rest === 'memory' || rest.startsWith('memory/')) {
    const name = rest.slice('memory/'.length) || DEFAULT_MEMORY_DATABASE;
    if (rest !== 'memory' && (name.includes('/') || name === '')) throw badUrl(url);
    return { key: `memory:${name}`, memory: true, server: 'memory', database: name, dir: '' };
  }
  if (rest === '' || rest === '/') throw badUrl(url);
  const dir = resolve(rest);
  return { key: `dir:${dir}`, memory: false, server: dirname(dir), database: basename(dir), dir };
}

function badUrl(url: string): ConfigError {
  return new ConfigError(`The PGlite URL "${url}" names no database.`, {
    code: 'config-invalid-url',
    hint: 'Use pglite://memory, pglite://memory/<name>, pglite://<relative dir> or pglite:///<absolute dir>.',
  });
}

/** An open instance and how many sessions and knex instances use it. */
export interface PgliteInstance {
  target: PgliteTarget;
  pg: PGlite;
  refs: number;
}

const instances = new Map<string, Promise<PgliteInstance>>();
const closing = new Map<string, Promise<void>>();

/** The pid in `dir`'s lock file when a live process other than this one holds it. */
export function lockHolder(dir: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, LOCK_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text, 10);
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidExists(pid) ? pid : undefined;
}

/** Refuses with `database-locked` when another live process has `dir` open. */
export function assertUnlocked(dir: string): void {
  const pid = lockHolder(dir);
  if (pid !== undefined) {
    throw new DatabaseError(`The PGlite database ${dir} is in use by process ${pid}.`, {
      code: 'database-locked',
      hint: 'Stop that process (or wait for it to finish): two PGlite instances on one directory corrupt it.',
    });
  }
}

function takeLock(dir: string): void {
  // PGlite's own mkdir is not recursive: a missing parent fails here, as ENOENT, before initdb.
  try {
    mkdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(join(dir, LOCK_FILE), `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      assertUnlocked(dir);
      // A lock left by a dead process (or by this one, after a crash of its instance): take it over.
      rmSync(join(dir, LOCK_FILE), { force: true });
    }
  }
  assertUnlocked(dir);
}

async function open(target: PgliteTarget): Promise<PgliteInstance> {
  await closing.get(target.key);
  const { PGlite } = await import('@electric-sql/pglite');
  if (!target.memory) takeLock(target.dir);
  try {
    const pg = target.memory ? new PGlite({ parsers: PARSERS }) : new PGlite(target.dir, { parsers: PARSERS });
    await pg.waitReady;
    await pg.exec(SESSION_SETTINGS);
    return { target, pg, refs: 0 };
  } catch (error) {
    if (!target.memory) rmSync(join(target.dir, LOCK_FILE), { force: true });
    throw error;
  }
}

/** Opens (or joins) the instance of `target`; pair with `release`. */
export async function acquire(target: PgliteTarget): Promise<PgliteInstance> {
  let pending = instances.get(target.key);
  if (!pending) {
    pending = open(target);
    instances.set(target.key, pending);
    pending.catch(() => instances.delete(target.key));
  }
  const instance = await pending;
  instance.refs++;
  return instance;
}

/**
 * Gives back one use of `instance`. A directory's instance is closed (and its lock removed) when
 * its last user leaves; a memory database stays until it is dropped, since closing it would lose it.
 */
export async function release(instance: PgliteInstance): Promise<void> {
  instance.refs = Math.max(0, instance.refs - 1);
  if (instance.refs > 0 || instance.target.memory) return;
  if ((await instances.get(instance.target.key)) === instance) await shut(instance.target.key);
}

/** Closes the instance of `key` now, whoever still uses it (drop, promote). */
export async function shut(key: string): Promise<void> {
  const pending = instances.get(key);
  if (!pending) return;
  instances.delete(key);
  const done = (async () => {
    const instance = await pending.catch(() => undefined);
    if (!instance) return;
    await instance.pg.close().catch(() => {});
    if (!instance.target.memory) rmSync(join(instance.target.dir, LOCK_FILE), { force: true });
  })();
  closing.set(key, done);
  await done;
  if (closing.get(key) === done) closing.delete(key);
}

/** Whether a memory database of that name exists in this process. */
export function memoryExists(name: string): boolean {
  return instances.has(`memory:${name}`);
}

/** Moves a memory database to another name (promote). */
export async function renameMemory(from: string, to: string): Promise<void> {
  const pending = instances.get(`memory:${from}`);
  if (!pending) return;
  instances.delete(`memory:${from}`);
  instances.set(`memory:${to}`, pending);
  const instance = await pending;
  instance.target = { ...instance.target, key: `memory:${to}`, database: to };
}
