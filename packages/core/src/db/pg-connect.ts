import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { DatabaseError, StrataError } from '../errors.js';
import { isConnectionLoss } from './connection-loss.js';

// Internals of the PostgreSQL server driver (pg-driver.ts): core talks through the driver contract.

// int8, numeric, dates and times stay strings: strata never rounds or re-zones a value.
const passThrough = (value: string): string => value;
for (const oid of [20, 1700, 1082, 1114, 1184]) pg.types.setTypeParser(oid, passThrough);

/** Host, port, database and user of a PostgreSQL URL, for messages (never the password). */
export function describeServer(url: string): { host: string; port: string; database: string; user: string } {
  const parsed = new URL(url);
  return {
    host: parsed.hostname || 'localhost',
    port: parsed.port || '5432',
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres',
    user: decodeURIComponent(parsed.username) || process.env.PGUSER || process.env.USER || 'postgres',
  };
}

/** The same URL pointing at another database on the same server. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

/** Driver codes meaning the server could not be reached. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'EAI_AGAIN']);

/**
 * Turns a driver error into one sentence a user can act on. Unknown errors pass through untouched
 * (they are bugs, and DEBUG shows their stack).
 */
export function translatePgError(error: unknown, url: string, doing = 'connect to'): unknown {
  if (error instanceof StrataError) return error;
  const { host, port, database, user } = describeServer(url);
  const code = (error as { code?: string } | null)?.code;
  const where = `${host}:${port}`;
  if (code !== undefined && UNREACHABLE_CODES.has(code)) {
    return new DatabaseError(`Cannot ${doing} PostgreSQL at ${where}: the server is unreachable (${code}).`, {
      code: 'database-unreachable',
      hint: 'Check that the server is running and that the host and port in the URL are right.',
      cause: error,
    });
  }
  if (isConnectionLoss(error)) {
    return new DatabaseError(`The connection to PostgreSQL at ${where} was lost while strata was working (${firstSentence(error)}).`, {
      code: 'database-connection-lost',
      hint: 'Check that the server is up (it may have restarted, or an administrator ended the session), then run the command again: nothing half-done was kept.',
      cause: error,
    });
  }
  switch (code) {
    case '28P01':
    case '28000':
      return new DatabaseError(`PostgreSQL at ${where} rejected the credentials of user "${user}".`, {
        code: 'database-auth-failed',
        hint: 'Check the user name and password in the database URL (or the variable it is read from).',
        cause: error,
      });
    case '3D000':
      return new DatabaseError(`The database "${database}" does not exist on ${where}.`, {
        code: 'database-not-found',
        hint: 'Create it, or point the environment at an existing database.',
        cause: error,
      });
    case '57014':
      // query_canceled: the server's statement_timeout, or someone's pg_cancel_backend.
      if (error instanceof Error && /statement timeout/i.test(error.message)) {
        return new DatabaseError(`A statement strata was running on PostgreSQL at ${where} was cancelled by the server's statement_timeout${timeoutSetting('statement_timeout')}.`, {
          code: 'database-statement-timeout',
          hint: "A COPY lasts as long as its table takes to stream: lift the limit for strata's sessions (PGOPTIONS='-c statement_timeout=0', or ALTER ROLE … SET statement_timeout = 0), then run the command again; nothing half-done was kept.",
          cause: error,
        });
      }
      return new DatabaseError(`A statement strata was running on PostgreSQL at ${where} was cancelled (${firstSentence(error)}).`, {
        code: 'database-statement-cancelled',
        hint: 'Someone cancelled it (pg_cancel_backend) or the server is shutting down; run the command again: nothing half-done was kept.',
        cause: error,
      });
    case '55P03':
      return new DatabaseError(`PostgreSQL at ${where} gave up waiting for a lock strata needed: another session held it past lock_timeout${timeoutSetting('lock_timeout')}.`, {
        code: 'database-lock-timeout',
        hint: "Wait for the long transaction holding it to end (see pg_stat_activity), or lift lock_timeout for strata's sessions (PGOPTIONS='-c lock_timeout=0'), then run the command again; nothing half-done was kept.",
        cause: error,
      });
    case '42501':
      return new DatabaseError(`User "${user}" lacks a privilege needed to ${doing} ${where}: ${(error as Error).message}.`, {
        code: 'database-permission-denied',
        hint: 'Grant the privilege, or use a role that owns the database.',
        cause: error,
      });
    default:
      if (error instanceof Error && /password must be a string|SASL/.test(error.message)) {
        return new DatabaseError(`PostgreSQL at ${where} asked for a password and the URL gives none for "${user}".`, {
          code: 'database-auth-failed',
          hint: 'Put the password in the database URL or in PGPASSWORD.',
          cause: error,
        });
      }
      return error;
  }
}

/**
 * ` (<value>)` of a timeout set through PGOPTIONS in strata's own environment, the usual way to
 * set one for a single run; empty when it was set elsewhere (role, database, server), where
 * strata cannot see it without another round trip to a server it may have just lost.
 */
function timeoutSetting(name: string): string {
  const match = new RegExp(`(?:^|\\s)(?:-c\\s*|--)${name}=(\\S+)`).exec(process.env.PGOPTIONS ?? '');
  return match ? ` (${match[1]} in PGOPTIONS)` : '';
}

/** The driver's message, shortened to its first sentence and without a trailing period. */
function firstSentence(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return (text.split('\n')[0] ?? text).replace(/\.$/, '');
}

/** Opens one pg client, with errors translated. Sessions use UTC and ISO dates. */
export async function connectClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'strata' });
  // A dropped connection must not crash the process with an unhandled 'error' event.
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET client_encoding = 'UTF8'");
  } catch (error) {
    await client.end().catch(() => {});
    throw translatePgError(error, url);
  }
  return client;
}

/**
 * A knex instance for migrations; pool of one so session settings and locks stay predictable.
 * knex's own console logging is silenced (its failures reach the user as StrataErrors, in one
 * sentence) unless DEBUG is set.
 */
export function createKnex(url: string): Knex {
  const debug = process.env.DEBUG ? (message: unknown) => console.error(message) : () => {};
  return knexFactory({
    client: 'pg',
    connection: { connectionString: url, application_name: 'strata' },
    pool: { min: 0, max: 1 },
    log: { warn: debug, error: debug, deprecate: debug, debug },
  });
}

/**
 * Runs `work` with a knex on `url` and always destroys it; connection and login failures come
 * out as one-sentence `DatabaseError`s.
 */
export async function withKnex<T>(url: string, work: (knex: Knex) => Promise<T>): Promise<T> {
  const knex = createKnex(url);
  try {
    return await work(knex);
  } catch (error) {
    throw translatePgError(error, url);
  } finally {
    await knex.destroy();
  }
}
