// plugin-anonymize through the built CLI against PostgreSQL, on the example shop plus a `marketing`
// module whose tables carry the customers' e-mail addresses: one by foreign key (a key rule
// propagates to it), one without (the same rule masks it the same way). Proves what issue 4 asks:
// no original value of a masked column survives anywhere in an anonymized snapshot, joins on the
// masked key still join, unique columns stay unique through a restore, equal salts give equal
// bytes and another salt other values, bad rules fail before a row is read, `requireAnonymized`
// is enforced, `anonymize check` works as a CI gate and `anonymize preview` shows the masking.
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { allLocales } from '@faker-js/faker';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { seedShop } from '../../examples/shop/seed.js';
import { decodeRow } from '../../packages/core/src/format/copy-text.js';
import { describeRun, runStrata, type CliResult } from '../support/cli.js';
import { decompressBytes } from '../support/data-files.js';
import { createTestDatabase, databaseUrl, dropDatabase, type TestDatabase } from '../support/database.js';
import { SHOP_MIGRATIONS, SHOP_MODULES, databaseExists, expectUserError, listFiles, query, snapshotIdOf, tempDir } from './shop-fixture.js';

const SALT = 'anon-e2e-Salt-4c1f9a7e2b6d';
const OTHER_SALT = 'anon-e2e-Other-8e3b5d1c7a90';

/** The masked columns of the test config (the last two get theirs by key propagation and by rule). */
const MASKED: Record<string, string[]> = {
  customers: ['email', 'first_name', 'last_name', 'signup_ip'],
  newsletter_subscriptions: ['email'],
  email_events: ['recipient_email'],
};

const MARKETING_MIGRATION = `// Newsletter subscriptions reference customers by e-mail (a foreign key on a natural key); the
// e-mail log names recipients by address without a foreign key.
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE newsletter_subscriptions (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      email text NOT NULL REFERENCES customers (email) ON UPDATE CASCADE,
      topic text NOT NULL,
      UNIQUE (email, topic)
    )\`);
  await knex.raw(\`
    CREATE TABLE email_events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      recipient_email text NOT NULL,
      kind text NOT NULL,
      sent_at timestamptz NOT NULL
    )\`);
}
export async function down(knex) {
  await knex.raw('DROP TABLE email_events, newsletter_subscriptions');
}
`;

const PHONE_MIGRATION = `export async function up(knex) {
  await knex.raw('ALTER TABLE customers ADD COLUMN mobile_phone text');
}
export async function down(knex) {
  await knex.raw('ALTER TABLE customers DROP COLUMN mobile_phone');
}
`;

const RULES = {
  customers: { email: { email: { key: true } }, first_name: 'firstName', last_name: 'lastName', signup_ip: 'ip' },
  'public.email_events': { recipient_email: 'email' },
};

let source: TestDatabase;
let ciSource: TestDatabase;
let work: Awaited<ReturnType<typeof tempDir>>;
const databases: string[] = [];
const outputs: string[] = [];

