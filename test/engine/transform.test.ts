// Core's transformer contract, with a transformer written here (the anonymize plugin has its own
// tests): rows change while they stream on capture and on restore, a truncated table is never
// read, the manifest records what was applied, rules are checked before any data is read, and an
// environment that requires anonymized data refuses a raw snapshot unless the restore masks it.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { SchemaInfo, TableInfo, Transformer } from '../../packages/core/src/index.js';
import { restore, showSnapshot, snapshot } from './engine-imports.js';
import { adminQuery, createTestDatabase, databaseUrl, dropDatabase, type TestDatabase } from '../support/database.js';
import { engineProject, readDataText, type EngineProject } from '../support/engine.js';
import pg from 'pg';

const SCHEMA = `
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE person (id serial PRIMARY KEY, email text NOT NULL UNIQUE, note text);
    CREATE TABLE login (id serial PRIMARY KEY, person_id integer NOT NULL REFERENCES person(id), token text);
    INSERT INTO person (email, note) SELECT 'p' || g || '@real.test', CASE WHEN g % 3 = 0 THEN NULL ELSE E'tab\\\\there ' || g END FROM generate_series(1, 500) g;
    INSERT INTO login (person_id, token) SELECT 1 + g % 500, md5(g::text) FROM generate_series(1, 2000) g;
  \`);
}
export async function down() {}
`;

/** Upper-cases `person.email`, truncates `login`; records what it was shown. */
function testTransformer(options: { anonymizes?: boolean; failOn?: string } = {}): Transformer & { seen?: SchemaInfo; tables: string[] } {
  const tables: string[] = [];
  const self: Transformer & { seen?: SchemaInfo; tables: string[] } = {
    name: 'test-transformer',
    version: '1.2.3',
    anonymizes: options.anonymizes ?? true,
    rulesHash: 'f'.repeat(64),
    rules: { 'public.person.email': 'upper', 'public.login': 'truncate' },
    tables,
    prepare(schema) {
      self.seen = schema;
      if (options.failOn && !schema.tables.some((t) => t.columns.some((c) => c.name === options.failOn))) {
        throw Object.assign(new Error(`No column ${options.failOn}.`), { code: 'rule-column-unknown', hint: 'Fix the rule.', exitCode: 2 });
      }
    },
    forTable(table: TableInfo) {
      tables.push(`${table.schema}.${table.name}`);
      if (table.name === 'login') return { kind: 'truncate' };
      if (table.name !== 'person') return undefined;
      const email = table.columns.findIndex((c) => c.name === 'email');
      return {
        kind: 'rows',
        transformRow: (values) => {
          values[email] = values[email]!.toUpperCase();
          return values;
        },
      };
    },
  };
  return self;
}

