#!/usr/bin/env node
// The strata demo, end to end with the built CLI (`npm run demo` at the repository root builds it
// first):
//
//   1. create a fresh database and migrate the shop to an EARLY point of its history, when
//      customers still had `full_name`, products a `title` and orders no `total_cents`;
//   2. seed it and take a snapshot;
//   3. restore that snapshot into another new database with TODAY's migrations: strata migrates to
//      the snapshot's point, loads the data, then runs the remaining migrations, so the data
//      migrations split the names, the rename keeps the titles and the backfill fills the totals.
//
// Where: with DATABASE_URL set, on that PostgreSQL server (the demo only creates and drops its own
// `shop_demo_*` databases); without it, in an embedded PostgreSQL (PGlite) in a temporary folder,
// so nothing but Node is needed. Snapshots go to a temporary folder. Everything the demo creates
// is removed at the end, even when a step fails.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { driverFor } from '@strata/core';

import { seedShop } from '../seed.js';

const shopDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = path.resolve(shopDir, '../..');
const cli = path.join(repoRoot, 'packages/core/bin/run.js');
const config = path.join(shopDir, 'strata.config.ts');
const EARLY_POINT = 'orders:20240102090000_create_orders';

const serverUrl = process.env.DATABASE_URL;
const suffix = randomBytes(3).toString('hex');
const sourceDb = `shop_demo_${suffix}`;
const restoredDb = `shop_demo_${suffix}_restored`;

/**
 * Where the demo's databases live: a PostgreSQL server (DATABASE_URL), or PGlite directories in
 * the demo's temporary folder. `urlFor` gives a database's URL (credentials kept, never printed).
 */