/** Writes a config named `name` in the work folder: the shop's modules, marketing, and `anonymize`. */
async function writeConfig(name: string, anonymize: unknown, options: { marketing?: string; extraEnv?: Record<string, unknown> } = {}): Promise<string> {
  const config = {
    project: 'shop',
    modules: {
      ...Object.fromEntries(SHOP_MODULES.map((m) => [m, { migrations: path.join(SHOP_MIGRATIONS, m) }])),
      marketing: { migrations: options.marketing ?? path.join(work.path, 'marketing') },
    },
    environments: {
      dev: { database: '${SOURCE_DATABASE_URL}', storage: 'file://./snapshots' },
      staging: { database: '${SOURCE_DATABASE_URL}', storage: 'file://./staging-snapshots', requireAnonymized: true },
      ...options.extraEnv,
    },
    exclude: ['sessions'],
    ...(anonymize === undefined ? {} : { anonymize }),
  };
  const file = path.join(work.path, name);
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

function strata(args: string[], options: { config?: string; salt?: string | null } = {}): Promise<CliResult> {
  const salt = options.salt === undefined ? SALT : options.salt;
  return runStrata([...args, '--config', options.config ?? path.join(work.path, 'strata.config.json')], {
    cwd: work.path,
    env: {
      SOURCE_DATABASE_URL: source.url,
      CI_DATABASE_URL: ciSource?.url,
      STRATA_ANON_SALT: salt ?? undefined,
      STRATA_ENV: undefined,
    },
  }).then((result) => {
    outputs.push(result.stdout, result.stderr);
    return result;
  });
}

async function strataJson<T = any>(args: string[], options: { config?: string; salt?: string | null } = {}): Promise<T> {
  const result = await strata([...args, '--json'], options);
  expect(result.exitCode, `strata ${args.join(' ')}: ${describeRun(result)}`).toBe(0);
  return result.json<T>();
}

/** Rows as the text PostgreSQL's output functions print (what COPY writes): `t`, `192.0.2.10`. */
async function rawRows(url: string, sql: string): Promise<Array<Record<string, string | null>>> {
  const client = new pg.Client({ connectionString: url, types: { getTypeParser: () => (text: string) => text } });
  await client.connect();
  try {
    await client.query("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'");
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

/** A snapshot's files: the manifest, and each data file decompressed and decoded into rows by table. */
async function readSnapshot(dir: string): Promise<{ manifest: any; manifestText: string; files: string[]; tables: Record<string, Array<Record<string, string | null>>>; raw: Record<string, Buffer> }> {
  const manifestText = await readFile(path.join(dir, 'manifest.json'), 'utf8');
  const manifest = JSON.parse(manifestText);
  const files = await listFiles(dir);
  const tables: Record<string, Array<Record<string, string | null>>> = {};
  const raw: Record<string, Buffer> = {};
  for (const entry of manifest.tables) {
    const data = await decompressBytes(await readFile(path.join(dir, entry.file)), manifest.data.compression);
    raw[entry.name] = data;
    const columns: string[] = entry.columns.map((c: { name: string }) => c.name);
    tables[entry.name] = data
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => Object.fromEntries(decodeRow(line).map((v, i) => [columns[i]!, v])));
  }
  return { manifest, manifestText, files, tables, raw };
}

const snapshotDir = (id: string, env = 'dev'): string => path.join(work.path, env === 'dev' ? 'snapshots' : 'staging-snapshots', 'shop', env, id);

async function snapshotIds(env = 'dev'): Promise<string[]> {
  return readdir(path.join(work.path, env === 'dev' ? 'snapshots' : 'staging-snapshots', 'shop', env)).catch(() => []);
}

/** Restores `id` into a new database and returns its URL. */
async function restoreInto(id: string, extra: string[] = [], env = 'dev'): Promise<string> {
  const name = `strata_test_anon_r${databases.length}_${Date.now()}`;
  databases.push(name);
  const url = databaseUrl(inject('adminDatabaseUrl'), name);
  await strataJson(['restore', id, '--env', env, '--database', name, '--target-url', url, ...extra]);
  return url;
}

/** The join counts on the masked e-mail key. */
async function joinCounts(url: string): Promise<{ subscriptions: number; events: number }> {
  const [row] = await query<{ subscriptions: string; events: string }>(
    url,
    `SELECT (SELECT count(*) FROM customers c JOIN newsletter_subscriptions s ON s.email = c.email) AS subscriptions,
            (SELECT count(*) FROM customers c JOIN email_events e ON e.recipient_email = c.email) AS events`,
  );
  return { subscriptions: Number(row!.subscriptions), events: Number(row!.events) };
}

/** Sequential scans of a table so far, once the server's statistics show at least `atLeast` (or after `waitMs`). */
async function seqScans(table: string, atLeast = 0, waitMs = 0): Promise<number> {
  const started = Date.now();
  for (;;) {
    const [row] = await query<{ n: string }>(source.url, 'SELECT coalesce(seq_scan, 0) AS n FROM pg_stat_user_tables WHERE relname = $1', [table]);
    const n = Number(row?.n ?? 0);
    if (n >= atLeast && Date.now() - started >= waitMs) return n;
    if (Date.now() - started > 5000) return n;
    await new Promise((r) => setTimeout(r, 200));
  }
}

let originals: Record<string, Array<Record<string, string | null>>>;
/** The first anonymized snapshot (salt SALT, the full rules). */
let first: string;

beforeAll(async () => {
  source = await createTestDatabase('anon');
  ciSource = await createTestDatabase('anon_ci');
  work = await tempDir('strata-anon-');
  await mkdir(path.join(work.path, 'marketing'));
  await writeFile(path.join(work.path, 'marketing', '20240120090000_create_marketing.mjs'), MARKETING_MIGRATION);
  await writeConfig('strata.config.json', { salt: '${STRATA_ANON_SALT}', tables: RULES });
  await strataJson(['migrate', 'up']);
  await seedShop(source.url);
  // Subscriptions for every other customer (two topics for some), and an e-mail log with several
  // events per customer plus addresses of people who are not customers.
  await query(
    source.url,
    `INSERT INTO newsletter_subscriptions (email, topic)
       SELECT email, t FROM customers CROSS JOIN unnest(ARRAY['news', 'offers']) AS t
        WHERE id % 2 = 0 AND (t = 'news' OR id % 4 = 0)`,
  );
  await query(
    source.url,
    `INSERT INTO email_events (recipient_email, kind, sent_at)
       SELECT email, k, timestamptz '2024-02-01 10:00:00+00' + id * interval '1 hour'
         FROM customers CROSS JOIN unnest(ARRAY['welcome', 'receipt', 'reminder']) AS k WHERE id % 3 <> 0
       UNION ALL
       SELECT 'stranger' || i || '@example.org', 'welcome', timestamptz '2024-03-01 00:00:00+00' FROM generate_series(1, 3) AS i`,
  );
  originals = {
    customers: await rawRows(source.url, 'SELECT * FROM customers ORDER BY id'),
    newsletter_subscriptions: await rawRows(source.url, 'SELECT * FROM newsletter_subscriptions ORDER BY id'),
    email_events: await rawRows(source.url, 'SELECT * FROM email_events ORDER BY id'),
  };
});

afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
  await source?.drop();
  await ciSource?.drop();
  await work?.remove();
});

