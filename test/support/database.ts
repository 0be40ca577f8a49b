import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/** A database made for one test file, dropped by `drop()`. */
export interface TestDatabase {
  name: string;
  url: string;
  /** URL of the server's maintenance database (for creating and listing databases). */
  adminUrl: string;
  drop(): Promise<void>;
}

/** URL of the same server with another database. */
export function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs one statement against the maintenance database. */
export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
  await client.connect();
  try {
    return await client.query<R>(sql, params);
  } finally {
    await client.end();
  }
}

/** Drops a database if it exists, closing other sessions on it. */
export async function dropDatabase(name: string): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

/** Creates a fresh, uniquely named database: `strata_test_<prefix>_<random>`. */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `strata_test_${prefix}_${randomBytes(4).toString('hex')}`.toLowerCase();
  await adminQuery(`CREATE DATABASE "${name}"`);
  return { name, url: databaseUrl(adminUrl, name), adminUrl, drop: () => dropDatabase(name) };
}
