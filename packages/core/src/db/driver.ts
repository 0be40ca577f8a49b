import type { Readable, Writable } from 'node:stream';
import type { Knex } from 'knex';

/**
 * The database contract core talks through (issue 7). A driver handles one kind of database URL
 * (`postgres://` servers, `pglite://` embedded PostgreSQL; a MySQL driver would fit the same
 * shape) and hands out sessions, knex instances and the few database-level operations a restore
 * needs. Core never imports `pg` or PGlite outside the drivers.
 */

/** The result of one statement: rows as objects, and how many rows it touched. */
export interface QueryResult<R> {
  rows: R[];
  /** Rows inserted, updated, deleted or copied; for a SELECT the rows returned; null when unknown. */
  rowCount: number | null;
}

/** Anything that runs SQL: a session, or the part of one that catalog readers need. */
export interface Queryable {
  /**
   * Runs one statement with `$1…` parameters, or, without parameters, one or more statements
   * separated by `;` (the result is the last one's). int8, numeric, date and timestamp values come
   * back as strings, exactly as the database prints them.
   */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
}

/** A COPY … FROM STDIN in progress: write COPY text into it, end it, then read `rowCount`. */
export interface CopyInStream extends Writable {
  /** Rows the database loaded; set once the stream has finished. */
  readonly rowCount: number;
}

/** One session (connection) to one database. Statements run one at a time, in order. */
export interface DbSession extends Queryable {
  /** `COPY … TO STDOUT` (a table or a query): the rows as PostgreSQL COPY text, streamed. */
  copyOut(sql: string): Readable;
  /** `COPY table (columns) FROM STDIN [WITH (…)]`: a stream of COPY text to write the rows into. */
  copyIn(sql: string): CopyInStream;
  /**
   * Ends the session. `force` drops it at once, even in the middle of a COPY (the database rolls
   * back whatever transaction was open); without it, waits a short while for a clean end.
   */
  close(options?: { force?: boolean }): Promise<void>;
}

/** Operations on the databases of one server (for PGlite: the directories next to one another). */
export interface DatabaseServer {
  /** Where, for messages: `host:port` or a directory; never credentials. */
  readonly description: string;
  exists(database: string): Promise<boolean>;
  /**
   * Creates the database a restore builds in, under a temporary name marked incomplete, and
   * returns that name; only `promote` gives it its final name.
   */
  createWork(finalName: string): Promise<string>;
  /** Drops a database strata created (closing what still uses it). */
  drop(database: string): Promise<void>;
  /** Drops work databases whose restore is gone (provably, or by age for older strata's); returns their names. */
  dropAbandoned(): Promise<string[]>;
  /**
   * Gives a finished work database its final name; with `replace`, the existing database is
   * renamed aside first (and back if the swap fails). Returns the old database's new name.
   */
  promote(work: string, finalName: string, replace: boolean): Promise<string | undefined>;
  /**
   * Replaces a lost maintenance session with a new one, keeping what the old one held for the
   * work databases (their locks). Optional: a server without a session of its own has nothing to
   * reconnect. `promote` and `drop` may be called again after it.
   */
  reconnect?(): Promise<void>;
  close(): Promise<void>;
}

/** One kind of database URL. */
export interface DatabaseDriver {
  /** `postgresql`, `pglite`. */
  readonly name: string;
  /** Whether this driver handles `url` (by scheme). */
  handles(url: string): boolean;
  /**
   * How many sessions may be open on one database at once. PostgreSQL servers: many; PGlite: 1
   * (one in-process backend), so callers that would open a second session (parallel index
   * builds, a keep-alive session, a capture while a load holds locks) must use the one they have.
   */
  readonly maxSessions: number;
  /** Opens a session, with strata's session settings (UTC, ISO dates, UTF8, exact floats). */
  connect(url: string): Promise<DbSession>;
  /** Runs `work` with a knex (pool of one) on `url`, and always releases it. */
  withKnex<T>(url: string, work: (knex: Knex) => Promise<T>): Promise<T>;
  /** The server of `url`, for creating, dropping and renaming databases. */
  server(url: string): Promise<DatabaseServer>;
  /** The same URL pointing at another database of the same server. */
  withDatabase(url: string, database: string): string;
  /** Server, database name and (for servers) host, port and user of `url`, for messages: never a password. */
  describe(url: string): { server: string; database: string; host: string; port: string; user: string };
  /** Turns a driver error into a StrataError a user can act on; unknown errors pass through. */
  translateError(error: unknown, url: string, doing?: string): unknown;
}