describe('strata snapshot --anonymize', () => {
  it('leaves no original value of a masked column anywhere in the snapshot', async () => {
    first = snapshotIdOf(await strataJson(['snapshot', '--anonymize']));
    const snap = await readSnapshot(snapshotDir(first));
    // Every file of the snapshot is the manifest or a data file it lists: nothing escapes the search.
    expect(snap.files.sort()).toEqual(
      [path.join(snapshotDir(first), 'manifest.json'), ...snap.manifest.tables.map((t: { file: string }) => path.join(snapshotDir(first), t.file))].sort(),
    );
    expect(snap.tables.customers).toHaveLength(originals.customers!.length);

    // Masked names are drawn from faker's pools, which hold some of the seed's own names (Allen,
    // Johnson…): such a name may come out as another customer's masked value. That is the only
    // way an original may show up, and only in a masked column of a row whose own value differs.
    const en = allLocales.en.person!;
    const pool = new Set([...Object.values(en.first_name as Record<string, string[]>).flat(), ...Object.values(en.last_name as Record<string, string[]>).flat()]);
    const sourceById = Object.fromEntries(Object.entries(originals).map(([t, rows]) => [t, new Map(rows.map((r) => [r.id, r]))]));
    const values = new Set<string>();
    for (const [table, columns] of Object.entries(MASKED)) {
      for (const row of originals[table]!) for (const c of columns) if (row[c]) values.add(row[c]!);
    }
    expect(values.size).toBeGreaterThan(60);

    const leaks: string[] = [];
    for (const [table, rows] of Object.entries(snap.tables)) {
      for (const row of rows) {
        for (const [column, field] of Object.entries(row)) {
          if (field === null) continue;
          for (const value of values) {
            const found = field === value || (value.length >= 4 && field.includes(value));
            if (!found) continue;
            const coincidence = MASKED[table]?.includes(column) && pool.has(field) && sourceById[table]?.get(row.id!)?.[column] !== value;
            if (!coincidence) leaks.push(`${table}.${column} (id ${row.id}) holds "${value}"`);
          }
        }
      }
    }
    for (const value of values) if (value.length >= 4 && snap.manifestText.includes(value)) leaks.push(`manifest.json holds "${value}"`);
    expect(leaks).toEqual([]);

    // And the masked columns really were rewritten, row by row.
    for (const [table, columns] of Object.entries(MASKED)) {
      for (const row of snap.tables[table]!) {
        const before = sourceById[table]!.get(row.id!)!;
        for (const c of columns) {
          if (before[c] === null) expect(row[c]).toBeNull();
          else expect(row[c], `${table}.${c} of id ${row.id}`).not.toBe(before[c]);
        }
      }
    }
    // Unmasked columns are untouched.
    expect(snap.tables.products).toEqual(sortById(await rawRows(source.url, 'SELECT * FROM products'), snap.tables.products!));
  });

  it('keeps joins on the masked key, and unique columns unique through a restore', async () => {
    const before = await joinCounts(source.url);
    expect(before.subscriptions).toBeGreaterThan(5);
    expect(before.events).toBeGreaterThan(20);

    const restored = await restoreInto(first);
    expect(await joinCounts(restored)).toEqual(before);
    // The restore rebuilt the unique constraints on the masked columns after the load: it
    // succeeded, so they hold; and every masked value is still distinct.
    const [counts] = await query(
      restored,
      `SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(DISTINCT email) FROM customers) AS emails,
              (SELECT count(*) FROM newsletter_subscriptions) AS subscriptions,
              (SELECT count(DISTINCT (email, topic)) FROM newsletter_subscriptions) AS pairs,
              (SELECT count(*) FROM pg_constraint WHERE conname IN ('customers_email_key', 'newsletter_subscriptions_email_topic_key') AND convalidated) AS constraints`,
    );
    expect(counts).toEqual({ customers: String(originals.customers!.length), emails: String(originals.customers!.length), subscriptions: String(originals.newsletter_subscriptions!.length), pairs: String(originals.newsletter_subscriptions!.length), constraints: '2' });
    // The addresses that joined before are gone, and the strangers stay strangers.
    const emails = await query<{ email: string }>(restored, 'SELECT email FROM customers');
    const sourceEmails = new Set(originals.customers!.map((r) => r.email));
    expect(emails.filter((r) => sourceEmails.has(r.email))).toEqual([]);
    const [strangers] = await query(restored, 'SELECT count(*) AS n FROM email_events e WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.email = e.recipient_email)');
    expect(strangers!.n).toBe('3');
  });

  it('gives byte-identical masked tables for the same salt, and other values for another salt', async () => {
    const again = snapshotIdOf(await strataJson(['snapshot', '--anonymize']));
    const other = snapshotIdOf(await strataJson(['snapshot', '--anonymize'], { salt: OTHER_SALT }));
    const [a, b, c] = await Promise.all([first, again, other].map((id) => readSnapshot(snapshotDir(id))));
    for (const table of Object.keys(MASKED)) {
      expect(a!.raw[table]!.length, table).toBeGreaterThan(0);
      expect(b!.raw[table]!.equals(a!.raw[table]!), `${table}: two runs with the same salt differ`).toBe(true);
      expect(c!.raw[table]!.equals(a!.raw[table]!), `${table}: another salt gave the same bytes`).toBe(false);
    }
    // Another salt changes every masked e-mail, and nothing else.
    const byId = new Map(a!.tables.customers!.map((r) => [r.id, r]));
    for (const row of c!.tables.customers!) {
      const mine = byId.get(row.id)!;
      expect(row.email).not.toBe(mine.email);
      for (const column of ['id', 'referred_by', 'tags', 'is_active', 'created_at', 'email_verified']) expect(row[column]).toBe(mine[column]);
    }
    const lastNames = c!.tables.customers!.filter((row) => row.last_name !== byId.get(row.id)!.last_name);
    expect(lastNames.length).toBeGreaterThan(originals.customers!.length / 2);
  });

  it('shows that the snapshot is anonymized, with rule names and never the salt', async () => {
    const shown = await strataJson(['show', first]);
    expect(shown.transformers).toHaveLength(1);
    expect(shown.transformers[0]).toMatchObject({ name: '@strata/plugin-anonymize', anonymizes: true });
    expect(shown.transformers[0].rulesHash).toMatch(/^[0-9a-f]{64}$/);
    expect(shown.transformers[0].rules).toMatchObject({
      'public.customers.email': 'email',
      'public.customers.first_name': 'firstName',
      'public.newsletter_subscriptions.email': 'email',
      'public.email_events.recipient_email': 'email',
    });
    const text = await strata(['show', first]);
    expect(text.exitCode, describeRun(text)).toBe(0);
    expect(text.stdout).toMatch(/^Anonymized\s+yes$/m);
    expect(text.stdout).toMatch(/^Transformer\s+@strata\/plugin-anonymize /m);
  });

  it('fails before reading any row on a rule for a missing column or an unknown transformer', async () => {
    const cases: Array<[string, unknown, string, RegExp]> = [
      ['missing-column.json', { ...RULES, customers: { ...RULES.customers, middle_name: 'firstName' } }, 'anonymize-unknown-column', /middle_name/],
      ['unknown-transformer.json', { ...RULES, customers: { ...RULES.customers, last_name: 'surname' } }, 'anonymize-unknown-transformer', /surname/],
    ];
    for (const [file, tables, code, names] of cases) {
      const config = await writeConfig(file, { salt: '${STRATA_ANON_SALT}', tables });
      const ids = await snapshotIds();
      const scans = await seqScans('customers');
      const result = await strata(['snapshot', '--anonymize'], { config });
      expect(result.exitCode, describeRun(result)).toBe(2);
      expect(expectUserError(result).message).toMatch(names);
      const json = expectUserError(await strata(['snapshot', '--anonymize', '--json'], { config }), { json: true });
      expect(json.code).toBe(code);
      expect(await snapshotIds()).toEqual(ids);
      // No COPY ran: the table was not scanned (the server's statistics would show it a moment later).
      expect(await seqScans('customers', 0, 1500)).toBe(scans);
    }
    // The control: a snapshot that does read shows up in those statistics.
    const scans = await seqScans('customers');
    await strataJson(['snapshot', '--anonymize']);
    expect(await seqScans('customers', scans + 1)).toBeGreaterThan(scans);
  });
});