function placeFor(workDir) {
  if (!serverUrl) {
    return {
      label: `an embedded PostgreSQL (PGlite) in ${workDir}`,
      urlFor: (database) => `pglite://${path.join(workDir, database)}`,
      create: async () => {},
      drop: async () => {},
    };
  }
  const urlFor = (database) => {
    const url = new URL(serverUrl);
    url.pathname = `/${database}`;
    return url.toString();
  };
  const admin = urlFor(new URL(serverUrl).pathname.replace(/^\//, '') || 'postgres');
  return {
    label: redact(admin),
    urlFor,
    create: (database) => query(admin, `CREATE DATABASE "${database}"`),
    drop: (database) => query(admin, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`),
  };
}

/** The URL with its password masked, for printing. */
function redact(url) {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

/** Runs `sql` through strata's own driver for the URL (a server or PGlite) and returns the rows. */
async function query(url, sql, params = []) {
  const session = await driverFor(url).connect(url);
  try {
    return (await session.query(sql, params)).rows;
  } finally {
    await session.close();
  }
}

/** Seeds the shop through one session of strata's driver (seedShop takes anything with `query`). */
async function seed(url) {
  const session = await driverFor(url).connect(url);
  try {
    return await seedShop(session);
  } finally {
    await session.close();
  }
}

let stepNumber = 0;
function step(text) {
  stepNumber += 1;
  const bold = process.stdout.isTTY ? (t) => `\x1b[1m${t}\x1b[0m` : (t) => t;
  console.log(`\n${bold(`${stepNumber}. ${text}`)}`);
}

/** Runs the built strata CLI with `--json` and returns the parsed output; throws on failure. */
function strata(args, env) {
  const shown = ['strata', ...args].join(' ');
  console.log(`   $ ${shown}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args, '--config', config, '--json'], {
      cwd: shopDir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      let parsed;
      try {
        parsed = JSON.parse(stdout);
      } catch {
        parsed = undefined;
      }
      if (code === 0 && parsed !== undefined) return resolve(parsed);
      const detail = parsed?.error ? `${parsed.error.message}${parsed.error.hint ? ` (${parsed.error.hint})` : ''}` : (stderr || stdout).trim();
      reject(new Error(`\`${shown}\` failed (exit ${code}): ${detail}`));
    });
  });
}

function table(rows) {
  if (rows.length === 0) return console.log('   (no rows)');
  const columns = Object.keys(rows[0]);
  const cell = (v) => (v === null ? 'NULL' : Array.isArray(v) ? `{${v.join(',')}}` : String(v)).replace(/\n/g, '\\n');
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values) => `   | ${values.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(columns));
  console.log(`   |${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(columns.map((c) => cell(row[c]))));
}

async function main() {
  const snapshotDir = await mkdtemp(path.join(os.tmpdir(), 'strata-demo-'));
  const place = placeFor(snapshotDir);
  const { urlFor } = place;
  const created = [];
  try {
    step(`Create a fresh database ${sourceDb} in ${place.label}`);
    await place.create(sourceDb);
    created.push(sourceDb);
    const env = { DATABASE_URL: urlFor(sourceDb), STRATA_SNAPSHOT_DIR: snapshotDir };

    step(`Migrate it to an early point of the shop's history (${EARLY_POINT})`);
    const applied = await strata(['migrate', 'up', '--to', EARLY_POINT], env);
    for (const ref of Array.isArray(applied) ? applied : (applied.applied ?? applied.migrations ?? [])) {
      console.log(`   applied ${typeof ref === 'string' ? ref : `${ref.module}:${ref.name}`}`);
    }

    step('Seed it with the data the app had at that time');
    const counts = await seed(env.DATABASE_URL);
    console.log(`   ${Object.entries(counts).map(([t, n]) => `${n} ${t}`).join(', ')}`);
    const beforeCustomers = await query(env.DATABASE_URL, 'SELECT id, full_name, email FROM customers ORDER BY id LIMIT 5');
    const beforeProducts = await query(env.DATABASE_URL, 'SELECT id, title, price FROM products ORDER BY id LIMIT 3');
    const beforeOrders = await query(
      env.DATABASE_URL,
      'SELECT o.id, o.status, count(l.id)::int AS lines, coalesce(sum(l.line_total), 0) AS lines_total FROM orders o LEFT JOIN order_lines l ON l.order_id = o.id GROUP BY o.id ORDER BY o.id LIMIT 3',
    );

    step(`Take a snapshot (files under ${snapshotDir})`);
    const snapshot = await strata(['snapshot', '--description', 'demo: the shop in its early days', '--tag', 'demo'], env);
    const id = snapshot.id ?? snapshot.manifest?.id;
    console.log(`   snapshot ${id}: ${snapshot.manifest?.tables?.length ?? '?'} tables`);
    if (snapshot.manifest?.modules) {
      for (const [module, entry] of Object.entries(snapshot.manifest.modules)) console.log(`   ${module} was at ${entry.last ?? '(nothing)'}`);
    }

    step(`Restore it with today's migrations into a new database ${restoredDb}`);
    created.push(restoredDb);
    const report = await strata(['restore', id, '--target-url', urlFor(restoredDb)], env);
    const plan = report.plan ?? {};
    console.log(`   migrated the new database to the snapshot's point: ${(plan.migrationsBefore ?? []).length} migrations`);
    for (const t of report.tables ?? []) console.log(`   loaded ${t.table}: ${t.rows} rows (triggers off)`);
    console.log('   then ran the migrations the snapshot did not have:');
    for (const name of plan.migrationsAfter ?? []) console.log(`     ${name}`);
    if (report.sequencesReset !== undefined) console.log(`   sequences reset: ${report.sequencesReset}`);
    for (const warning of report.warnings ?? []) console.log(`   warning: ${warning}`);

    const restoredUrl = urlFor(restoredDb);
    step('Before and after: customers (full_name split into first_name + last_name, e-mails lower-cased)');
    console.log('   before:');
    table(beforeCustomers);
    console.log('   after:');
    table(await query(restoredUrl, 'SELECT id, first_name, last_name, email, email_verified FROM customers ORDER BY id LIMIT 5'));

    step('Before and after: products (title renamed to name, tags moved from attributes to a column)');
    console.log('   before:');
    table(beforeProducts);
    console.log('   after:');
    table(await query(restoredUrl, 'SELECT id, name, price, tags FROM products ORDER BY id LIMIT 3'));

    step('Before and after: orders (total_cents backfilled from the lines, currency backfilled)');
    console.log('   before:');
    table(beforeOrders);
    console.log('   after:');
    table(await query(restoredUrl, 'SELECT id, status, total_cents, currency FROM orders ORDER BY id LIMIT 3'));

    const audit = await query(restoredUrl, 'SELECT count(*)::int AS n FROM order_audit');
    console.log(`\n   order_audit holds ${audit[0].n} rows: the loaded orders were not recorded by the audit trigger.`);
    const fresh = await query(
      restoredUrl,
      `INSERT INTO customers (email, first_name, last_name) VALUES ('new@example.com', 'New', 'Customer') RETURNING id`,
    );
    console.log(`   A new customer after the restore gets a fresh id: ${fresh[0].id}.`);
    console.log('\nDone: an old snapshot restored into the current schema, transformed by the data migrations.');
  } finally {
    for (const database of [...created].reverse()) {
      await place.drop(database).catch((error) => {
        console.error(`Could not drop ${database}: ${error.message}`);
      });
    }
    // PGlite databases are directories in this folder: removing it removes them.
    await rm(snapshotDir, { recursive: true, force: true });
    console.log(`\nCleaned up: ${serverUrl ? `dropped ${created.join(' and ') || 'nothing'}, ` : ''}removed ${snapshotDir}.`);
  }
}

main().catch((error) => {
  console.error(`\nThe demo failed: ${error.message}`);
  process.exitCode = 1;
});
