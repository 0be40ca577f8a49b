import type { Knex } from 'knex';
import type pg from 'pg';
import { ConfigError } from '../errors.js';
import type { DatabaseDriver, DbSession } from './driver.js';
import { connectPgClient, pgSession, postgresDriver } from './pg-driver.js';
import { pgliteDriver } from './pglite-driver.js';

/** Every driver strata ships, in the order they are asked whether they handle a URL. */
const DRIVERS: readonly DatabaseDriver[] = [postgresDriver, pgliteDriver];

/**
 * The driver for a database URL, chosen by its scheme. Throws a ConfigError naming the scheme
 * (never the rest of the URL, which may carry a password) when no driver handles it.
 */
export function driverFor(url: string): DatabaseDriver {
  const driver = DRIVERS.find((d) => d.handles(url));
  if (driver) return driver;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  throw new ConfigError(scheme ? `strata cannot open ${scheme} URLs.` : 'strata cannot open a database URL without a scheme.', {
    code: 'database-url-unsupported',
    hint: `Use a URL starting with one of: ${supportedSchemes().join(', ')}.`,
  });
}

function supportedSchemes(): string[] {
  // Kept next to the list so a new driver's scheme shows up in the hint.
  const schemes: Record<string, string[]> = { postgresql: ['postgres://', 'postgresql://'], pglite: ['pglite://'] };
  return DRIVERS.flatMap((d) => schemes[d.name] ?? [`${d.name}://`]);
}

// For library users, as before the driver contract. `connectClient` keeps handing out a pg
// client (plugins use pg's own query options, such as rowMode); new code uses `driverFor`.

/**
 * Opens a pg client on a PostgreSQL server with strata's session settings; errors come out as
 * StrataErrors.
 * @deprecated Use `driverFor(url).connect(url)`, which opens any database strata supports.
 */
export async function connectClient(url: string): Promise<pg.Client> {
  const driver = driverFor(url);
  if (driver !== postgresDriver) {
    throw new ConfigError(`connectClient opens PostgreSQL servers only, not ${driver.name} databases.`, {
      code: 'database-url-unsupported',
      hint: 'Use driverFor(url).connect(url) instead.',
    });
  }
  return connectPgClient(url);
}

/**
 * Closes a session (or a client from `connectClient`) even if it is stuck in COPY mode after a
 * failure; `force` drops it at once (the database then rolls back whatever transaction was open).
 */
export async function endClient(client: DbSession | pg.Client, options: { force?: boolean } = {}): Promise<void> {
  await (isSession(client) ? client : pgSession(client)).close(options);
}

/** Runs `work` with a knex (pool of one) on `url`, and always releases it. */
export async function withKnex<T>(url: string, work: (knex: Knex) => Promise<T>): Promise<T> {
  return driverFor(url).withKnex(url, work);
}

function isSession(client: DbSession | pg.Client): client is DbSession {
  return typeof (client as Partial<DbSession>).copyIn === 'function';
}
