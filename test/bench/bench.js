#!/usr/bin/env node
// strata benchmark: capture and load of a generated dataset, strata against pg_dump/pg_restore.
//
//   npm run bench                          # 1,000,000 rows
//   npm run bench -- --rows 200000
//   npm run bench -- --sizes 1000000,5000000   # also compares strata's peak RSS across sizes
//
// Every database it makes is named strata_bench_<run id>…; all of them are dropped at the end,
// on failure, and on SIGINT/SIGTERM. See docs/benchmarks.md.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import knexFactory from 'knex';
import pg from 'pg';
import { TABLES, generateStatements, migrationSource, tableSizes } from './dataset.js';
import { canMeasureRss, measure, stopChildren } from './measure.js';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CLI = join(REPO, 'packages/core/bin/run.js');
const TARGETS = { captureRatio: 1.5, loadRatio: 1.5, rssBytes: 200 * 1024 * 1024, rssGrowth: 0.2 };
const MIGRATIONS_TABLE = 'knex_migrations_bench';

const { values: flags } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    sizes: { type: 'string' },
    'database-url': { type: 'string', default: process.env.STRATA_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
    'skip-strata': { type: 'boolean', default: false },
    via: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.log('usage: node test/bench/bench.js [--rows N] [--sizes N,M,…] [--database-url postgres://…/postgres] [--skip-strata] [--via api]');
  process.exit(0);
}
const sizes = (flags.sizes ?? flags.rows).split(',').map((s) => Number(s.replace(/[_,]/g, '').trim()));
if (sizes.some((n) => !Number.isInteger(n) || n < 10)) {
  console.error('--rows/--sizes take whole numbers of rows (at least 10), e.g. --sizes 1000000,5000000');
  process.exit(2);
}

const runId = randomBytes(3).toString('hex');
const prefix = `strata_bench_${runId}`;
const adminUrl = flags['database-url'];
const workRoot = join(REPO, '.bench', runId);

// ---------------------------------------------------------------------------------------------
// Database helpers and cleanup

