import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { CopyInStream, DatabaseDriver, DatabaseServer, DbSession, QueryResult } from './driver.js';
import { connectClient, describeServer, translatePgError, withDatabase, withKnex } from './pg-connect.js';
import { faultPoint } from '../fault-point.js';
import { quoteIdent } from './sql-names.js';

/** Marks databases strata is still building, so a killed restore's leftovers can be found. */
export const INCOMPLETE_COMMENT = 'strata: incomplete restore';

const MAX_IDENTIFIER_BYTES = 63;

/** A work database of an older strata (no advisory lock) younger than this is never taken for a leftover. */
const LEFTOVER_MIN_AGE_MS = 10 * 60 * 1000;

/** One pg client behind the session contract. */
class PgSession implements DbSession {
  private closing: Promise<void> | undefined;

  constructor(private readonly client: pg.Client) {}

  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    const result = (await this.client.query(sql, params)) as pg.QueryResult | pg.QueryResult[];
    // Several statements without parameters give one result each; the contract returns the last.
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    return { rows: (last?.rows ?? []) as R[], rowCount: last?.rowCount ?? null };
  }

  copyOut(sql: string): Readable {
    return this.client.query(copyTo(sql));
  }

  copyIn(sql: string): CopyInStream {
    // pg-copy-streams' CopyStreamQuery counts the rows the server reports in its CommandComplete.
    return this.client.query(copyFrom(sql)) as unknown as CopyInStream;
  }

  /**
   * Closes the client even if it is stuck in COPY mode after a failure; `force` drops the socket
   * at once (the server then rolls back whatever transaction was open). A second call (an abort
   * handler, then the caller's cleanup) waits for the first; a forced one still drops the socket.
   */
  close(options: { force?: boolean } = {}): Promise<void> {
    if (options.force) this.socket()?.destroy();
    this.closing ??= this.end(options.force === true);
    return this.closing;
  }

  private async end(force: boolean): Promise<void> {
    const socket = this.socket();
    if (force) {
      await this.client.end().catch(() => {});
      return;
    }
    const ended = this.client.end().catch(() => {});
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
    await Promise.race([ended, timeout]);
    socket?.destroy();
  }

  private socket(): { destroy(): void } | undefined {
    return (this.client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  }
}

/**
 * Written after the incomplete-restore comment by a strata whose restores hold an advisory lock
 * for their whole run: such a database is a leftover as soon as nobody holds its lock.
 */
export const LOCK_MARKER = 'owner holds advisory lock';

/**
 * The session-level advisory lock (one bigint) that the owner of a work database holds from before
 * CREATE DATABASE until the database is renamed into place or dropped: sha256 of the name, so
 * every strata process computes the same key without asking the server.
 */
export function workLockKey(work: string): string {
  return createHash('sha256').update(`strata:${work}`).digest().readBigInt64BE(0).toString();
}

/** The databases of one PostgreSQL server, through a session on its maintenance database. */
class PgServer implements DatabaseServer {
  /** Work databases whose advisory lock this session holds (taken again on a new session). */
  private readonly locked = new Set<string>();
  /** Oids of this server's work databases, to recognise one after a rename whose reply was lost. */
  private readonly oids = new Map<string, string>();
  /** The name the replaced database went to, per work database, for a retried `promote`. */
  private readonly asides = new Map<string, string>();

  constructor(
    private admin: DbSession,
    private readonly url: string,
    readonly description: string,
  ) {}

