// Shared helpers for the end-to-end tests: the example shop's config and history, a per-test
// snapshot folder, running the CLI against a given database, and reading tables for comparisons.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';
import { expect } from 'vitest';

import { REPO_ROOT, describeRun, runStrata, type CliResult } from '../support/cli.js';
import { queryAt as query } from '../support/database.js';

export const SHOP_DIR = path.join(REPO_ROOT, 'examples/shop');
export const SHOP_CONFIG = path.join(SHOP_DIR, 'strata.config.ts');
export const SHOP_MIGRATIONS = path.join(SHOP_DIR, 'migrations');
export const SHOP_MODULES = ['accounts', 'catalog', 'orders'] as const;

/** One migration of the shop, in global run order. */
export interface ShopMigration {
  module: string;
  /** File name, e.g. `20240105090000_rename_product_title_to_name.ts`. */
  file: string;
  /** The name without extension, as names compare. */
  key: string;
  /** `module:key`, what `migrate up --to` takes. */
  id: string;
}

/** The shop's migrations in global order (timestamp prefix, then module order). */
export function shopHistory(migrationsDir = SHOP_MIGRATIONS): ShopMigration[] {
  return SHOP_MODULES.flatMap((module, moduleIndex) =>
    readdirSync(path.join(migrationsDir, module))
      .filter((file) => /\.(c|m)?(j|t)s$/.test(file) && !file.endsWith('.d.ts'))
      .map((file) => ({ module, file, moduleIndex, key: file.replace(/\.(c|m)?(j|t)s$/, '') })),
  )
    .sort((a, b) => a.key.slice(0, 14).localeCompare(b.key.slice(0, 14)) || a.moduleIndex - b.moduleIndex || a.key.localeCompare(b.key))
    .map(({ module, file, key }) => ({ module, file, key, id: `${module}:${key}` }));
}

/** Last migration key per module among the first `count` migrations of the history (null: none). */
export function lastPerModule(history: ShopMigration[], count = history.length): Record<string, string | null> {
  const last: Record<string, string | null> = Object.fromEntries(SHOP_MODULES.map((m) => [m, null]));
  for (const m of history.slice(0, count)) last[m.module] = m.key;
  return last;
}

/** A migration name without its extension. */
export function stripExtension(name: string | null | undefined): string | null {
  return name == null ? null : name.replace(/\.(c|m)?(j|t)s$/, '');
}