async function rowsOf(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

let source: TestDatabase;
let project: EngineProject;
const created: string[] = [];

beforeAll(async () => {
  source = await createTestDatabase('transform');
  project = await engineProject({ '20240101000000_schema.mjs': SCHEMA });
  await project.migrate(source.url);
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  await source?.drop();
});

function newDatabase(label: string): string {
  const name = `strata_test_tr_${label}_${Date.now()}`;
  created.push(name);
  return name;
}

describe('a transformer on capture', () => {
  it('changes rows while they stream, truncates a table, and is recorded in the manifest', async () => {
    const transformer = testTransformer();
    const taken = await snapshot({ ...project.context(source.url), transformer });

    // prepare saw the keys a masking plugin needs.
    const person = transformer.seen!.tables.find((t) => t.name === 'person')!;
    expect(person.primaryKey).toEqual(['id']);
    expect(person.unique).toEqual([['email']]);
    expect(person.columns.find((c) => c.name === 'note')?.nullable).toBe(true);
    expect(person.columns.find((c) => c.name === 'email')?.nullable).toBe(false);
    const login = transformer.seen!.tables.find((t) => t.name === 'login')!;
    expect(login.foreignKeys).toEqual([{ columns: ['person_id'], references: { schema: 'public', table: 'person', columns: ['id'] } }]);

    const manifest = await showSnapshot(project.context(source.url), taken.id);
    expect(manifest.transformers).toEqual([
      { name: 'test-transformer', version: '1.2.3', rulesHash: 'f'.repeat(64), anonymizes: true, rules: transformer.rules },
    ]);
    expect(manifest.tables.find((t) => t.name === 'login')?.rows).toBe(0);
    expect(manifest.tables.find((t) => t.name === 'person')?.rows).toBe(500);

    const dir = path.join(project.dir, 'snapshots', 'rt', 'test', taken.id, 'data');
    // zstd by default.
    expect((await readdir(dir)).sort()).toEqual(['public.login.copy.zst', 'public.person.copy.zst']);
    const personData = await readDataText(project, taken.id, 'person');
    expect(personData).not.toMatch(/@real\.test/);
    expect(personData).toMatch(/@REAL\.TEST/);
    // Escapes and NULLs survive the decode/encode round.
    expect(personData).toMatch(/tab\\there 1\n/);
    expect(personData).toMatch(/\t\\N\n/);

    const database = newDatabase('cap');
    await restore({ ...project.context(source.url), id: taken.id, database });
    const url = databaseUrl(source.url, database);
    expect(await rowsOf(url, "SELECT count(*)::int AS n FROM person WHERE email LIKE '%@REAL.TEST'")).toEqual([{ n: 500 }]);
    expect(await rowsOf(url, 'SELECT count(*)::int AS n FROM login')).toEqual([{ n: 0 }]);
    expect(await rowsOf(url, "SELECT note FROM person WHERE id = 1")).toEqual([{ note: 'tab\there 1' }]);
  });

  it('a rule the schema refutes fails before any data is written', async () => {
    const ctx = project.context(source.url);
    await expect(snapshot({ ...ctx, transformer: testTransformer({ failOn: 'no_such_column' }) })).rejects.toMatchObject({ code: 'rule-column-unknown' });
    const ids = await readdir(path.join(project.dir, 'snapshots', 'rt', 'test')).catch(() => []);
    for (const id of ids) {
      const manifest = await showSnapshot(ctx, id).catch(() => undefined);
      expect(manifest, `a folder without a manifest was left: ${id}`).toBeDefined();
    }
  });
});

describe('a transformer on restore', () => {
  it('masks a raw snapshot on its way in, and checks the file rows, not the loaded ones', async () => {
    const raw = await snapshot(project.context(source.url));
    const database = newDatabase('res');
    const report = await restore({ ...project.context(source.url), id: raw.id, database, transformer: testTransformer() });
    expect(report.tables.find((t) => t.table === 'public.login')?.rows).toBe(0);
    const url = databaseUrl(source.url, database);
    expect(await rowsOf(url, "SELECT count(*)::int AS n FROM person WHERE email LIKE '%@REAL.TEST'")).toEqual([{ n: 500 }]);
    expect(await rowsOf(url, 'SELECT count(*)::int AS n FROM login')).toEqual([{ n: 0 }]);
  });

  it("a transformer's own error while rows load comes out with its code and hint, even from another copy of the error class", async () => {
    const raw = await snapshot(project.context(source.url));
    const database = newDatabase('fail');
    const failing = testTransformer();
    const forTable = failing.forTable.bind(failing);
    failing.forTable = (table) => {
      const transform = forTable(table);
      if (transform?.kind !== 'rows') return transform;
      return {
        kind: 'rows',
        // The shape of a StrataError from a plugin's own copy of @strata/contracts: not core's class.
        transformRow: () => {
          throw Object.assign(new Error('The mask of person.email failed.'), { code: 'mask-failed', hint: 'Fix the rule.', exitCode: 2 });
        },
      };
    };
    await expect(restore({ ...project.context(source.url), id: raw.id, database, transformer: failing })).rejects.toMatchObject({
      code: 'mask-failed',
      message: 'The mask of person.email failed.',
      exitCode: 2,
    });
    expect(await rowsOf(source.adminUrl, `SELECT datname FROM pg_database WHERE datname = '${database}'`)).toEqual([]);
  });

  it('an environment that requires anonymized data refuses a raw snapshot unless the restore anonymizes it', async () => {
    const raw = await snapshot(project.context(source.url));
    const strict = project.context(source.url);
    strict.env = { ...strict.env, requireAnonymized: true };
    const before = await adminQuery<{ n: string }>("SELECT count(*) AS n FROM pg_database WHERE datname LIKE 'strata_tmp_%'");

    await expect(restore({ ...strict, id: raw.id, database: newDatabase('refused') })).rejects.toMatchObject({ code: 'anonymization-required' });
    await expect(restore({ ...strict, id: raw.id, database: newDatabase('refused2'), transformer: testTransformer({ anonymizes: false }) })).rejects.toMatchObject({
      code: 'anonymization-required',
    });
    const after = await adminQuery<{ n: string }>("SELECT count(*) AS n FROM pg_database WHERE datname LIKE 'strata_tmp_%'");
    expect(after.rows[0]?.n).toBe(before.rows[0]?.n);

    await restore({ ...strict, id: raw.id, database: newDatabase('masked'), transformer: testTransformer() });
    const masked = await snapshot({ ...project.context(source.url), transformer: testTransformer() });
    await restore({ ...strict, id: masked.id, database: newDatabase('premasked') });
  });

  it('does not apply the same rules twice to a snapshot captured with them', async () => {
    const masked = await snapshot({ ...project.context(source.url), transformer: testTransformer() });
    const again = testTransformer();
    const database = newDatabase('twice');
    const ctx = project.context(source.url);
    await restore({ ...ctx, id: masked.id, database, transformer: again });
    expect(again.tables).toEqual([]);
    expect(ctx.warnings).toEqual([]);
  });
});