describe('requireAnonymized', () => {
  it('refuses to restore a raw snapshot into the environment, and accepts it with --anonymize', async () => {
    const raw = snapshotIdOf(await strataJson(['snapshot', '--env', 'staging']));
    expect((await strataJson(['show', raw, '--env', 'staging'])).transformers).toEqual([]);

    const name = `strata_test_anon_refused_${Date.now()}`;
    databases.push(name);
    const args = ['restore', raw, '--env', 'staging', '--database', name, '--target-url', databaseUrl(inject('adminDatabaseUrl'), name)];
    const refused = await strata(args);
    expect(refused.exitCode, describeRun(refused)).toBe(2);
    expect(expectUserError(refused).message).toMatch(/accepts only anonymized data/);
    expect(expectUserError(await strata([...args, '--json']), { json: true }).code).toBe('anonymization-required');
    expect(await databaseExists(inject('adminDatabaseUrl'), name)).toBe(false);

    const restored = await restoreInto(raw, ['--anonymize'], 'staging');
    const emails = await query<{ email: string }>(restored, 'SELECT email FROM customers');
    const sourceEmails = new Set(originals.customers!.map((r) => r.email));
    expect(emails).toHaveLength(originals.customers!.length);
    expect(emails.filter((r) => sourceEmails.has(r.email))).toEqual([]);
    expect(await joinCounts(restored)).toEqual(await joinCounts(source.url));
  });
});