  async exists(database: string): Promise<boolean> {
    const { rowCount } = await this.admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * The work database gets a temporary name and a comment marking it incomplete; only a
   * successful restore gives it its final name, so a killed restore never leaves a half-loaded
   * database under the name the user asked for. Its advisory lock is taken before CREATE
   * DATABASE and held by this session: while it is held, no other strata drops the database,
   * and once this process is gone (the server ends its session) the next restore may at once.
   */
  async createWork(finalName: string): Promise<string> {
    let work = '';
    for (let attempt = 0; !work; attempt++) {
      const candidate = `strata_tmp_${randomBytes(5).toString('hex')}`;
      const { rows: [row] } = await this.admin.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [workLockKey(candidate)]);
      // Taken by someone else: a 64-bit collision, or a leftover's name drawn again. Draw another.
      if (row?.locked) work = candidate;
      else if (attempt >= 5) throw new Error('Could not take an advisory lock for a new work database.');
    }
    this.locked.add(work);
    try {
      await this.admin.query(`CREATE DATABASE ${quoteIdent(work)}`);
    } catch (error) {
      await this.unlock(work).catch(() => {});
      throw error;
    }
    await faultPoint('restore:create');
    await this.admin.query(
      `COMMENT ON DATABASE ${quoteIdent(work)} IS ${literal(`${INCOMPLETE_COMMENT} of ${finalName}, started ${new Date().toISOString()}; ${LOCK_MARKER}`)}`,
    );
    const { rows: [created] } = await this.admin.query<{ oid: string }>('SELECT oid::text AS oid FROM pg_database WHERE datname = $1', [work]);
    if (created) this.oids.set(work, created.oid);
    return work;
  }

  async drop(database: string): Promise<void> {
    await this.admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
    await this.unlock(database);
  }

  /**
   * Drops the work databases of restores that are gone. Candidates are named `strata_tmp_…`, carry
   * the incomplete-restore comment (or none: a restore killed between CREATE DATABASE and its
   * COMMENT), and have no session. One whose owner held the advisory lock (the comment says so,
   * or there is no comment yet) is dropped at once when its lock can be taken, which only happens
   * once the owning session is gone; one from an older strata without the lock is dropped once
   * it is ten minutes old, as before.
   */
  async dropAbandoned(now = Date.now()): Promise<string[]> {
    const { rows } = await this.admin.query<{ datname: string; comment: string | null }>(
      `SELECT d.datname, shobj_description(d.oid, 'pg_database') AS comment FROM pg_database d
        WHERE d.datname LIKE 'strata\\_tmp\\_%'
          AND (shobj_description(d.oid, 'pg_database') LIKE $1 OR shobj_description(d.oid, 'pg_database') IS NULL)
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)`,
      [`${INCOMPLETE_COMMENT}%`],
    );
    const dropped: string[] = [];
    for (const { datname, comment } of rows) {
      // Our own: this session holds the lock, and would be given it again.
      if (this.locked.has(datname)) continue;
      if (comment !== null && !comment.endsWith(LOCK_MARKER)) {
        const started = Date.parse(/started (\S+)$/.exec(comment)?.[1] ?? '');
        if (!Number.isFinite(started) || now - started < LEFTOVER_MIN_AGE_MS) continue;
        if (await this.tryDrop(datname)) dropped.push(datname);
        continue;
      }
      const key = workLockKey(datname);
      const { rows: [row] } = await this.admin.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [key]);
      if (!row?.locked) continue; // its owner runs
      try {
        if (await this.tryDrop(datname)) dropped.push(datname);
      } finally {
        await this.admin.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
      }
    }
    return dropped;
  }

  /**
   * Gives the work database its final name. With `replace`, the sessions on the existing database
   * are ended (the user confirmed the replacement) and both renames and the comment's removal run
   * in one transaction: a kill at any moment leaves either the old database under the name, or
   * the new one, never no database at all. Run again after a lost connection, it sees that the
   * rename already happened (by the work database's oid) and returns the same result.
   */
  async promote(work: string, finalName: string, replace: boolean): Promise<string | undefined> {
    const oid = this.oids.get(work);
    if (oid !== undefined) {
      const { rows: [current] } = await this.admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE oid = $1::oid', [oid]);
      if (current?.datname === finalName) {
        await this.unlock(work);
        return this.asides.get(work);
      }
    }
    let renamedOld: string | undefined;
    if (replace) {
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '').slice(0, 14);
      renamedOld = `${finalName.slice(0, MAX_IDENTIFIER_BYTES - 24)}_replaced_${stamp}`;
      this.asides.set(work, renamedOld);
    }
    const renames = [
      ...(renamedOld ? [`ALTER DATABASE ${quoteIdent(finalName)} RENAME TO ${quoteIdent(renamedOld)}`] : []),
      `ALTER DATABASE ${quoteIdent(work)} RENAME TO ${quoteIdent(finalName)}`,
      `COMMENT ON DATABASE ${quoteIdent(finalName)} IS NULL`,
    ];
    for (let attempt = 1; ; attempt++) {
      // RENAME waits up to five seconds for the ended sessions to go; a client that connects
      // again at once may still be there, so it is ended once more and the swap tried again.
      if (replace) await this.admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [finalName]);
      try {
        await this.admin.query('BEGIN');
        for (const statement of renames) await this.admin.query(statement);
        await this.admin.query('COMMIT');
        break;
      } catch (error) {
        await this.admin.query('ROLLBACK').catch(() => {});
        if (!replace || attempt >= 3 || (error as { code?: string }).code !== '55006') throw error;
      }
    }
    await this.unlock(work);
    return renamedOld;
  }

  /**
   * Replaces a lost maintenance session: opens a new one and takes again the advisory locks the
   * old one held, so the work databases stay recognisably owned.
   */
  async reconnect(): Promise<void> {
    await this.admin.close({ force: true }).catch(() => {});
    this.admin = await connectMaintenance(this.url);
    // A moment ago the lock was free: a concurrent restore may hold it briefly while it finds
    // the database in use (our guard session) and lets go. Waiting is bounded all the same.
    await this.admin.query("SET lock_timeout = '30s'");
    for (const work of this.locked) await this.admin.query('SELECT pg_advisory_lock($1::bigint)', [workLockKey(work)]);
    await this.admin.query('RESET lock_timeout');
  }

  close(): Promise<void> {
    return this.admin.close();
  }

  /** Drops a leftover unless someone connected to it in the meantime. */
  private async tryDrop(database: string): Promise<boolean> {
    try {
      await this.admin.query(`DROP DATABASE ${quoteIdent(database)}`);
      return true;
    } catch {
      // Someone connected in the meantime: it is in use after all.
      return false;
    }
  }

  private async unlock(work: string): Promise<void> {
    if (!this.locked.delete(work)) return;
    this.oids.delete(work);
    await this.admin.query('SELECT pg_advisory_unlock($1::bigint)', [workLockKey(work)]);
  }
}

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

