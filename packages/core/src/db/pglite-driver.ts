import { dirname, join, resolve } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type { PGlite } from '@electric-sql/pglite';
import { ConfigError, DatabaseError, StrataError } from '../errors.js';
import type { DatabaseDriver, DatabaseServer, DbSession } from './driver.js';
import { acquire, parsePgliteUrl, release, type PgliteInstance, type PgliteTarget } from './pglite-instances.js';
import { DirectoryServer, MemoryServer } from './pglite-server.js';
import { DEFAULT_COPY_OPTIONS, PgliteSession, type PgliteCopyOptions } from './pglite-session.js';

/**
 * The PGlite driver: an embedded PostgreSQL (`@electric-sql/pglite`, wasm) in this process.
 *
 * URLs: `pglite://<dir>` (relative to the working directory; `pglite:///abs/dir` absolute) is one
 * database in one data directory, created (initdb) on first open; its parent directory must exist.
 * `pglite://memory` is an in-memory database (named `default`), and `pglite://memory/<name>` one of
 * several: they live as long as the process and form one "server". `withDatabase` names a sibling
 * directory, or another memory database.
 *
 * One instance per directory per process, shared by sessions and knex, closed by its last user; a
 * `strata.lock` file with the pid keeps other processes out. PGlite and knex-pglite are imported
 * only when a `pglite://` URL is used, so PostgreSQL users never load the wasm.
 */
export function createPgliteDriver(copyOptions: Partial<PgliteCopyOptions> = {}): DatabaseDriver {
  const options = { ...DEFAULT_COPY_OPTIONS, ...copyOptions };

  async function open(url: string, doing: string): Promise<PgliteInstance> {
    try {
      return await acquire(parsePgliteUrl(url));
    } catch (error) {
      throw translatePgliteError(error, url, doing);
    }
  }

  return {
    name: 'pglite',
    maxSessions: 1,
    handles: (url) => /^pglite:/i.test(url),

    async connect(url: string): Promise<DbSession> {
      const instance = await open(url, 'open');
      const session = new PgliteSession(instance, options);
      try {
        await session.init();
      } catch (error) {
        await session.close();
        throw translatePgliteError(error, url);
      }
      return session;
    },

    async withKnex<T>(url: string, work: (knex: Knex) => Promise<T>): Promise<T> {
      const instance = await open(url, 'open');
      let knex: Knex | undefined;
      try {
        const { default: ClientPgLite } = await import('knex-pglite');
        const debug = process.env.DEBUG ? (message: unknown) => console.error(message) : () => {};
        const pglite = knexConnection(instance.pg);
        knex = knexFactory({
          client: ClientPgLite,
          connection: () => ({ pglite }),
          log: { warn: debug, error: debug, deprecate: debug, debug },
        } as Knex.Config);
        // As on servers, errors of `work` (failed migrations) pass through for the caller to word.
        return await work(knex);
      } finally {
        await knex?.destroy();
        await release(instance);
      }
    },

    async server(url: string): Promise<DatabaseServer> {
      const target = parsePgliteUrl(url);
      return target.memory ? new MemoryServer() : new DirectoryServer(target.server);
    },

    withDatabase(url: string, database: string): string {
      const target = parsePgliteUrl(url);
      if (target.memory) return `pglite://memory/${database}`;
      // Keep a relative URL relative, so it means the same to whoever reads it later.
      const rest = url.replace(/^pglite:\/\//i, '');
      return rest.startsWith('/') ? `pglite://${join(target.server, database)}` : `pglite://${join(dirname(rest), database)}`;
    },

    describe(url: string) {
      const target = parsePgliteUrl(url);
      return { server: target.server, database: target.database, host: '', port: '', user: '' };
    },

    translateError: translatePgliteError,
  };
}

/** The driver with default COPY tuning. */
export const pgliteDriver: DatabaseDriver = createPgliteDriver();

/**
 * What knex-pglite gets instead of the instance: `destroy()` would close the shared instance, so
 * `close` does nothing; and a parameterless string of several statements (which PGlite's extended
 * protocol refuses: "cannot insert multiple commands into a prepared statement") runs through
 * `exec`, as it would on a server, answering with the last statement's result.
 */
function knexConnection(pg: PGlite): unknown {
  return {
    waitReady: Promise.resolve(),
    async query(sql: string, bindings?: unknown[], options?: object) {
      if ((bindings === undefined || bindings.length === 0) && /;\s*\S/.test(sql)) {
        const results = await pg.exec(sql, options);
        return results.at(-1) ?? { rows: [], fields: [], affectedRows: 0 };
      }
      return pg.query(sql, bindings, options);
    },
    async close() {},
  };
}

/** Which part of a `pglite://` URL to name in messages. */
function place(url: string): string {
  try {
    const target: PgliteTarget = parsePgliteUrl(url);
    return target.memory ? `the in-memory PGlite database "${target.database}"` : `the PGlite database ${target.dir}`;
  } catch {
    return 'the PGlite database';
  }
}

/**
 * Turns PGlite and file-system errors into one-sentence StrataErrors: SQL errors (which carry a
 * PostgreSQL SQLSTATE `code`) become `database-query-failed`, a missing parent directory and an
 * unwritable directory a `ConfigError`. Unknown errors pass through (they are bugs).
 */
export function translatePgliteError(error: unknown, url: string, doing = 'open'): unknown {
  if (error instanceof StrataError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message.replace(/\.$/, '') : String(error);
  const where = place(url);
  if (code === 'ENOENT' && !/^pglite:\/\/memory/i.test(url)) {
    const dir = parsePgliteUrl(url).dir;
    return new ConfigError(`Cannot ${doing} ${where}: its parent directory ${dirname(dir)} does not exist.`, {
      code: 'database-directory-missing',
      hint: `Create ${dirname(resolve(dir))} first, or point the URL at an existing directory.`,
      cause: error,
    });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new ConfigError(`Cannot ${doing} ${where}: the directory is not writable (${code}).`, {
      code: 'database-directory-unwritable',
      hint: 'Give this user write access to the directory, or use another one.',
      cause: error,
    });
  }
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    return new DatabaseError(`${capitalise(where)} refused a statement while trying to ${doing}: ${message} (SQLSTATE ${code}).`, {
      code: 'database-query-failed',
      hint: code.startsWith('42') ? 'Check the SQL and that the tables and columns it names exist in this database.' : 'See the PostgreSQL error above; run with DEBUG=1 for details.',
      cause: error,
    });
  }
  return error;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
