#!/usr/bin/env node
// strata benchmark: capture and load of a generated dataset, strata against pg_dump/pg_restore.
//
//   npm run bench                          # 1,000,000 rows
//   npm run bench -- --rows 200000
//   npm run bench -- --sizes 1000000,5000000   # also compares strata's peak RSS across sizes
//   npm run bench -- --big-table-gb 1          # also one ~1 GB table through S3 (peak RSS)
//
// After the plain file:// capture it also runs `strata snapshot --anonymize` with three masked
// columns on order_lines (unless --skip-anonymize), against the plain capture of the same run.
// Last, on the multi-tenant example (test/bench/scope.js, unless --skip-scope), it compares
// `strata snapshot --scope company=<one of 100>` with a full capture (--scope-rows, default 1M).
//
// strata runs on file:// and, against an s3rver the bench starts on 127.0.0.1, on s3:// (unless
// --skip-s3). Every database it makes is named strata_bench_<run id>…; all of them, the work
// directory and s3rver are gone at the end, on failure, and on SIGINT/SIGTERM. See docs/benchmarks.md.
import { randomBytes } from 'node:crypto';
import { mkdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ANONYMIZED_COLUMNS,
  BIG_TABLE,
  BIG_TABLE_DOWN,
  BIG_TABLE_UP,
  TABLES,
  anonymizeSection,
  bigTableRows,
  bigTableStatements,
  generateStatements,
  migrationSource,
  tableSizes,
} from './dataset.js';
import { countRowsAt, dirBytes, generateAt, migrateAt, query, relationBytesAt, sameCounts } from './db.js';
import { canMeasureRss, measure, stopChildren } from './measure.js';
import { mb, printBigTable, printRssAcrossSizes, printScope, printTable } from './report.js';
import { runScope } from './scope.js';
import { S3RVER_CREDENTIALS, S3RVER_REGION, createBucket, startS3rver } from './s3rver.js';
import { REPO, anonymizeMode, anonymizeSnapshotArgs, s3Mode, snapshotId, strataArgs, strataMode, tableLoadSeconds, waitForBuild } from './strata-cli.js';

const S3_BUCKET = 'strata-bench';
const MIGRATIONS_TABLE = 'knex_migrations_bench';