async function connect(url: string): Promise<DbSession> {
  return new PgSession(await connectClient(url));
}

/** A pg client opened by `connectPgClient`, behind the session contract (to close it). */
export function pgSession(client: pg.Client): DbSession {
  return new PgSession(client);
}

/** A bare pg client, for the deprecated public `connectClient` only. */
export { connectClient as connectPgClient };

/**
 * A session on the server's maintenance database (`postgres`, else `template1`), used to create,
 * rename and drop databases; errors are phrased for the URL the caller gave.
 */
async function connectMaintenance(url: string): Promise<DbSession> {
  try {
    try {
      return await connect(withDatabase(url, 'postgres'));
    } catch (error) {
      if ((error as { code?: string }).code === 'database-not-found') return await connect(withDatabase(url, 'template1'));
      throw error;
    }
  } catch (error) {
    throw translatePgError(error, url);
  }
}

/** PostgreSQL servers, through node-postgres (`postgres://` and `postgresql://` URLs). */
export const postgresDriver: DatabaseDriver = {
  name: 'postgresql',
  handles: (url) => /^postgres(ql)?:\/\//i.test(url),
  // A server takes as many sessions as its max_connections allows; strata opens a handful.
  maxSessions: Number.POSITIVE_INFINITY,
  connect,
  withKnex,
  async server(url) {
    const { host, port } = describeServer(url);
    return new PgServer(await connectMaintenance(url), url, `${host}:${port}`);
  },
  withDatabase,
  describe(url) {
    const described = describeServer(url);
    return { ...described, server: `${described.host}:${described.port}` };
  },
  translateError: translatePgError,
};
