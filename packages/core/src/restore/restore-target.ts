import { driverFor } from '../db/drivers.js';
import { ConfigError, DatabaseError } from '../errors.js';

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
  const database = options.database ?? (options.replace && !options.targetUrl ? driverFor(options.envDatabaseUrl).describe(options.envDatabaseUrl).database : undefined);
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
      new URL(options.targetUrl);
    } catch {
      throw invalidTargetUrl();
    }
    const driver = driverFor(options.targetUrl);
    try {
      fromUrl = driver.describe(options.targetUrl).database;
    } catch {
      throw invalidTargetUrl();
    }
    // Servers name the database in the path; PGlite URLs are the database (a directory) themselves.
    const explicit = driver.name === 'postgresql' ? new URL(options.targetUrl).pathname.replace(/^\//, '') : fromUrl;
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
  return { database, url: driverFor(options.envDatabaseUrl).withDatabase(options.envDatabaseUrl, database) };
}

function invalidTargetUrl(): ConfigError {
  return new ConfigError('The --target-url is not a valid database URL.', {
    code: 'target-url-invalid',
    hint: 'Use the form postgres://user:password@host:5432/new_database, or pglite://<directory> for an embedded database.',
  });
}

/** Error for a target name that is taken. */
export function databaseExistsError(name: string, server: string): DatabaseError {
  return new DatabaseError(`The database "${name}" already exists on ${server}; strata never restores over an existing database.`, {
    code: 'database-exists',
    hint: `Pick another name with --database NAME, or replace it with --replace --confirm ${name}.`,
  });
}
