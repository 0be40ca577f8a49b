import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Knex } from 'knex';
import { afterAll, beforeAll, inject } from 'vitest';
import { createKnex } from '../../packages/core/src/db/pg-connect.js';

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

/** Runs `sql` on the database at `url` on a connection of its own and returns the rows. */
export async function queryAt<R extends pg.QueryResultRow = pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** `count(*)` of `table` in the database at `url`. */
export async function countRows(url: string, table: string): Promise<number> {
  const [row] = await queryAt<{ n: string }>(url, `SELECT count(*) AS n FROM ${table}`);
  return Number(row!.n);
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

/**
 * Registers beforeAll/afterAll hooks that give the calling test file its own database and a knex
 * connected to it; read `db` and `knex` from the returned object inside tests.
 */
export function useKnexDatabase(prefix: string): { readonly db: TestDatabase; readonly knex: Knex; tableExists(name: string): Promise<boolean> } {
  let db: TestDatabase | undefined;
  let knex: Knex | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(prefix);
    knex = createKnex(db.url);
  });
  afterAll(async () => {
    await knex?.destroy();
    await db?.drop();
  });
  return {
    get db() {
      if (!db) throw new Error('useKnexDatabase: the database exists only inside tests');
      return db;
    },
    get knex() {
      if (!knex) throw new Error('useKnexDatabase: knex exists only inside tests');
      return knex;
    },
    async tableExists(name) {
      const { rows } = await this.knex.raw<{ rows: { found: string | null }[] }>('SELECT to_regclass(?) AS found', [name]);
      return rows[0]?.found !== null;
    },
  };
}
