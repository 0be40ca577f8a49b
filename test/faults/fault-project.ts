// A small strata project for the fault suite: a source database with three tables, a config with
// two file:// environments and two s3:// ones (s3rver), the built CLI to run against it (each run
// tagged with its own application_name, so its sessions can be told from every other on the
// server), and the same environments in-process for the engine API.
import { readdir, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

import { loadConfig, resolveEnvironment, type LoadedConfig, type OperationContext, type StorageDriver } from '../../packages/core/src/index.js';
import { workLockKey } from '../../packages/core/src/db/pg-driver.js';
import { LocalStorage } from '../../packages/plugin-local/src/local-storage.js';
import { resolveS3Settings } from '../../packages/plugin-s3/src/s3-settings.js';
import { S3Storage } from '../../packages/plugin-s3/src/s3-storage.js';
import { runStrata, type CliResult } from '../support/cli.js';
import { adminQuery, createTestDatabase, databaseUrl, queryAt, type TestDatabase } from '../support/database.js';
import { createTestBucket, type TestBucket } from '../support/s3.js';
import { startStrata, type StrataProcess } from '../support/strata-process.js';

const SCHEMA = `
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE parent (id serial PRIMARY KEY, label text NOT NULL);
    CREATE TABLE child (id serial PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent(id), note text);
    CREATE TABLE extra (id serial PRIMARY KEY, note text);
    INSERT INTO parent (label) SELECT 'p' || g FROM generate_series(1, 200) g;
    INSERT INTO child (parent_id, note) SELECT 1 + g % 200, repeat('x', 50) FROM generate_series(1, 5000) g;
    INSERT INTO extra (note) SELECT 'e' || g FROM generate_series(1, 100) g;
  \`);
}
export async function down() {}
`;

/** One of the project's storages, by the environment names that use it. */
export interface FaultBackend {
  name: 'file://' | 's3://';
  /** Two environments on this kind of storage. */
  envs: [string, string];
}

export const BACKENDS: FaultBackend[] = [
  { name: 'file://', envs: ['a', 'b'] },
  { name: 's3://', envs: ['s3a', 's3b'] },
];

export interface FaultProject {
  dir: string;
  source: TestDatabase;
  config: LoadedConfig;
  /** Runs the CLI (`--config` added); `tag` becomes the application_name of all its sessions. */
  strata(args: string[], tag?: string): Promise<CliResult>;
  /** Starts the CLI paused at `point`. */
  start(args: string[], point: string, tag?: string): StrataProcess;
  /** An engine context for environment `env`, its storage the same one the CLI uses. */
  context(env: string): OperationContext & { warnings: string[] };
  /** Every object key below `<project>/<env>/`, relative to it, sorted. */
  objects(env: string): Promise<string[]>;
  /** The URL of database `name` on the test server. */
  url(name: string, tag?: string): string;
  cleanup(): Promise<void>;
}

/** A fresh `application_name` for one CLI run. */
export function newTag(): string {
  return `strata_fault_${randomBytes(4).toString('hex')}`;
}

/** Creates the project: database migrated and filled, config written, bucket made. */
export async function faultProject(prefix: string): Promise<FaultProject> {
  const [server] = inject('s3Servers');
  if (!server) throw new Error('no S3 server');
  const source = await createTestDatabase(prefix);
  const bucket: TestBucket = await createTestBucket(server);
  const dir = await mkdtemp(path.join(os.tmpdir(), `strata-${prefix}-`));
  await mkdir(path.join(dir, 'migrations'));
  await writeFile(path.join(dir, 'migrations', '20240101000000_schema.mjs'), SCHEMA);
  const s3 = (sub: string) => ({
    url: `s3://${bucket.name}/${sub}`,
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
  const configPath = path.join(dir, 'strata.config.json');
  await writeFile(
    configPath,
    JSON.stringify({
      project: 'flt',
      modules: { app: { migrations: './migrations' } },
      environments: {
        a: { database: '${FAULT_DATABASE_URL}', storage: 'file://./snap-a' },
        b: { database: '${FAULT_DATABASE_URL}', storage: 'file://./snap-b' },
        s3a: { database: '${FAULT_DATABASE_URL}', storage: s3('a') },
        s3b: { database: '${FAULT_DATABASE_URL}', storage: s3('b') },
      },
    }),
  );
  // The in-process config reads the same variable the CLI runs get.
  process.env.FAULT_DATABASE_URL = source.url;
  const config = await loadConfig({ configPath });
  const storages = new Map<string, StorageDriver>();
  const storageOf = (env: string): StorageDriver => {
    let storage = storages.get(env);
    if (!storage) {
      const resolved = resolveEnvironment(config, env);
      storage = resolved.storageUrl.startsWith('s3:')
        ? new S3Storage(resolveS3Settings(resolved.storageUrl, resolved.storageOptions))
        : new LocalStorage(path.join(dir, `snap-${env}`));
      storages.set(env, storage);
    }
    return storage;
  };
  const tagged = (url: string, tag: string | undefined): string => {
    if (!tag) return url;
    const parsed = new URL(url);
    parsed.searchParams.set('application_name', tag);
    return parsed.toString();
  };
  const cliEnv = (tag: string | undefined) => ({ FAULT_DATABASE_URL: tagged(source.url, tag), STRATA_ENV: undefined, NODE_ENV: 'production' });
  const project: FaultProject = {
    dir,
    source,
    config,
    strata: (args, tag) => runStrata([...args, '--config', configPath], { cwd: dir, env: cliEnv(tag) }),
    start: (args, point, tag) => startStrata([...args, '--config', configPath], point, { cwd: dir, env: cliEnv(tag) }),
    context(env) {
      const warnings: string[] = [];
      return { config, env: resolveEnvironment(config, env), storage: storageOf(env), warnings, log: (level, message) => level === 'warn' && warnings.push(message) };
    },
    async objects(env) {
      const prefix = `flt/${env}/`;
      if (env.startsWith('s3')) {
        const sub = env === 's3a' ? 'a' : 'b';
        return (await bucket.keys(`${sub}/${prefix}`)).map((k) => k.slice(`${sub}/${prefix}`.length));
      }
      const root = path.join(dir, `snap-${env}`, 'flt', env);
      try {
        const entries = await readdir(root, { recursive: true, withFileTypes: true });
        return entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/')).sort();
      } catch {
        return [];
      }
    },
    url: (name, tag) => tagged(databaseUrl(source.adminUrl, name), tag),
    async cleanup() {
      for (const storage of storages.values()) await storage.close?.();
      await bucket.drop().catch(() => {});
      await source.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return project;
}

/** The folders (snapshot ids) among object keys. */
export function folders(keys: string[]): string[] {
  return [...new Set(keys.map((k) => k.split('/')[0]!))].sort();
}

/** Row counts of the fixture's tables in the database at `url`. */
export async function rowCounts(url: string): Promise<Record<string, number>> {
  const [row] = await queryAt<{ parent: string; child: string; extra: string }>(
    url,
    'SELECT (SELECT count(*) FROM parent) AS parent, (SELECT count(*) FROM child) AS child, (SELECT count(*) FROM extra) AS extra',
  );
  return { parent: Number(row!.parent), child: Number(row!.child), extra: Number(row!.extra) };
}

/** Whether databases of these names exist (those that do). */
export async function existing(names: string[]): Promise<string[]> {
  const { rows } = await adminQuery<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1) ORDER BY 1', [names]);
  return rows.map((r) => r.datname);
}

/** Pid of the maintenance session (on `postgres` or `template1`) of the strata run tagged `tag`. */
export async function maintenancePid(tag: string): Promise<number | undefined> {
  const { rows } = await adminQuery<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname IN ('postgres', 'template1')",
    [tag],
  );
  return rows[0]?.pid;
}

/**
 * The work database of the restore tagged `tag`: the `strata_tmp_…` database whose advisory lock
 * its maintenance session holds. Exact even before the database has its comment or a session.
 */
export async function workDatabaseOf(tag: string): Promise<string | undefined> {
  const pid = await maintenancePid(tag);
  if (pid === undefined) return undefined;
  const { rows: locks } = await adminQuery<{ key: string }>(
    "SELECT ((classid::bigint << 32) | objid::bigint)::text AS key FROM pg_locks WHERE locktype = 'advisory' AND pid = $1 AND granted",
    [pid],
  );
  const held = new Set(locks.map((l) => BigInt.asUintN(64, BigInt(l.key)).toString()));
  const { rows } = await adminQuery<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'strata\\_tmp\\_%'");
  return rows.map((r) => r.datname).find((name) => held.has(BigInt.asUintN(64, BigInt(workLockKey(name))).toString()));
}
