import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { ConfigError, DatabaseError } from '../errors.js';
import { connectClient, describeServer, quoteIdent, translatePgError, withDatabase } from '../db/pg-connect.js';
import { endClient } from '../snapshot/snapshot-capture.js';

/** Marks databases strata is still building, so a killed restore's leftovers can be found. */
export const INCOMPLETE_COMMENT = 'strata: incomplete restore';

/** Where a restore goes. */
export interface RestoreTarget {
  /** Final name of the restored database. */
  database: string;
  /** URL of the final database (credentials included: never print). */
  url: string;
  /** `host:port` of the server, for messages. */
  server: string;
  /** Whether a database with the final name exists now. */
  exists: boolean;
}

const MAX_IDENTIFIER_BYTES = 63;

/** `<project>_<env>_<YYYYMMDD>` in UTC, with characters PostgreSQL would need quoted replaced. */
export function defaultDatabaseName(project: string, env: string, now = new Date()): string {
  const day = now.toISOString().slice(0, 10).replace(/-/g, '');
  return `${project}_${env}_${day}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/** Refuses names PostgreSQL would truncate or that need quoting in every tool. */
export function checkDatabaseName(name: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name) || Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) {
    throw new ConfigError(`"${name}" cannot be used as a database name.`, {
      code: 'database-name-invalid',
      hint: `Use letters, digits, "_" and "-", starting with a letter, at most ${MAX_IDENTIFIER_BYTES} characters.`,
    });
  }
}

/**
 * The database a restore creates or replaces, checked before anything is read or touched:
 * `targetUrl` names server and database; else `database` on the environment's server; else, for
 * `replace`, the environment's own database; else `<project>_<env>_<YYYYMMDD>`. Replacing needs
 * `confirm` equal to the name of the database replaced.
 */
export function resolveRestoreTarget(options: {
  project: string;
  envName: string;
  envDatabaseUrl: string;
  targetUrl?: string;
  database?: string;
  replace?: boolean;
  confirm?: string;
}): { database: string; url: string } {
  const database = options.database ?? (options.replace && !options.targetUrl ? describeServer(options.envDatabaseUrl).database : undefined);
  const target = resolveTargetName({
    envDatabaseUrl: options.envDatabaseUrl,
    ...(options.targetUrl ? { targetUrl: options.targetUrl } : {}),
    ...(database ? { database } : {}),
    defaultName: defaultDatabaseName(options.project, options.envName),
  });
  if (options.replace && options.confirm !== target.database) {
    throw new ConfigError(
      options.confirm
        ? `--confirm ${options.confirm} does not match the database --replace would replace, ${target.database}.`
        : `Replacing the database "${target.database}" needs --confirm ${target.database}.`,
      { code: 'replace-not-confirmed', hint: `Pass --confirm ${target.database} if you mean to replace it; --dry-run shows the plan first.` },
    );
  }
  return target;
}

/** Works out the target database's name and URL (see `resolveRestoreTarget`). */
export function resolveTargetName(options: {
  envDatabaseUrl: string;
  targetUrl?: string;
  database?: string;
  defaultName: string;
}): { database: string; url: string } {
  if (options.targetUrl) {
    let fromUrl: string;
    try {
      fromUrl = describeServer(options.targetUrl).database;
    } catch {
      throw new ConfigError('The --target-url is not a valid PostgreSQL URL.', {
        code: 'target-url-invalid',
        hint: 'Use the form postgres://user:password@host:5432/new_database.',
      });
    }
    const explicit = new URL(options.targetUrl).pathname.replace(/^\//, '');
    if (!explicit) {
      throw new ConfigError('The --target-url names no database to create.', {
        code: 'target-url-invalid',
        hint: 'Put the new database\'s name in the URL path, e.g. postgres://localhost/shop_copy.',
      });
    }
    if (options.database && options.database !== fromUrl) {
      throw new ConfigError(`--database ${options.database} and the database in --target-url (${fromUrl}) disagree.`, {
        code: 'target-conflict',
        hint: 'Give the database name in one place only.',
      });
    }
    checkDatabaseName(fromUrl);
    return { database: fromUrl, url: options.targetUrl };
  }
  const database = options.database ?? options.defaultName;
  checkDatabaseName(database);
  return { database, url: withDatabase(options.envDatabaseUrl, database) };
}

/**
 * A connection to the server's maintenance database (`postgres`, else `template1`), used to
 * create, rename and drop databases.
 */
export async function connectMaintenance(url: string): Promise<pg.Client> {
  try {
    return await connectClient(withDatabase(url, 'postgres'));
  } catch (error) {
    if ((error as { code?: string }).code === 'database-not-found') return connectClient(withDatabase(url, 'template1'));
    throw error;
  }
}

/** Whether a database exists on the server. */
export async function databaseExists(admin: pg.ClientBase, name: string): Promise<boolean> {
  const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return (rowCount ?? 0) > 0;
}

/**
 * Creates the database a restore builds in. It gets a temporary name and a comment marking it
 * incomplete; only a successful restore gives it its final name, so a killed restore never leaves
 * a half-loaded database under the name the user asked for.
 */
export async function createWorkDatabase(admin: pg.ClientBase, finalName: string): Promise<string> {
  const work = `strata_tmp_${randomBytes(5).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${quoteIdent(work)}`);
  await admin.query(`COMMENT ON DATABASE ${quoteIdent(work)} IS ${literal(`${INCOMPLETE_COMMENT} of ${finalName}, started ${new Date().toISOString()}`)}`);
  return work;
}

/** Drops a database strata created, closing any session still on it. */
export async function dropDatabase(admin: pg.ClientBase, name: string): Promise<void> {
  await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

/** A work database younger than this is never taken for a leftover, session or not. */
const LEFTOVER_MIN_AGE_MS = 10 * 60 * 1000;

/**
 * Drops databases left by restores that were killed before they could clean up: those carrying
 * the incomplete-restore comment, started more than ten minutes ago, that no session is using. A
 * restore still running holds a connection to its work database for its whole run (see
 * `restore`), and the age rule covers the moment between its CREATE DATABASE and that connection.
 */
export async function dropAbandonedWorkDatabases(admin: pg.ClientBase, now = Date.now()): Promise<string[]> {
  const { rows } = await admin.query<{ datname: string; comment: string }>(
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
      await admin.query(`DROP DATABASE ${quoteIdent(datname)}`);
      dropped.push(datname);
    } catch {
      // Someone connected in the meantime: it is in use after all.
    }
  }
  return dropped;
}

/**
 * Gives the finished work database its final name. With `replace`, the existing database is first
 * renamed to `<name>_replaced_<timestamp>` (its sessions are closed: the user confirmed the
 * replacement) and is renamed back if the swap fails. Returns the old database's new name.
 */
export async function promoteWorkDatabase(
  admin: pg.ClientBase,
  work: string,
  finalName: string,
  replace: boolean,
): Promise<string | undefined> {
  let renamedOld: string | undefined;
  if (replace) {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '').slice(0, 14);
    renamedOld = `${finalName.slice(0, MAX_IDENTIFIER_BYTES - 24)}_replaced_${stamp}`;
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [finalName]);
    await admin.query(`ALTER DATABASE ${quoteIdent(finalName)} RENAME TO ${quoteIdent(renamedOld)}`);
  }
  try {
    await admin.query(`ALTER DATABASE ${quoteIdent(work)} RENAME TO ${quoteIdent(finalName)}`);
  } catch (error) {
    if (renamedOld) await admin.query(`ALTER DATABASE ${quoteIdent(renamedOld)} RENAME TO ${quoteIdent(finalName)}`).catch(() => {});
    throw error;
  }
  await admin.query(`COMMENT ON DATABASE ${quoteIdent(finalName)} IS NULL`);
  return renamedOld;
}

/** Opens the maintenance connection with errors phrased for a restore. */
export async function openAdmin(url: string): Promise<pg.Client> {
  try {
    return await connectMaintenance(url);
  } catch (error) {
    throw translatePgError(error, url);
  }
}

export { endClient };

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Error for a target name that is taken. */
export function databaseExistsError(name: string, server: string): DatabaseError {
  return new DatabaseError(`The database "${name}" already exists on ${server}; strata never restores over an existing database.`, {
    code: 'database-exists',
    hint: `Pick another name with --database NAME, or replace it with --replace --confirm ${name}.`,
  });
}
