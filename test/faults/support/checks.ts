// What the fault suites look at after a strata process died: the server's databases and sessions,
// every table's rows, and the objects in the storage, read directly (pg, fs, the S3 SDK), never
// through strata's own report.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { inject } from 'vitest';

import { adminQuery, databaseUrl, queryAt } from '../../support/database.js';
import type { TestBucket } from '../../support/s3.js';

/**
 * A login role made for one scenario. Every database a strata process creates while connected as
 * it is owned by it (`pg_database.datdba`), and every session it opens shows under its name in
 * `pg_stat_activity`: what the process did is told apart from what other test files, running at
 * the same time on the same server, do.
 */
export interface ScenarioRole {
  name: string;
  /** A URL for database `database` on the test server, connecting as this role. */
  urlFor(database: string): string;
  /** Names of the databases this role owns, sorted. */
  databases(): Promise<string[]>;
  /** Number of server sessions open as this role. */
  sessions(): Promise<number>;
  /**
   * Waits until the server has ended every session of this role (a killed client's backends end
   * when the server notices the closed socket) and returns how many were left at the deadline.
   */
  waitForNoSessions(timeoutMs?: number): Promise<number>;
  /** Drops every database the role owns, then the role. */
  drop(): Promise<void>;
}

/** Creates `strata_faults_<random>`, a superuser (restores turn triggers off and create databases). */
export async function createScenarioRole(): Promise<ScenarioRole> {
  const name = `strata_faults_${randomBytes(5).toString('hex')}`;
  await adminQuery(`CREATE ROLE "${name}" LOGIN SUPERUSER`);
  const adminUrl = inject('adminDatabaseUrl');
  const role: ScenarioRole = {
    name,
    urlFor(database) {
      const url = new URL(databaseUrl(adminUrl, database));
      url.username = name;
      url.password = '';
      return url.toString();
    },
    async databases() {
      const { rows } = await adminQuery<{ datname: string }>(
        'SELECT d.datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = $1 ORDER BY 1',
        [name],
      );
      return rows.map((r) => r.datname);
    },
    async sessions() {
      const { rows } = await adminQuery<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [name]);
      return rows[0]!.n;
    },
    async waitForNoSessions(timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      let left = await role.sessions();
      while (left > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        left = await role.sessions();
      }
      return left;
    },
    async drop() {
      for (const database of await role.databases()) await adminQuery(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [name]);
      await adminQuery(`DROP ROLE IF EXISTS "${name}"`);
    },
  };
  return role;
}

/** Whether a database of that name exists on the test server. */
export async function databaseExists(name: string): Promise<boolean> {
  const { rows } = await adminQuery('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return rows.length > 0;
}

/**
 * One checksum per table of every schema but the system ones (knex's migration tables included),
 * `md5` of its rows' text in a fixed order, and per sequence its `last_value` and `is_called`:
 * two databases with equal results hold the same rows and would hand out the same next ids.
 */
export async function databaseChecksums(url: string): Promise<Record<string, string>> {
  const tables = await queryAt<{ schema: string; name: string; kind: string }>(
    url,
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY 1, 2`,
  );
  const sums: Record<string, string> = {};
  for (const { schema, name, kind } of tables) {
    const qualified = `"${schema.replace(/"/g, '""')}"."${name.replace(/"/g, '""')}"`;
    if (kind === 'S') {
      const [row] = await queryAt<{ v: string }>(url, `SELECT last_value::text || '/' || is_called::text AS v FROM ${qualified}`);
      sums[`sequence ${schema}.${name}`] = row!.v;
    } else {
      const [row] = await queryAt<{ sum: string | null; n: string }>(
        url,
        `SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS sum, count(*)::text AS n FROM ${qualified} t`,
      );
      sums[`table ${schema}.${name}`] = `${row!.n} rows, ${row!.sum ?? 'empty'}`;
    }
  }
  return sums;
}

/** The folders of one environment in a storage: folder name → the names of every object in it (relative). */
export type FolderListing = Record<string, string[]>;

/** A storage looked at without strata: what is under one environment's prefix. */
export interface StorageView {
  /** `file://…` or `s3://bucket/prefix`, for messages. */
  describe: string;
  /** Every snapshot folder of the environment and the objects in it, in-flight files included. */
  folders(): Promise<FolderListing>;
  /** Keys of multipart uploads still open under the environment, or `undefined` when the server cannot list them (s3rver). */
  openUploads(): Promise<string[] | undefined>;
  /** The bytes of `file` (a name from `folders()`) in `folder`. */
  read(folder: string, file: string): Promise<Buffer>;
  /** Stores `body` as `file` in `folder`, as a copy made by hand would. */
  write(folder: string, file: string, body: Buffer): Promise<void>;
}

/** A `file://` storage rooted at `root`: folders are `<root>/<project>/<env>/<id>/`. */
export function fileStorageView(root: string, project: string, env: string): StorageView {
  const base = path.join(root, project, env);
  return {
    describe: `file://${base}`,
    async folders() {
      let names: string[];
      try {
        names = await readdir(base);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
        throw error;
      }
      const listing: FolderListing = {};
      for (const name of names.sort()) {
        const entries = await readdir(path.join(base, name), { recursive: true, withFileTypes: true }).catch(() => []);
        listing[name] = entries
          .filter((e) => e.isFile())
          .map((e) => path.relative(path.join(base, name), path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).split(path.sep).join('/'))
          .sort();
      }
      return listing;
    },
    async openUploads() {
      return [];
    },
    read: (folder, file) => readFile(path.join(base, folder, ...file.split('/'))),
    async write(folder, file, body) {
      const target = path.join(base, folder, ...file.split('/'));
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, body);
    },
  };
}

/** An `s3://<bucket>/<prefix>` storage: folders are `<prefix>/<project>/<env>/<id>/`. */
export function s3StorageView(bucket: TestBucket, prefix: string, project: string, env: string): StorageView {
  const base = `${prefix.replace(/\/$/, '')}/${project}/${env}/`;
  return {
    describe: `s3://${bucket.name}/${base}`,
    async folders() {
      const listing: FolderListing = {};
      for (const key of await bucket.keys(base)) {
        const rest = key.slice(base.length);
        const slash = rest.indexOf('/');
        const folder = slash < 0 ? rest : rest.slice(0, slash);
        (listing[folder] ??= []).push(slash < 0 ? '' : rest.slice(slash + 1));
      }
      for (const files of Object.values(listing)) files.sort();
      return listing;
    },
    async openUploads() {
      const uploads = await bucket.openUploads();
      return uploads?.filter((key) => key.startsWith(base));
    },
    read: (folder, file) => bucket.get(`${base}${folder}/${file}`),
    write: (folder, file, body) => bucket.put(`${base}${folder}/${file}`, body),
  };
}

/** Folders of a listing that hold no `manifest.json`: snapshots that do not exist (yet, or any more). */
export function foldersWithoutManifest(listing: FolderListing): string[] {
  return Object.entries(listing)
    .filter(([, files]) => !files.includes('manifest.json'))
    .map(([name]) => name);
}

/** Folders of a listing that hold a `manifest.json`. */
export function foldersWithManifest(listing: FolderListing): string[] {
  return Object.entries(listing)
    .filter(([, files]) => files.includes('manifest.json'))
    .map(([name]) => name);
}