describe('strata anonymize check', () => {
  it('passes when every personal-looking column has a rule, without the salt', async () => {
    const report = await strataJson(['anonymize', 'check'], { salt: null });
    expect(report.ok).toBe(true);
    expect(report.unruled).toEqual([]);
    expect(report.ruleProblems).toEqual([]);
    expect(report.excluded).toEqual(['public.sessions']);
    const covered = Object.fromEntries(report.covered.map((c: { target: string; rule: string }) => [c.target, c.rule]));
    expect(covered).toEqual({
      'public.customers.email': 'email',
      'public.customers.first_name': 'firstName',
      'public.customers.last_name': 'lastName',
      'public.customers.signup_ip': 'ip',
      'public.newsletter_subscriptions.email': 'email',
      'public.email_events.recipient_email': 'email',
    });
    expect(report.covered.find((c: { target: string }) => c.target === 'public.newsletter_subscriptions.email').propagatedFrom).toBe('public.customers.email');
    const text = await strata(['anonymize', 'check'], { salt: null });
    expect(text.exitCode, describeRun(text)).toBe(0);
    expect(text.stdout).toContain('public.customers.signup_ip');
  });

  it('fails on a personal-looking column without a rule, and on a rule for a missing column', async () => {
    const { last_name: _dropped, ...withoutLastName } = RULES.customers;
    const gap = await writeConfig('check-gap.json', { salt: '${STRATA_ANON_SALT}', tables: { ...RULES, customers: withoutLastName } });
    const text = await strata(['anonymize', 'check'], { config: gap, salt: null });
    expect(text.exitCode, describeRun(text)).toBe(2);
    expect(expectUserError(text).message).toMatch(/personal-looking column has no rule \(public\.customers\.last_name\)/);
    expect(text.stdout).toMatch(/public\.customers\.last_name\s+text\s+name contains 'last_name'/);
    const json = await strata(['anonymize', 'check', '--json'], { config: gap, salt: null });
    expect(json.exitCode).toBe(2);
    const body = json.json();
    expect(body.error.code).toBe('anonymize-check-failed');
    expect(body.unruled).toEqual([expect.objectContaining({ table: 'public.customers', column: 'last_name', category: 'name', suggestion: 'lastName' })]);

    const stale = await writeConfig('check-stale.json', { salt: '${STRATA_ANON_SALT}', tables: { ...RULES, customers: { ...RULES.customers, full_name: 'fullName' } } });
    const staleJson = await strata(['anonymize', 'check', '--json'], { config: stale, salt: null });
    expect(staleJson.exitCode, describeRun(staleJson)).toBe(2);
    const staleBody = staleJson.json();
    expect(staleBody.unruled).toEqual([]);
    expect(staleBody.ruleProblems).toEqual([expect.objectContaining({ code: 'anonymize-unknown-column', message: expect.stringMatching(/full_name/) })]);
    expect(expectUserError(await strata(['anonymize', 'check'], { config: stale, salt: null })).message).toMatch(/1 rule does not fit the schema/);

    // Against a snapshot's columns: the same gap, read from the manifest.
    const fromSnapshot = await strata(['anonymize', 'check', '--snapshot', 'latest', '--json'], { config: gap, salt: null });
    expect(fromSnapshot.exitCode, describeRun(fromSnapshot)).toBe(2);
    expect(fromSnapshot.json().source.kind).toBe('snapshot');
    expect(fromSnapshot.json().unruled.map((u: { column: string; table: string }) => `${u.table}.${u.column}`)).toContain('public.customers.last_name');
  });

  it('fails when a migration adds a personal-looking column, and passes once it has a rule ("keep" included)', async () => {
    const marketing = path.join(work.path, 'marketing-ci');
    await mkdir(marketing);
    await writeFile(path.join(marketing, '20240120090000_create_marketing.mjs'), MARKETING_MIGRATION);
    await writeFile(path.join(marketing, '20240125090000_add_customer_mobile_phone.mjs'), PHONE_MIGRATION);
    const extraEnv = { ci: { database: '${CI_DATABASE_URL}', storage: 'file://./ci-snapshots' } };
    const before = await writeConfig('ci.json', { salt: '${STRATA_ANON_SALT}', tables: RULES }, { marketing, extraEnv });
    await strataJson(['migrate', 'up', '--env', 'ci'], { config: before });

    const failed = await strata(['anonymize', 'check', '--env', 'ci', '--json'], { config: before, salt: null });
    expect(failed.exitCode, describeRun(failed)).toBe(2);
    expect(failed.json().unruled).toEqual([expect.objectContaining({ table: 'public.customers', column: 'mobile_phone', category: 'phone' })]);

    for (const rule of ['phone', 'keep']) {
      const fixed = await writeConfig(`ci-${rule}.json`, { salt: '${STRATA_ANON_SALT}', tables: { ...RULES, customers: { ...RULES.customers, mobile_phone: rule } } }, { marketing, extraEnv });
      const report = await strataJson(['anonymize', 'check', '--env', 'ci'], { config: fixed, salt: null });
      expect(report.ok).toBe(true);
      expect(report.covered).toContainEqual(expect.objectContaining({ target: 'public.customers.mobile_phone', rule }));
    }
  });
});

