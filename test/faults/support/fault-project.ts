// A throw-away strata project for the fault suites: a JSON config in a temp dir, one module with
// a two-step migration history (so a restore has migrations before and after its load), an
// `items` table whose size the test picks, and helpers that read the database and the storage
// directly (never strata's own report) to tell what a failed run left behind.
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';

import { runStrata, type CliResult } from '../../support/cli.js';
import { startPaused, type PausedRun } from './paused-run.js';

/** The project's name in the config, hence the first folder of every snapshot path. */
export const PROJECT = 'faults';

/** The first migration: the schema the snapshots are taken at. */
export const FIRST_MIGRATION = 'app:20240101000000_create_tables';

const MIGRATIONS: Record<string, string> = {
  '20240101000000_create_tables.mjs': `
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE parents (id integer PRIMARY KEY, name text NOT NULL);
    CREATE TABLE items (id bigint PRIMARY KEY, parent_id integer NOT NULL REFERENCES parents(id), payload text NOT NULL);
    CREATE INDEX items_payload ON items (payload);
  \`);
}
export async function down() {}
`,
  // Runs after the load of a snapshot taken at the first migration: a data migration. With
  // FAULT_SLOW_MIGRATION=<seconds> in strata's environment it first sleeps that long in the
  // server, so a test can find its session in pg_stat_activity and break something meanwhile.
  '20240102000000_upper_parent_names.mjs': `
export async function up(knex) {
  const sleep = Number(process.env.FAULT_SLOW_MIGRATION ?? 0);
  if (sleep > 0) await knex.raw("SELECT pg_sleep(?) AS fault_slow_migration", [sleep]);
  await knex.raw("ALTER TABLE items ADD COLUMN flagged boolean NOT NULL DEFAULT false");
  await knex.raw("UPDATE parents SET name = upper(name)");
}
export async function down() {}
`,
};

export interface FaultProjectOptions {
  /** The database every environment reads (`snapshot`) and whose server restores create databases on. */
  databaseUrl: string;
  /** Storage directory per environment (default `<dir>/storage/<env>`); e.g. a tmpfs mount. */
  storage?: Partial<Record<FaultEnvironment, string>>;
}

/** dev: the source; staging: a promotion's target; copyto: a copy's target; archive: prune's playground. */
export type FaultEnvironment = 'dev' | 'staging' | 'copyto' | 'archive';
const ENVIRONMENTS: FaultEnvironment[] = ['dev', 'staging', 'copyto', 'archive'];

export interface FaultProject {
  dir: string;
  configPath: string;
  /** The storage directory of an environment. */
  storageDir(env?: FaultEnvironment): string;
  /** Runs `strata …args --config <config>` to its end (`FAULT_DATABASE_URL` in `env` points it at another database). */
  run(args: string[], env?: Record<string, string | undefined>): Promise<CliResult>;
  /** Starts `strata …args --config <config>` paused at `point` (see paused-run.ts). */
  paused(args: string[], point: string, env?: Record<string, string | undefined>): PausedRun;
  remove(): Promise<void>;
}

/** Writes the config and the migrations into a new temp dir. */
export async function faultProject(options: FaultProjectOptions): Promise<FaultProject> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-faults-'));
  await mkdir(path.join(dir, 'migrations'));
  for (const [name, source] of Object.entries(MIGRATIONS)) await writeFile(path.join(dir, 'migrations', name), source);
  const storageDir = (env: FaultEnvironment = 'dev'): string => options.storage?.[env] ?? path.join(dir, 'storage', env);
  // The database comes from the run's environment, so one project can also migrate and fill
  // another database (a `restore --into` target); runs default to `databaseUrl`.
  const environments = Object.fromEntries(
    ENVIRONMENTS.map((env) => [env, { database: '${FAULT_DATABASE_URL}', storage: new URL(`file://${storageDir(env)}`).href }]),
  );
  const configPath = path.join(dir, 'strata.config.json');
  await writeFile(configPath, JSON.stringify({ project: PROJECT, modules: { app: { migrations: './migrations' } }, environments }, null, 2));
  const withConfig = (args: string[]): string[] => [...args, '--config', configPath];
  const baseEnv = { STRATA_ENV: undefined, FAULT_DATABASE_URL: options.databaseUrl };
  return {
    dir,
    configPath,
    storageDir,
    run: (args, env = {}) => runStrata(withConfig(args), { cwd: dir, env: { ...baseEnv, ...env } }),
    paused: (args, point, env = {}) => startPaused(withConfig(args), { point, cwd: dir, env: { ...baseEnv, ...env } }),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Fills `parents` (100 rows) and `items` (`rows` rows of 64 incompressible-ish hex characters). */
export async function seedItems(url: string, rows: number): Promise<void> {
  await withClient(url, async (client) => {
    await client.query('INSERT INTO parents SELECT g, $1 || g FROM generate_series(1, 100) g', ['parent ']);
    await client.query(
      "INSERT INTO items SELECT g, 1 + g % 100, md5(g::text) || md5((g * 7919)::text) FROM generate_series(1, $1::integer) g",
      [rows],
    );
  });
}

/**
 * A checksum of every table of the public schema (the migration tables included), from the rows'
 * text in a fixed order: two databases with the same checksums hold the same rows.
 */
export async function tableChecksums(url: string): Promise<Record<string, string>> {
  return withClient(url, async (client) => {
    const { rows: tables } = await client.query<{ name: string }>(
      "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    );
    const sums: Record<string, string> = {};
    for (const { name } of tables) {
      const quoted = `"${name.replace(/"/g, '""')}"`;
      const { rows } = await client.query<{ sum: string | null; n: string }>(
        `SELECT md5(string_agg(t::text, '' ORDER BY t::text)) AS sum, count(*) AS n FROM public.${quoted} t`,
      );
      sums[name] = `${rows[0]!.n}:${rows[0]!.sum ?? 'empty'}`;
    }
    return sums;
  });
}

/**
 * The databases of the server at `adminUrl` that a test's runs could have made, sorted: those
 * whose name starts with `prefix` (give the names the runs create that prefix), and every work
 * database (`strata_tmp_…`) a restore marked as being built for one of them. Without `prefix`,
 * every database: only right on a server no one else uses (a private cluster), since other test
 * files create and drop databases on a shared one all the time.
 */
export async function databaseNames(adminUrl: string, prefix?: string): Promise<string[]> {
  return withClient(adminUrl, async (client) => {
    const { rows } = prefix === undefined
      ? await client.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY datname')
      : await client.query<{ datname: string }>(
          `SELECT datname FROM pg_database d
            WHERE starts_with(datname, $1)
               OR coalesce(shobj_description(d.oid, 'pg_database'), '') LIKE 'strata: incomplete restore of ' || $1 || '%'
            ORDER BY datname`,
          [prefix],
        );
    return rows.map((r) => r.datname);
  });
}

/** Every file under `dir` with its size (`relative/path:bytes`), sorted; none when it does not exist. */
export async function filesIn(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: string[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files.push(`${path.relative(dir, full)}:${(await stat(full)).size}`);
  }
  return files.sort();
}

/** Ids of the snapshot folders of `env` that hold a manifest.json (what `list` would read). */
export async function snapshotsWithManifest(storageDir: string, env: FaultEnvironment): Promise<string[]> {
  const files = await filesIn(path.join(storageDir, PROJECT, env));
  return files
    .map((f) => f.split(':')[0]!)
    .filter((f) => f.endsWith(`${path.sep}manifest.json`))
    .map((f) => f.split(path.sep)[0]!)
    .sort();
}

/** Runs `work` on a client of its own, always closed. */
export async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