function urlFor(database) {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin(sql, params = []) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

async function createDatabase(name) {
  await admin(`CREATE DATABASE "${name}"`);
}

async function countRows(database) {
  const client = new pg.Client({ connectionString: urlFor(database) });
  await client.connect();
  try {
    const counts = {};
    for (const table of TABLES) {
      counts[table] = Number((await client.query(`SELECT count(*) AS n FROM "${table}"`)).rows[0].n);
    }
    return counts;
  } finally {
    await client.end();
  }
}

let cleaning;
/** Drops every database of this run (only names with this run's id) and the work directory. Idempotent. */
function cleanup() {
  cleaning ??= (async () => {
    stopChildren();
    try {
      const { rows } = await admin('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [prefix]);
      for (const { datname } of rows) await admin(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      if (rows.length) console.error(`cleanup: dropped ${rows.map((r) => r.datname).join(', ')}`);
    } catch (error) {
      console.error(`cleanup: could not drop the ${prefix}* databases: ${error.message}`);
    }
    await rm(workRoot, { recursive: true, force: true });
    await rmdir(join(REPO, '.bench')).catch(() => {}); // only when no other run uses it
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping and dropping this run's databases…`);
    cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// Steps

/** Writes the tiny strata project whose one module creates the bench schema. */
async function writeBenchApp(dir, sourceDb) {
  await mkdir(join(dir, 'migrations'), { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'strata-bench-app', private: true, type: 'module' }, null, 2));
  await writeFile(join(dir, 'migrations', '20240101000000_bench_schema.js'), migrationSource());
  const config = {
    project: 'bench',
    modules: { bench: { migrations: './migrations', tableName: MIGRATIONS_TABLE } },
    environments: { bench: { database: urlFor(sourceDb), storage: 'file://./snapshots' } },
  };
  const configPath = join(dir, 'strata.config.json');
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
  return configPath;
}

/** Runs the bench app's migrations with knex itself (as the app would), timed. */
async function migrate(dir, database) {
  const knex = knexFactory({ client: 'pg', connection: urlFor(database), pool: { min: 0, max: 1 } });
  try {
    const started = process.hrtime.bigint();
    await knex.migrate.latest({ directory: join(dir, 'migrations'), tableName: MIGRATIONS_TABLE, loadExtensions: ['.js'] });
    return Number(process.hrtime.bigint() - started) / 1e9;
  } finally {
    await knex.destroy();
  }
}

async function generate(database, counts) {
  const client = new pg.Client({ connectionString: urlFor(database) });
  await client.connect();
  try {
    const started = process.hrtime.bigint();
    for (const statement of generateStatements(counts)) await client.query(statement);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    // Sets hint bits and statistics now, so the first reader (pg_dump) does not pay for them.
    await client.query('VACUUM ANALYZE');
    return seconds;
  } finally {
    await client.end();
  }
}

async function dirBytes(path) {
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath ?? entry.path, entry.name))).size;
  }
  return total;
}

/** Parses `--json` output: one document, pretty-printed or not (else its last line). */
function parseJsonOutput(stdout) {
  try {
    return JSON.parse(stdout);
  } catch {
    return JSON.parse(stdout.trim().split('\n').filter(Boolean).at(-1) ?? 'null');
  }
}

/** Finds the snapshot id in `strata snapshot --json` output, whatever envelope it uses. */
function snapshotId(stdout) {
  const value = parseJsonOutput(stdout);
  const id = value?.id ?? value?.snapshot?.id ?? value?.result?.id ?? value?.manifest?.id;
  if (typeof id !== 'string') throw new Error(`strata snapshot --json printed no id: ${stdout.slice(0, 300)}`);
  return { id, value };
}

const BUILD_OUTPUTS = ['packages/core/dist/index.js', 'packages/core/dist/commands', 'packages/plugin-local/dist/index.js'];

/**
 * Waits (up to 2 minutes) for the build outputs: `npm run build` starts with `rm -rf dist`, so a
 * build running elsewhere in the same checkout makes them vanish for a few seconds.
 */
async function waitForBuild() {
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (BUILD_OUTPUTS.every((p) => existsSync(join(REPO, p)))) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * How to run strata: `{ via: 'cli' }` when the built CLI has both commands, `{ via: 'api' }` when
 * only the built library has them (test/bench/strata-api.js, same process shape: one node child
 * per operation), or `{ skip: reason }`.
 */
async function strataMode() {
  if (!(await waitForBuild())) return { skip: 'packages/core is not built (run `npm run build`)' };
  const missing = [];
  for (const command of ['snapshot', 'restore']) {
    try {
      await measure(process.execPath, [CLI, command, '--help'], { cwd: REPO });
    } catch {
      missing.push(command);
    }
  }
  if (flags.via === 'api') return { via: 'api', why: '--via api' };
  if (missing.length === 0) return { via: 'cli' };
  if (existsSync(join(REPO, 'packages/plugin-local/dist/index.js'))) {
    return { via: 'api', why: `the CLI has no ${missing.map((c) => `\`${c}\``).join('/')} command yet` };
  }
  return { skip: `the CLI has no ${missing.join('/')} command and plugin-local is not built` };
}

function strataArgs(mode, operation, configPath, id, database) {
  if (mode.via === 'api') {
    return [join(REPO, 'test/bench/strata-api.js'), operation, configPath, 'bench', ...(operation === 'restore' ? [id, database] : [])];
  }
  return operation === 'snapshot'
    ? [CLI, 'snapshot', '--json', '--config', configPath, '--env', 'bench']
    : [CLI, 'restore', id, '--database', database, '--json', '--config', configPath, '--env', 'bench'];
}

function sameCounts(a, b) {
  return TABLES.every((t) => a[t] === b[t]);
}

/** One full round at one size; returns the rows of the result table. */
async function runSize(rows, index) {
  const tag = `${prefix}_${index}`;
  const dir = join(workRoot, String(rows));
  await mkdir(dir, { recursive: true });
  const counts = tableSizes(rows);
  const source = `${tag}_src`;
  const result = { rows, counts, steps: {}, notes: [] };

  console.log(`\n== ${rows.toLocaleString('en-US')} rows (${TABLES.map((t) => `${t} ${counts[t].toLocaleString('en-US')}`).join(', ')})`);
  const configPath = await writeBenchApp(dir, source);

  await createDatabase(source);
  result.steps.migrate = { seconds: await migrate(dir, source) };
  console.log(`schema migration (knex, 1 migration): ${result.steps.migrate.seconds.toFixed(2)} s`);
  result.steps.generate = { seconds: await generate(source, counts) };
  console.log(`generated in ${result.steps.generate.seconds.toFixed(1)} s`);
  const sourceCounts = await countRows(source);

  // Baseline capture: the data only, custom format (compressed), to a file.
  const dumpFile = join(dir, 'data.dump');
  result.steps.pgDump = await measure('pg_dump', ['--data-only', '-Fc', '-f', dumpFile, '-d', urlFor(source)]);
  result.steps.pgDump.bytes = (await stat(dumpFile)).size;
  console.log(`pg_dump --data-only -Fc: ${result.steps.pgDump.seconds.toFixed(2)} s`);

  // Baseline load: a fresh copy of the schema (untimed), then pg_restore of the data into it.
  const schemaFile = join(dir, 'schema.dump');
  await measure('pg_dump', ['--schema-only', '-Fc', '-f', schemaFile, '-d', urlFor(source)]);
  const baselineDb = `${tag}_pg`;
  await createDatabase(baselineDb);
  await measure('pg_restore', ['--exit-on-error', '-d', urlFor(baselineDb), schemaFile]);
  result.steps.pgRestore = await measure('pg_restore', ['--data-only', '--disable-triggers', '--exit-on-error', '-d', urlFor(baselineDb), dumpFile]);
  console.log(`pg_restore --data-only: ${result.steps.pgRestore.seconds.toFixed(2)} s`);
  if (!sameCounts(sourceCounts, await countRows(baselineDb))) result.notes.push('pg_restore row counts differ from the source');
  await admin(`DROP DATABASE "${baselineDb}" WITH (FORCE)`);

  // Reference only: a whole-database restore (schema + data, indexes and constraints built after
  // the data), the fastest thing pg_restore does, to put strata's index set-aside in context.
  const fullFile = join(dir, 'full.dump');
  await measure('pg_dump', ['-Fc', '-f', fullFile, '-d', urlFor(source)]);
  const fullDb = `${tag}_pgfull`;
  await createDatabase(fullDb);
  result.steps.pgRestoreFull = await measure('pg_restore', ['--exit-on-error', '-d', urlFor(fullDb), fullFile]);
  console.log(`pg_restore (schema + data, reference): ${result.steps.pgRestoreFull.seconds.toFixed(2)} s`);
  await admin(`DROP DATABASE "${fullDb}" WITH (FORCE)`);
  await rm(fullFile, { force: true });

  if (flags['skip-strata']) {
    result.strataSkipped = '--skip-strata';
    return result;
  }
  const mode = await strataMode();
  if (mode.skip) {
    result.strataSkipped = mode.skip;
    console.log(`strata half skipped: ${mode.skip}`);
    return result;
  }
  result.strataVia = mode.via === 'cli' ? 'the built CLI' : `the built library through test/bench/strata-api.js (${mode.why})`;
  console.log(`strata runs through ${result.strataVia}`);

  const cliEnv = { ...process.env, NO_COLOR: '1' };
  try {
    const snap = await measure(process.execPath, strataArgs(mode, 'snapshot', configPath), { cwd: dir, env: cliEnv });
    const { id } = snapshotId(snap.stdout);
    result.steps.strataSnapshot = snap;
    const snapshotsDir = join(dir, 'snapshots');
    if (existsSync(snapshotsDir)) snap.bytes = await dirBytes(snapshotsDir);
    console.log(`strata snapshot: ${snap.seconds.toFixed(2)} s (id ${id})`);

    const restoredDb = `${tag}_strata`;
    await waitForBuild();
    const load = await measure(process.execPath, strataArgs(mode, 'restore', configPath, id, restoredDb), { cwd: dir, env: cliEnv });
    result.steps.strataRestore = load;
    try {
      const report = parseJsonOutput(load.stdout);
      const tables = report.tables ?? report.result?.tables;
      if (Array.isArray(tables)) load.tableSeconds = tables.reduce((sum, t) => sum + (t.durationMs ?? 0), 0) / 1000;
    } catch {
      result.notes.push('strata restore --json output was not one JSON object; no breakdown');
    }
    console.log(`strata restore: ${load.seconds.toFixed(2)} s`);
    if (!sameCounts(sourceCounts, await countRows(restoredDb))) result.notes.push('strata restore row counts differ from the source');
    await admin(`DROP DATABASE "${restoredDb}" WITH (FORCE)`);
  } catch (error) {
    result.strataError = error.message;
    console.error(`strata half failed: ${error.message}`);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Report

const mb = (bytes) => {
  if (bytes == null) return 'n/a';
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MB`;
};
const secs = (s) => (s == null ? '—' : s.toFixed(2));
const check = (ok) => (ok ? 'ok' : 'MISSED');

const ratio = (s, base) => (s == null || base == null ? '' : `${(s / base).toFixed(2)}×`);

/** A strata row: time, ratio against its PostgreSQL baseline, peak RSS, and both targets checked. */
function strataRow(label, step, baseline, targetRatio, baselineName, output) {
  const rssTarget = `RSS ≤ ${mb(TARGETS.rssBytes)}`;
  if (!step) return [label, 'not run', '', '', output, `≤ ${targetRatio}× ${baselineName}; ${rssTarget}`];
  const rssCheck = step.maxRssBytes == null ? 'n/a' : check(step.maxRssBytes <= TARGETS.rssBytes);
  return [
    label,
    secs(step.seconds),
    ratio(step.seconds, baseline?.seconds),
    mb(step.maxRssBytes),
    output,
    `≤ ${targetRatio}× ${check(step.seconds / baseline.seconds <= targetRatio)}; ${rssTarget} ${rssCheck}`,
  ];
}

function printTable(result) {
  const { steps } = result;
  const rows = [];
  rows.push(['pg_dump --data-only -Fc', secs(steps.pgDump?.seconds), '1.00×', mb(steps.pgDump?.maxRssBytes), mb(steps.pgDump?.bytes), '']);
  const snap = steps.strataSnapshot;
  rows.push(strataRow('strata snapshot', snap, steps.pgDump, TARGETS.captureRatio, 'pg_dump', snap?.bytes != null ? mb(snap.bytes) : ''));
  rows.push(['pg_restore --data-only', secs(steps.pgRestore?.seconds), '1.00×', mb(steps.pgRestore?.maxRssBytes), '', '']);
  const load = steps.strataRestore;
  rows.push(strataRow('strata restore', load, steps.pgRestore, TARGETS.loadRatio, 'pg_restore', ''));
  if (load?.tableSeconds != null) {
    rows.push(['  of which table loads', secs(load.tableSeconds), ratio(load.tableSeconds, steps.pgRestore.seconds), '', '', '']);
    rows.push(['  rest (db, migrations, indexes, checks)', secs(load.seconds - load.tableSeconds), '', '', '', '']);
  }
  rows.push([
    'ref: pg_restore schema+data',
    secs(steps.pgRestoreFull?.seconds),
    '',
    mb(steps.pgRestoreFull?.maxRssBytes),
    '',
    load ? `strata restore = ${(load.seconds / steps.pgRestoreFull.seconds).toFixed(2)}× this` : '',
  ]);
  rows.push(['schema migration alone (knex)', secs(steps.migrate?.seconds), '', '', '', '']);

  const header = ['operation', 'seconds', 'vs pg', 'peak RSS', 'output', 'target'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 1 || i === 2 || i === 3 || i === 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  console.log(`\n${result.rows.toLocaleString('en-US')} rows, generated in ${secs(steps.generate?.seconds)} s`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  if (result.strataVia) console.log(`strata ran through ${result.strataVia}`);
  if (result.strataSkipped) console.log(`strata: not run (${result.strataSkipped})`);
  if (result.strataError) console.log(`strata: FAILED (${result.strataError.split('\n')[0]})`);
  for (const note of result.notes) console.log(`note: ${note}`);
}

function printRssAcrossSizes(results) {
  const measured = results.filter((r) => r.steps.strataSnapshot?.maxRssBytes != null && r.steps.strataRestore?.maxRssBytes != null);
  if (measured.length < 2) return;
  console.log('\npeak RSS of the strata process across sizes (target: within 20% of the smallest size)');
  const base = measured[0];
  for (const r of measured) {
    const parts = ['strataSnapshot', 'strataRestore'].map((key) => {
      const growth = r.steps[key].maxRssBytes / base.steps[key].maxRssBytes - 1;
      return `${key === 'strataSnapshot' ? 'snapshot' : 'restore'} ${mb(r.steps[key].maxRssBytes)} (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(0)}% ${check(growth <= TARGETS.rssGrowth)})`;
    });
    console.log(`  ${r.rows.toLocaleString('en-US').padStart(12)} rows: ${parts.join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------

let failed = false;
try {
  const version = (await admin('SHOW server_version')).rows[0].server_version;
  const pgDumpVersion = (await measure('pg_dump', ['--version'])).stdout.trim();
  console.log(`strata bench ${runId}: server PostgreSQL ${version}, ${pgDumpVersion}, node ${process.version}`);
  if (!canMeasureRss) console.log('note: /usr/bin/time not found; peak RSS is not measured');
  const results = [];
  for (const [index, rows] of sizes.entries()) {
    const result = await runSize(rows, index);
    results.push(result);
    if (result.strataError || result.notes.length) failed = true;
  }
  for (const result of results) printTable(result);
  printRssAcrossSizes(results);
} catch (error) {
  failed = true;
  console.error(`bench failed: ${error.message}`);
} finally {
  await cleanup();
}
process.exitCode = failed ? 1 : 0;
