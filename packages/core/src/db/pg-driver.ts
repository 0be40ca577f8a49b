import { randomBytes } from 'node:crypto';
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

/** A work database younger than this is never taken for a leftover, session or not. */
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

/** The databases of one PostgreSQL server, through a session on its maintenance database. */
class PgServer implements DatabaseServer {
  constructor(
    private readonly admin: DbSession,
    readonly description: string,
  ) {}

  async exists(database: string): Promise<boolean> {
    const { rowCount } = await this.admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * The work database gets a temporary name and a comment marking it incomplete; only a
   * successful restore gives it its final name, so a killed restore never leaves a half-loaded
   * database under the name the user asked for.
   */
  async createWork(finalName: string): Promise<string> {
    const work = `strata_tmp_${randomBytes(5).toString('hex')}`;
    await this.admin.query(`CREATE DATABASE ${quoteIdent(work)}`);
    await faultPoint('restore:create');
    await this.admin.query(`COMMENT ON DATABASE ${quoteIdent(work)} IS ${literal(`${INCOMPLETE_COMMENT} of ${finalName}, started ${new Date().toISOString()}`)}`);
    return work;
  }

  async drop(database: string): Promise<void> {
    await this.admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(database)} WITH (FORCE)`);
  }

  /**
   * Leftovers are databases carrying the incomplete-restore comment, started more than ten
   * minutes ago, that no session is using. A restore still running holds a session on its work
   * database for its whole run (see `restore`), and the age rule covers the moment between its
   * CREATE DATABASE and that session.
   */
  async dropAbandoned(now = Date.now()): Promise<string[]> {
    const { rows } = await this.admin.query<{ datname: string; comment: string }>(
      `SELECT d.datname, shobj_description(d.oid, 'pg_database') AS comment FROM pg_database d
        WHERE d.datname LIKE 'strata\\_tmp\\_%' AND shobj_description(d.oid, 'pg_database') LIKE $1
          AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)`,
      [`${INCOMPLETE_COMMENT}%`],
    );
    const dropped: string[] = [];
    for (const { datname, comment } of rows) {
      const started = Date.parse(/started (\S+)$/.exec(comment)?.[1] ?? '');
      if (!Number.isFinite(started) || now - started < LEFTOVER_MIN_AGE_MS) continue;
      try {
        await this.admin.query(`DROP DATABASE ${quoteIdent(datname)}`);
        dropped.push(datname);
      } catch {
        // Someone connected in the meantime: it is in use after all.
      }
    }
    return dropped;
  }

  /**
   * With `replace`, the existing database is first renamed to `<name>_replaced_<timestamp>` (its
   * sessions are closed: the user confirmed the replacement) and is renamed back if the swap fails.
   */
  async promote(work: string, finalName: string, replace: boolean): Promise<string | undefined> {
    let renamedOld: string | undefined;
    if (replace) {
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '').slice(0, 14);
      renamedOld = `${finalName.slice(0, MAX_IDENTIFIER_BYTES - 24)}_replaced_${stamp}`;
      await this.admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [finalName]);
      await this.admin.query(`ALTER DATABASE ${quoteIdent(finalName)} RENAME TO ${quoteIdent(renamedOld)}`);
    }
    try {
      await this.admin.query(`ALTER DATABASE ${quoteIdent(work)} RENAME TO ${quoteIdent(finalName)}`);
    } catch (error) {
      if (renamedOld) await this.admin.query(`ALTER DATABASE ${quoteIdent(renamedOld)} RENAME TO ${quoteIdent(finalName)}`).catch(() => {});
      throw error;
    }
    await this.admin.query(`COMMENT ON DATABASE ${quoteIdent(finalName)} IS NULL`);
    return renamedOld;
  }

  close(): Promise<void> {
    return this.admin.close();
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
    return new PgServer(await connectMaintenance(url), `${host}:${port}`);
  },
  withDatabase,
  describe(url) {
    const described = describeServer(url);
    return { ...described, server: `${described.host}:${described.port}` };
  },
  translateError: translatePgError,
};
