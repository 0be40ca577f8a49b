// The bench's database helpers: each opens its own connection to the URL it is given and closes it.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import knexFactory from 'knex';
import pg from 'pg';

/** Runs one statement on a fresh connection to `url`. */
export async function query(url, sql, params = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

/** Row count of each of `tables` in the database at `url`. */
export async function countRowsAt(url, tables) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const counts = {};
    for (const table of tables) {
      counts[table] = Number((await client.query(`SELECT count(*) AS n FROM "${table}"`)).rows[0].n);
    }
    return counts;
  } finally {
    await client.end();
  }
}

/** Whether two `countRowsAt` results name the same tables with the same counts. */
export function sameCounts(a, b) {
  const tables = Object.keys(a);
  return tables.length === Object.keys(b).length && tables.every((t) => a[t] === b[t]);
}

/** pg_total_relation_size of `table` (heap, TOAST and indexes) in the database at `url`. */
export async function relationBytesAt(url, table) {
  const { rows } = await query(url, 'SELECT pg_total_relation_size($1::regclass) AS bytes', [table]);
  return Number(rows[0].bytes);
}

/** Runs the bench app's migrations with knex itself (as the app would); resolves the seconds taken. */
export async function migrateAt(url, directory, tableName) {
  const knex = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  try {
    const started = process.hrtime.bigint();
    await knex.migrate.latest({ directory, tableName, loadExtensions: ['.js'] });
    return Number(process.hrtime.bigint() - started) / 1e9;
  } finally {
    await knex.destroy();
  }
}

/** Runs the filling `statements` (timed), then VACUUM ANALYZE (not timed); resolves the seconds. */
export async function generateAt(url, statements) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const started = process.hrtime.bigint();
    for (const statement of statements) await client.query(statement);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    // Sets hint bits and statistics now, so the first reader (pg_dump) does not pay for them.
    await client.query('VACUUM ANALYZE');
    return seconds;
  } finally {
    await client.end();
  }
}

/** Total size of the files under `path`, 0 when it does not exist. */
export async function dirBytes(path) {
  let total = 0;
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true, recursive: true });
  } catch (error) {
    if (error.code === 'ENOENT') return 0;
    throw error;
  }
  for (const entry of entries) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath ?? entry.path, entry.name))).size;
  }
  return total;
}