/** A temporary folder for one test's snapshots; `remove()` deletes it. */
export async function tempDir(prefix = 'strata-e2e-'): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { path: dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** How a test points the shop config at a database and a snapshot folder. */
export interface ShopTarget {
  databaseUrl: string;
  snapshotDir: string;
  /** A copy of the migrations folder to use instead of the shop's own. */
  migrationsDir?: string;
}

/** Runs `strata …args --config <shop config>` with the target's database and snapshot folder. */
export function strata(target: ShopTarget, args: string[]): Promise<CliResult> {
  return runStrata([...args, '--config', SHOP_CONFIG], {
    cwd: SHOP_DIR,
    env: {
      DATABASE_URL: target.databaseUrl,
      STRATA_SNAPSHOT_DIR: target.snapshotDir,
      SHOP_MIGRATIONS_DIR: target.migrationsDir,
      STRATA_ENV: undefined,
    },
  });
}

/** Like `strata` with `--json`; asserts exit 0 and returns the parsed output. */
export async function strataJson<T = any>(target: ShopTarget, args: string[]): Promise<T> {
  const result = await strata(target, [...args, '--json']);
  expect(result.exitCode, `strata ${args.join(' ')}: ${describeRun(result)}`).toBe(0);
  return result.json<T>();
}

/** The snapshot id in the output of `snapshot --json`. */
export function snapshotIdOf(output: any): string {
  const id = output?.id ?? output?.manifest?.id ?? output?.snapshot?.id;
  expect(typeof id, `snapshot --json printed no id: ${JSON.stringify(output)}`).toBe('string');
  return id as string;
}

/** Takes a snapshot with the CLI and returns its id. */
export async function takeSnapshot(target: ShopTarget, description = 'e2e'): Promise<string> {
  return snapshotIdOf(await strataJson(target, ['snapshot', '--description', description, '--tag', 'e2e']));
}

/** Per-module status objects from `migrate status --json`, whatever wrapper the command uses. */
export function moduleStatuses(output: any): Array<{ module: string; applied: string[]; pending: string[]; last: string | null }> {
  const list = Array.isArray(output) ? output : (output?.modules ?? output?.status ?? output?.statuses);
  if (Array.isArray(list)) return list;
  if (list && typeof list === 'object') return Object.entries(list).map(([module, s]) => ({ module, ...(s as object) })) as never;
  throw new Error(`migrate status --json printed an unexpected shape: ${JSON.stringify(output)}`);
}

/** Runs `sql` on the database at `url` and returns the rows. */
export { query };

/** Whether a database of that name exists on the server of `adminUrl`. */
export async function databaseExists(adminUrl: string, name: string): Promise<boolean> {
  const rows = await query(adminUrl, 'SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return rows.length > 0;
}

/**
 * Whether the database `name` exists, or a restore's temporary work database for it (restores
 * build in `strata_tmp_*`, commented "strata: incomplete restore of <name>, …", and rename it last).
 */
export async function restoreLeftovers(adminUrl: string, name: string): Promise<string[]> {
  const rows = await query<{ datname: string }>(
    adminUrl,
    `SELECT datname FROM pg_database d
      WHERE datname = $1 OR coalesce(shobj_description(d.oid, 'pg_database'), '') LIKE '%incomplete restore of ' || $1 || ',%'`,
    [name],
  );
  return rows.map((r) => r.datname);
}

/** Databases whose names start with `prefix`. */
export async function databasesLike(adminUrl: string, prefix: string): Promise<string[]> {
  const rows = await query<{ datname: string }>(adminUrl, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, [prefix]);
  return rows.map((r) => r.datname);
}

/**
 * Every application table of the database (public schema, without the knex migration tables), each
 * as the sorted text of its rows: the exact values, comparable between two databases.
 */
export async function dumpTables(url: string): Promise<Record<string, string[]>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name NOT LIKE '%migrations%'
        ORDER BY table_name`,
    );
    const dump: Record<string, string[]> = {};
    for (const { table_name: table } of tables.rows) {
      const rows = await client.query<{ r: string }>(`SELECT row_to_json(t)::text AS r FROM public."${table}" t ORDER BY 1`);
      dump[table] = rows.rows.map((row) => row.r);
    }
    return dump;
  } finally {
    await client.end();
  }
}

/** Every file under `dir`, recursively (absolute paths). */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath ?? (e as any).path, e.name));
}

/** Asserts the shape of an error a user can cause: non-zero exit, a message, no stack trace. */
export function expectUserError(result: CliResult, options: { json?: boolean } = {}): { message: string; hint?: string; code?: string } {
  expect(result.exitCode, describeRun(result)).not.toBe(0);
  const output = `${result.stdout}\n${result.stderr}`;
  // A stack frame: "    at fn (file:line:col)" or "    at file:line:col".
  expect(output, 'the output shows a stack trace').not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  if (options.json) {
    const body = result.json<{ error?: { code: string; message: string; hint?: string } }>();
    expect(body.error, `--json printed no error object: ${result.stdout}`).toBeDefined();
    expect(body.error!.message).toMatch(/\S/);
    expect(body.error!.hint, `no hint in ${result.stdout}`).toMatch(/\S/);
    return body.error!;
  }
  const text = result.stderr.trim() || result.stdout.trim();
  expect(text, describeRun(result)).toMatch(/\S/);
  // Progress lines may come first; the error itself is one sentence and a hint at the end.
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const start = lines.map((l) => /^\W*Error\b/i.test(l)).lastIndexOf(true);
  expect(start, `no "Error: …" line in:\n${text}`).toBeGreaterThanOrEqual(0);
  const block = lines.slice(start);
  expect(block.length, `expected one sentence and a hint, got:\n${text}`).toBeGreaterThanOrEqual(2);
  expect(block.length, `expected one sentence and a hint, got:\n${text}`).toBeLessThanOrEqual(4);
  expect(block.slice(1).join('\n'), `no hint in:\n${text}`).toMatch(/hint|run|use|check|try|pass/i);
  return { message: block[0]!, hint: block.slice(1).join('\n') };
}