const { values: flags } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    sizes: { type: 'string' },
    'database-url': { type: 'string', default: process.env.STRATA_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
    'skip-strata': { type: 'boolean', default: false },
    'skip-s3': { type: 'boolean', default: false },
    'skip-anonymize': { type: 'boolean', default: false },
    'skip-variants': { type: 'boolean', default: false },
    'skip-scope': { type: 'boolean', default: false },
    'scope-rows': { type: 'string', default: '1000000' },
    'big-table-gb': { type: 'string' },
    via: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (flags.help) {
  console.log(
    'usage: node test/bench/bench.js [--rows N] [--sizes N,M,…] [--database-url postgres://…/postgres] [--skip-strata] [--skip-s3] [--skip-anonymize] [--skip-variants] [--skip-scope] [--scope-rows N] [--big-table-gb N] [--via api]',
  );
  process.exit(0);
}
const bigTableGb = flags['big-table-gb'] == null ? null : Number(flags['big-table-gb']);
if (bigTableGb != null && !(bigTableGb > 0 && bigTableGb <= 64)) {
  console.error('--big-table-gb takes a size in GB above 0 (at most 64), e.g. --big-table-gb 1');
  process.exit(2);
}
const sizes = (flags.sizes ?? flags.rows).split(',').map((s) => Number(s.replace(/[_,]/g, '').trim()));
if (sizes.some((n) => !Number.isInteger(n) || n < 10)) {
  console.error('--rows/--sizes take whole numbers of rows (at least 10), e.g. --sizes 1000000,5000000');
  process.exit(2);
}

const scopeRows = Number(flags['scope-rows'].replace(/[_,]/g, ''));
if (!Number.isInteger(scopeRows) || scopeRows < 100_000) {
  console.error('--scope-rows takes a whole number of rows, at least 100000 (100 companies), e.g. --scope-rows 1000000');
  process.exit(2);
}

const runId = randomBytes(3).toString('hex');
// This run's anonymize salt: only the bench app's config holds it.
const anonymizeSalt = randomBytes(16).toString('hex');
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

const admin = (sql, params) => query(adminUrl, sql, params);
const createDatabase = (name) => admin(`CREATE DATABASE "${name}"`);
const countRows = (database, tables = TABLES) => countRowsAt(urlFor(database), tables);
const migrate = (dir, database) => migrateAt(urlFor(database), join(dir, 'migrations'), MIGRATIONS_TABLE);
const generate = (database, statements) => generateAt(urlFor(database), statements);
/** This run's s3rver: a promise of `{ endpoint, directory, stop }`, or of `{ error }` when it did not start. */
let s3server;

let cleaning;
/**
 * Stops s3rver (deleting its directory), drops every database of this run (only names with this
 * run's id) and removes the work directory. Idempotent.
 */
function cleanup() {
  cleaning ??= (async () => {
    stopChildren();
    const s3 = await s3server;
    if (s3?.stop) await s3.stop().catch((error) => console.error(`cleanup: could not stop s3rver: ${error.message}`));
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

/**
 * Writes the tiny strata project whose one module creates the bench schema (`schema`: the
 * migration's up/down SQL, the four tables by default). Environment `bench` keeps its snapshots
 * in `file://./snapshots`; environment `s3`, written when this run's s3rver is up, has the same
 * database and keeps them in the bench bucket. With the default schema, the config also has the
 * `anonymize` section of the anonymized capture.
 */
async function writeBenchApp(dir, sourceDb, schema = {}) {
  await mkdir(join(dir, 'migrations'), { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'strata-bench-app', private: true, type: 'module' }, null, 2));
  await writeFile(join(dir, 'migrations', '20240101000000_bench_schema.js'), migrationSource(schema.up, schema.down));
  const environments = {
    bench: { database: urlFor(sourceDb), storage: 'file://./snapshots' },
    // Same data, gzip level 1 (the codec before 1.4), and zstd + age encryption: the ratios the
    // compression and encryption targets are judged by, measured in this run.
    gzip: { database: urlFor(sourceDb), storage: 'file://./snapshots-gzip', compression: { codec: 'gzip', level: 1 } },
    encrypted: { database: urlFor(sourceDb), storage: 'file://./snapshots-enc', encryption: await benchEncryption(dir) },
  };
  const s3 = await s3server;
  if (s3?.endpoint) {
    // Core hands every key but `url` to the storage plugin as its options.
    environments.s3 = {
      database: urlFor(sourceDb),
      storage: {
        url: `s3://${S3_BUCKET}/snapshots`,
        endpoint: s3.endpoint,
        region: S3RVER_REGION,
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
      },
    };
  }
  const config = {
    project: 'bench',
    modules: { bench: { migrations: './migrations', tableName: MIGRATIONS_TABLE } },
    environments,
    ...(schema.up === undefined ? { anonymize: anonymizeSection(anonymizeSalt) } : {}),
  };
  const configPath = join(dir, 'strata.config.json');
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
  return configPath;
}

/** An age key for the `encrypted` environment, in an identity file the config names (never argv). */
async function benchEncryption(dir) {
  const { generateX25519Identity, identityToRecipient } = await import('age-encryption');
  const identity = await generateX25519Identity();
  await writeFile(join(dir, 'bench-age.key'), `${identity}\n`, { mode: 0o600 });
  return { recipients: [await identityToRecipient(identity)], identities: './bench-age.key' };
}

/**
 * The gzip-1 and the encrypted (zstd-1 + age) round on file://, right after the plain (zstd-1)
 * one on the same data: ratios against it are printed and kept as `result.ratios`.
 */
async function runCodecVariants(result, { mode, configPath, dir, tag, sourceCounts }) {
  if (flags['skip-variants']) return;
  for (const [envName, label, keys] of [
    ['gzip', ' (gzip-1)', ['gzipSnapshot', 'gzipRestore']],
    ['encrypted', ' (zstd-1 + age)', ['encSnapshot', 'encRestore']],
  ]) {
    try {
      await snapshotAndRestore(result, { label, keys, mode, envName, configPath, dir, restoredDb: `${tag}_${envName}`, sourceCounts, bytesOf: bytesUnder(join(dir, envName === 'gzip' ? 'snapshots-gzip' : 'snapshots-enc')) });
    } catch (error) {
      result.notes.push(`strata${label} failed: ${error.message}`);
    }
  }
  const { strataSnapshot: plainSnap, strataRestore: plainRestore, gzipSnapshot, gzipRestore, encSnapshot, encRestore } = result.steps;
  const ratio = (a, b) => (a && b ? a / b : undefined);
  result.ratios = {
    encryptedCaptureVsPlain: ratio(encSnapshot?.seconds, plainSnap?.seconds),
    encryptedRestoreVsPlain: ratio(encRestore?.seconds, plainRestore?.seconds),
    zstdCaptureVsGzip: ratio(plainSnap?.seconds, gzipSnapshot?.seconds),
    zstdRestoreVsGzip: ratio(plainRestore?.seconds, gzipRestore?.seconds),
    zstdSizeVsGzip: ratio(plainSnap?.bytes, gzipSnapshot?.bytes),
  };
  const f = (x) => (x === undefined ? 'n/a' : `${x.toFixed(2)}×`);
  console.log(
    `encrypted vs plain (target ≤ 1.15×): capture ${f(result.ratios.encryptedCaptureVsPlain)}, restore ${f(result.ratios.encryptedRestoreVsPlain)}; ` +
      `zstd-1 vs gzip-1 (target ≤ 1×): capture ${f(result.ratios.zstdCaptureVsGzip)}, restore ${f(result.ratios.zstdRestoreVsGzip)}, size ${f(result.ratios.zstdSizeVsGzip)}`,
  );
}

/**
 * strata snapshot, then strata restore of that snapshot into `restoredDb`, both timed, on
 * environment `envName`; each step goes into `result.steps[keys[i]]` as soon as it is done, with
 * seconds, maxRssBytes, and for the snapshot its size (growth of `bytesOf()`, the storage's size).
 * The restored database's row counts are compared with `sourceCounts` (a mismatch is a note named
 * after `label`), then it is dropped. With `serverCpu` (the storage server's CPU seconds so far),
 * each step also records the server's CPU time during it as `serverCpuSeconds`.
 */
async function snapshotAndRestore(result, { label, keys, mode, envName, configPath, dir, restoredDb, sourceCounts, bytesOf, serverCpu }) {
  const cliEnv = { ...process.env, NO_COLOR: '1' };
  const run = async (args) => {
    const cpuBefore = await serverCpu?.();
    const step = await measure(process.execPath, args, { cwd: dir, env: cliEnv });
    const cpuAfter = await serverCpu?.();
    if (cpuBefore != null && cpuAfter != null) step.serverCpuSeconds = cpuAfter - cpuBefore;
    return step;
  };
  const cpu = (step) =>
    step.cpuSeconds == null ? '' : `, CPU ${step.cpuSeconds.toFixed(1)} s${step.serverCpuSeconds == null ? '' : ` + s3rver ${step.serverCpuSeconds.toFixed(1)} s`}`;

  const before = await bytesOf();
  const snapshot = await run(strataArgs(mode, 'snapshot', configPath, envName));
  const { id } = snapshotId(snapshot.stdout);
  snapshot.bytes = (await bytesOf()) - before;
  result.steps[keys[0]] = snapshot;
  console.log(`strata snapshot${label}: ${snapshot.seconds.toFixed(2)} s (id ${id}), peak RSS ${mb(snapshot.maxRssBytes)}${cpu(snapshot)}`);

  await waitForBuild();
  const restore = await run(strataArgs(mode, 'restore', configPath, envName, id, restoredDb));
  result.steps[keys[1]] = restore;
  try {
    restore.tableSeconds = tableLoadSeconds(restore.stdout);
  } catch {
    result.notes.push(`strata restore${label} --json output was not one JSON object; no breakdown`);
  }
  console.log(`strata restore${label}: ${restore.seconds.toFixed(2)} s, peak RSS ${mb(restore.maxRssBytes)}${cpu(restore)}`);
  if (!sameCounts(sourceCounts, await countRows(restoredDb, Object.keys(sourceCounts)))) {
    result.notes.push(`strata restore${label} row counts differ from the source`);
  }
  await admin(`DROP DATABASE "${restoredDb}" WITH (FORCE)`);
}

/** Sizes the storage under `path` (0 before the first snapshot). */
const bytesUnder = (path) => () => dirBytes(path);

/**
 * The S3 half of a round: the same snapshot and restore as on file://, on the `s3` environment.
 * Fills `result.steps.s3Snapshot`/`s3Restore`, or `result.s3Skipped`/`s3Error`.
 */
async function runS3(result, { mode, configPath, dir, restoredDb, sourceCounts }) {
  if (result.s3Skipped) return;
  try {
    const s3 = await s3Mode(mode, await s3server, configPath, dir);
    if (s3.skip) {
      result.s3Skipped = s3.skip;
      console.log(`S3 part skipped: ${s3.skip}`);
      return;
    }
    const { directory, cpuSeconds } = await s3server;
    await snapshotAndRestore(result, {
      label: ' (s3)',
      keys: ['s3Snapshot', 's3Restore'],
      mode,
      envName: 's3',
      configPath,
      dir,
      restoredDb,
      sourceCounts,
      bytesOf: bytesUnder(directory),
      serverCpu: cpuSeconds,
    });
  } catch (error) {
    result.s3Error = error.message;
    console.error(`S3 part failed: ${error.message}`);
  }
}

/**
 * `strata snapshot --anonymize` on file://, three masked columns of order_lines, timed like the
 * plain capture it is compared with. Checks what it wrote: every table with the source's row
 * count, and a manifest that records the three rules. Fills `result.steps.anonSnapshot`, or
 * `result.anonSkipped`/`anonError`.
 */
async function runAnonymized(result, { mode, configPath, dir, sourceCounts }) {
  if (flags['skip-anonymize']) {
    result.anonSkipped = '--skip-anonymize';
    return;
  }
  const ready = await anonymizeMode(mode);
  if (ready.skip) {
    result.anonSkipped = ready.skip;
    console.log(`anonymized capture skipped: ${ready.skip}`);
    return;
  }
  try {
    const storage = join(dir, 'snapshots');
    const before = await dirBytes(storage);
    const step = await measure(process.execPath, anonymizeSnapshotArgs(configPath, 'bench'), { cwd: dir, env: { ...process.env, NO_COLOR: '1' } });
    step.bytes = (await dirBytes(storage)) - before;
    const { id, value } = snapshotId(step.stdout);
    const manifest = value.manifest ?? value;
    const rules = manifest.transformers?.[0]?.rules ?? {};
    const counts = Object.fromEntries((manifest.tables ?? []).map((t) => [t.name, t.rows]));
    if (!ANONYMIZED_COLUMNS.every((c) => rules[c] !== undefined) || manifest.transformers?.[0]?.anonymizes !== true) {
      result.notes.push(`strata snapshot --anonymize: the manifest does not record the three rules (${JSON.stringify(rules)})`);
    }
    if (!sameCounts(sourceCounts, counts)) result.notes.push('strata snapshot --anonymize row counts differ from the source');
    result.steps.anonSnapshot = step;
    const ratio = result.steps.strataSnapshot ? ` (${(step.seconds / result.steps.strataSnapshot.seconds).toFixed(2)}× the plain capture)` : '';
    console.log(`strata snapshot --anonymize: ${step.seconds.toFixed(2)} s${ratio} (id ${id}), peak RSS ${mb(step.maxRssBytes)}${step.cpuSeconds == null ? '' : `, CPU ${step.cpuSeconds.toFixed(1)} s`}`);
  } catch (error) {
    result.anonError = error.message;
    console.error(`anonymized capture failed: ${error.message}`);
  }
}

/** One full round at one size; returns the rows of the result table. */
async function runSize(rows, index) {
  const tag = `${prefix}_${index}`;
  const dir = join(workRoot, String(rows));
  await mkdir(dir, { recursive: true });
  const counts = tableSizes(rows);
  const source = `${tag}_src`;
  const result = { rows, counts, steps: {}, notes: [] };
  if (flags['skip-s3']) result.s3Skipped = '--skip-s3';

  console.log(`\n== ${rows.toLocaleString('en-US')} rows (${TABLES.map((t) => `${t} ${counts[t].toLocaleString('en-US')}`).join(', ')})`);
  const configPath = await writeBenchApp(dir, source);

  await createDatabase(source);
  result.steps.migrate = { seconds: await migrate(dir, source) };
  console.log(`schema migration (knex, 1 migration): ${result.steps.migrate.seconds.toFixed(2)} s`);
  result.steps.generate = { seconds: await generate(source, generateStatements(counts)) };
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
    result.s3Skipped ??= '--skip-strata';
    result.anonSkipped ??= '--skip-strata';
    return result;
  }
  const mode = await strataMode(flags.via);
  if (mode.skip) {
    result.strataSkipped = mode.skip;
    result.s3Skipped ??= mode.skip;
    result.anonSkipped ??= mode.skip;
    console.log(`strata half skipped: ${mode.skip}`);
    return result;
  }
  result.strataVia = mode.via === 'cli' ? 'the built CLI' : `the built library through test/bench/strata-api.js (${mode.why})`;
  console.log(`strata runs through ${result.strataVia}`);

  await runFileStrata(result, { label: '', mode, configPath, dir, restoredDb: `${tag}_strata`, sourceCounts });
  await runCodecVariants(result, { mode, configPath, dir, tag, sourceCounts });
  await runAnonymized(result, { mode, configPath, dir, sourceCounts });
  await runS3(result, { mode, configPath, dir, restoredDb: `${tag}_strata_s3`, sourceCounts });
  return result;
}

/** strata snapshot and restore on file://, the reference the S3 and anonymized steps compare with; a failure is recorded, not thrown. */
async function runFileStrata(result, { label, mode, configPath, dir, restoredDb, sourceCounts }) {
  try {
    await snapshotAndRestore(result, {
      label,
      keys: ['strataSnapshot', 'strataRestore'],
      mode,
      envName: 'bench',
      configPath,
      dir,
      restoredDb,
      sourceCounts,
      bytesOf: bytesUnder(join(dir, 'snapshots')),
    });
  } catch (error) {
    result.strataError = error.message;
    console.error(`strata${label} failed: ${error.message}`);
  }
}

/**
 * `--big-table-gb N`: a database with one table of about N GB, captured and restored by strata on
 * file:// (the reference for the ratios) and then through S3, to show that peak RSS does not follow
 * the size of a table. Runs whatever --skip-s3 says (it is an S3 measurement); drops everything.
 */
async function runBigTable(gb) {
  const dir = join(workRoot, `big-${gb}gb`);
  const source = `${prefix}_big_src`;
  const rows = bigTableRows(gb);
  const result = { rows, steps: {}, notes: [] };
  console.log(`\n== big table: ${BIG_TABLE}, ${rows.toLocaleString('en-US')} rows of 1 kB text (about ${gb} GB)`);
  const configPath = await writeBenchApp(dir, source, { up: BIG_TABLE_UP, down: BIG_TABLE_DOWN });
  await createDatabase(source);
  try {
    await migrate(dir, source);
    result.steps.generate = { seconds: await generate(source, bigTableStatements(rows)) };
    result.tableBytes = await relationBytesAt(urlFor(source), BIG_TABLE);
    console.log(`generated in ${result.steps.generate.seconds.toFixed(1)} s; pg_total_relation_size(${BIG_TABLE}) = ${mb(result.tableBytes)}`);
    const sourceCounts = await countRows(source, [BIG_TABLE]);

    if (flags['skip-strata']) {
      result.strataSkipped = '--skip-strata';
      return result;
    }
    const mode = await strataMode(flags.via);
    if (mode.skip) {
      result.strataSkipped = mode.skip;
      return result;
    }
    await runFileStrata(result, { label: ' (file://)', mode, configPath, dir, restoredDb: `${prefix}_big_strata`, sourceCounts });
    await rm(join(dir, 'snapshots'), { recursive: true, force: true }); // disk: the S3 copy comes next
    await runS3(result, { mode, configPath, dir, restoredDb: `${prefix}_big_strata_s3`, sourceCounts });
    return result;
  } finally {
    await admin(`DROP DATABASE IF EXISTS "${source}" WITH (FORCE)`);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Starts this run's s3rver and creates the bench bucket; resolves `{ error }` instead of throwing. */
async function startBenchS3() {
  let server;
  try {
    server = await startS3rver(join(workRoot, 's3rver'));
    await createBucket(server.endpoint, S3_BUCKET);
    console.log(`s3rver on ${server.endpoint} (pid ${server.pid}), bucket ${S3_BUCKET}`);
    return server;
  } catch (error) {
    await server?.stop();
    console.error(`s3rver: ${error.message}`);
    return { error: error.message };
  }
}

// ---------------------------------------------------------------------------------------------

let failed = false;
try {
  const version = (await admin('SHOW server_version')).rows[0].server_version;
  const pgDumpVersion = (await measure('pg_dump', ['--version'])).stdout.trim();
  console.log(`strata bench ${runId}: server PostgreSQL ${version}, ${pgDumpVersion}, node ${process.version}`);
  if (!canMeasureRss) console.log('note: /usr/bin/time not found; peak RSS is not measured');
  // One s3rver for the whole run, started before any config is written (they name its port).
  // (Not with --via api: the S3 part runs through the CLI only.)
  if (!flags['skip-strata'] && flags.via !== 'api' && (!flags['skip-s3'] || bigTableGb != null)) s3server = startBenchS3();
  const results = [];
  for (const [index, rows] of sizes.entries()) {
    const result = await runSize(rows, index);
    results.push(result);
    if (result.strataError || result.s3Error || result.anonError || result.notes.length) failed = true;
  }
  const big = bigTableGb == null ? null : await runBigTable(bigTableGb);
  if (big && (big.strataError || big.s3Error || big.notes.length)) failed = true;
  const scoped = flags['skip-scope'] || flags['skip-strata'] ? null : await runScope({ prefix, workRoot, adminUrl, rows: scopeRows, via: flags.via });
  if (scoped && (scoped.error || scoped.notes.length)) failed = true;
  for (const result of results) printTable(result);
  printRssAcrossSizes(results);
  if (big) printBigTable(big);
  if (scoped) printScope(scoped);
} catch (error) {
  failed = true;
  console.error(`bench failed: ${error.message}`);
} finally {
  await cleanup();
}
process.exitCode = failed ? 1 : 0;