describe('strata anonymize preview', () => {
  it('shows rows before and after masking, as a capture masks them', async () => {
    const preview = await strataJson(['anonymize', 'preview', 'customers', '--limit', '3']);
    expect(preview.table).toBe('public.customers');
    expect(preview.rows).toHaveLength(3);
    const snap = await readSnapshot(snapshotDir(first));
    const captured = new Map(snap.tables.customers!.map((r) => [r.id, r]));
    for (const row of preview.rows) {
      const original = originals.customers!.find((r) => r.id === row.before.id)!;
      expect(row.before).toEqual(original);
      expect(row.changed.sort()).toEqual(MASKED.customers!.filter((c) => original[c] !== null).sort());
      // The same salt and rules as the first snapshot: the preview shows what the capture wrote.
      expect(row.after).toEqual(captured.get(row.before.id));
    }

    const text = await strata(['anonymize', 'preview', 'customers', '--limit', '3']);
    expect(text.exitCode, describeRun(text)).toBe(0);
    expect(text.stderr).toMatch(/real data/i);
    for (const row of preview.rows) {
      expect(text.stdout).toContain(row.before.email);
      expect(text.stdout).toContain(row.after.email);
    }
    expect(text.stdout).toMatch(/first_name\s+\S+\s+\S+/);

    const unknown = await strata(['anonymize', 'preview', 'customer']);
    expect(unknown.exitCode).toBe(2);
    expect(expectUserError(unknown).hint).toMatch(/public\.customers/);
  });
});

it('no output of any run showed a salt', () => {
  const all = outputs.join('\n');
  expect(all).not.toContain(SALT);
  expect(all).not.toContain(OTHER_SALT);
});

/** `rows` in the order of `like` (by id), for comparing a table's source rows with a data file's. */
function sortById(rows: Array<Record<string, string | null>>, like: Array<Record<string, string | null>>): Array<Record<string, string | null>> {
  const byId = new Map(rows.map((r) => [r.id, r]));
  return like.map((r) => byId.get(r.id)!);
}
