import type { RowValues, SchemaInfo, TableInfo, TableTransform } from '@strata/contracts';
import { isTransformer } from '@strata/contracts';
import { describe, expect, it } from 'vitest';

import { AnonymizeError } from './anonymize-error.js';
import { parseAnonymizeConfig } from './anonymize-config.js';
import { createAnonymizer } from './anonymizer.js';
import { transformerHook } from './hooks/transformer.js';
import { PLUGIN_VERSION } from './plugin-info.js';

const SALT = 'a-long-test-salt-0123456789';

const person: TableInfo = {
  schema: 'public',
  name: 'person',
  columns: [
    { name: 'id', type: 'uuid', nullable: false },
    { name: 'email', type: 'character varying(255)', nullable: false },
    { name: 'full_name', type: 'text', nullable: true },
    { name: 'phone', type: 'text', nullable: true },
    { name: 'born', type: 'date', nullable: true },
    { name: 'age', type: 'integer', nullable: true },
    { name: 'notes', type: 'text', nullable: true },
    { name: 'prefs', type: 'jsonb', nullable: true },
    { name: 'login', type: 'character varying(12)', nullable: true },
  ],
  primaryKey: ['id'],
  unique: [['email']],
  foreignKeys: [],
};
const orders: TableInfo = {
  schema: 'shop',
  name: 'orders',
  columns: [
    { name: 'id', type: 'bigint', nullable: false },
    { name: 'person_id', type: 'uuid', nullable: true },
    { name: 'total', type: 'numeric(12,2)', nullable: false },
  ],
  primaryKey: ['id'],
  unique: [],
  foreignKeys: [{ columns: ['person_id'], references: { schema: 'public', table: 'person', columns: ['id'] } }],
};
const shipments: TableInfo = {
  schema: 'shop',
  name: 'shipments',
  columns: [
    { name: 'order_person', type: 'uuid', nullable: true },
    { name: 'note', type: 'text', nullable: true },
  ],
  primaryKey: [],
  unique: [],
  foreignKeys: [{ columns: ['order_person'], references: { schema: 'public', table: 'person', columns: ['id'] } }],
};
const sessions: TableInfo = { schema: 'public', name: 'sessions', columns: [{ name: 'token', type: 'text', nullable: false }], primaryKey: [], unique: [], foreignKeys: [] };
const schema: SchemaInfo = { tables: [person, orders, shipments, sessions] };

function anonymizer(tables: Record<string, unknown>, salt = SALT) {
  return createAnonymizer(parseAnonymizeConfig({ salt, tables }));
}

function prepareError(tables: Record<string, unknown>): AnonymizeError {
  try {
    anonymizer(tables).prepare(schema);
  } catch (error) {
    expect(error).toBeInstanceOf(AnonymizeError);
    expect((error as AnonymizeError).exitCode).toBe(2);
    return error as AnonymizeError;
  }
  throw new Error('expected prepare to refuse the rules');
}

function rows(transform: TableTransform | undefined): (values: RowValues) => RowValues {
  if (transform?.kind !== 'rows') throw new Error('expected a rows transform');
  return (values) => transform.transformRow([...values]);
}

describe('Anonymizer: the transformer contract', () => {
  it('is a Transformer with the plugin name and version, and records rule names only', async () => {
    const hooked = await transformerHook({
      strataConfig: { anonymize: { salt: '${SALT}', tables: { person: { email: 'email', login: { fixed: 'do-not-record-me' } }, sessions: 'truncate' } } },
      environment: 'staging',
      baseDir: '/tmp',
      interpolate: () => SALT,
    });
    expect(isTransformer(hooked)).toBe(true);
    expect(hooked!.name).toBe('@strata/plugin-anonymize');
    expect(hooked!.version).toBe(PLUGIN_VERSION);
    expect(hooked!.anonymizes).toBe(true);
    expect(hooked!.rules).toEqual({ 'public.person.email': 'email', 'public.person.login': 'fixed', 'public.sessions': 'truncate' });
    expect(JSON.stringify(hooked!.rules)).not.toContain('do-not-record-me');
  });

  it('the hook gives nothing without an anonymize section', async () => {
    expect(await transformerHook({ strataConfig: { environments: {} }, environment: 'x', baseDir: '/', interpolate: (v) => v })).toBeUndefined();
  });

  it('masks rows in place by column, truncates, and leaves tables without rules alone', () => {
    const a = anonymizer({ person: { email: 'email', notes: 'null', 'prefs.contact.email': 'email' }, sessions: 'truncate' });
    a.prepare(schema);
    expect(a.forTable(sessions)).toEqual({ kind: 'truncate' });
    expect(a.forTable(orders)).toBeUndefined();
    const mask = rows(a.forTable(person));
    const input: RowValues = ['7d444840-9dc0-11d1-b245-5ffdce74fad2', 'anna@corp.com', 'Anna Smith', null, '1990-05-01', '34', 'secret notes', '{"contact": {"email": "anna@corp.com"}, "theme": "dark"}', 'anna'];
    const out = mask(input);
    expect(out[0]).toBe(input[0]);
    expect(out[1]).toMatch(/@example\.(com|net|org)$/);
    expect(out[2]).toBe('Anna Smith');
    expect(out[6]).toBeNull();
    const prefs = JSON.parse(out[7]!) as { contact: { email: string }; theme: string };
    expect(prefs.contact.email).toBe(out[1]);
    expect(prefs.theme).toBe('dark');
  });
});

describe('Anonymizer.prepare: errors before any data', () => {
  it('names an unknown table or column and suggests close names', () => {
    const table = prepareError({ persn: { email: 'email' } });
    expect(table.code).toBe('anonymize-unknown-table');
    expect(table.message).toContain('public.persn');
    expect(table.hint).toContain('person');
    const column = prepareError({ person: { emial: 'email' } });
    expect(column.code).toBe('anonymize-unknown-column');
    expect(column.message).toContain('anonymize.tables.person.emial');
    expect(column.hint).toContain('email');
  });

  it('refuses transformers on incompatible types and null on NOT NULL', () => {
    expect(prepareError({ person: { age: 'date' } }).code).toBe('anonymize-incompatible-type');
    expect(prepareError({ person: { age: 'email' } }).code).toBe('anonymize-incompatible-type');
    expect(prepareError({ person: { born: 'number' } }).code).toBe('anonymize-incompatible-type');
    expect(prepareError({ person: { email: 'null' } }).code).toBe('anonymize-not-null');
    expect(prepareError({ person: { 'age.x': 'email' } }).code).toBe('anonymize-path-not-json');
  });

  it('refuses non-unique transformers on unique columns, and columns too short for the token', () => {
    expect(prepareError({ person: { email: { partial: { keepLast: 4 } } } }).code).toBe('anonymize-not-unique');
    expect(prepareError({ person: { login: 'email' } }).code).toBe('anonymize-column-too-short');
  });

  it('refuses a rule on a key column without key: true, with the fix in the hint', () => {
    const pk = prepareError({ person: { id: 'uuid' } });
    expect(pk.code).toBe('anonymize-key-column');
    expect(pk.message).toContain('public.person.id');
    expect(pk.hint).toContain('"key": true');
    expect(prepareError({ 'shop.orders': { person_id: 'uuid' } }).code).toBe('anonymize-key-column');
  });

  it('reports all problems at once to planRules users, the first one from prepare', () => {
    const error = prepareError({ person: { emial: 'email', age: 'date' } });
    expect(error.message).toContain('1 more problem');
  });
});

describe('Anonymizer: key rules propagate along foreign keys', () => {
  it('gives every referencing column the same masked value, both ways', () => {
    for (const tables of [{ person: { id: { uuid: { key: true } } } }, { 'shop.shipments': { order_person: { uuid: { key: true } } } }]) {
      const a = anonymizer(tables);
      a.prepare(schema);
      expect(a.rules).toMatchObject({ 'public.person.id': 'uuid', 'shop.orders.person_id': 'uuid', 'shop.shipments.order_person': 'uuid' });
      const id = '7d444840-9dc0-11d1-b245-5ffdce74fad2';
      const p = rows(a.forTable(person))([id, 'a@b.c', null, null, null, null, null, null, null]);
      const o = rows(a.forTable(orders))(['1', id, '10.00']);
      const s = rows(a.forTable(shipments))([id, 'x']);
      expect(p[0]).not.toBe(id);
      expect(o[1]).toBe(p[0]);
      expect(s[0]).toBe(p[0]);
      expect(rows(a.forTable(orders))(['2', null, '1.00'])[1]).toBeNull();
    }
  });

  it('refuses two different rules on linked key columns', () => {
    expect(prepareError({ person: { id: { uuid: { key: true } } }, 'shop.orders': { person_id: 'keep' } }).code).toBe('anonymize-key-conflict');
  });
});

describe('Anonymizer: determinism and uniqueness', () => {
  it('gives the same output in two instances and another with a different salt', () => {
    const tables = { person: { email: 'email', full_name: 'fullName', born: 'date', phone: 'phone' } };
    const row: RowValues = ['7d444840-9dc0-11d1-b245-5ffdce74fad2', 'anna@corp.com', 'Anna Smith', '+1 415 555 0100', '1990-05-01', null, null, null, null];
    const [a, b, c] = [anonymizer(tables), anonymizer(tables), anonymizer(tables, 'another-long-salt-9876543210')];
    for (const x of [a, b, c]) x.prepare(schema);
    const [ra, rb, rc] = [a, b, c].map((x) => rows(x.forTable(person))(row));
    expect(rb).toEqual(ra);
    for (const i of [1, 2, 3, 4]) expect(rc![i]).not.toBe(ra![i]);
  });

  it('has no collisions on 1,000,000 distinct inputs for email, username, phone and uuid on unique columns', () => {
    const table: TableInfo = {
      schema: 'public',
      name: 'accounts',
      columns: [
        { name: 'email', type: 'text', nullable: false },
        { name: 'username', type: 'character varying(40)', nullable: false },
        { name: 'phone', type: 'text', nullable: false },
        { name: 'external_id', type: 'uuid', nullable: false },
      ],
      primaryKey: [],
      unique: [['email'], ['username'], ['phone'], ['external_id']],
      foreignKeys: [],
    };
    const a = anonymizer({ accounts: { email: 'email', username: 'username', phone: 'phone', external_id: 'uuid' } });
    a.prepare({ tables: [table] });
    const transform = a.forTable(table);
    if (transform?.kind !== 'rows') throw new Error('expected rows');
    const N = 1_000_000;
    const seen = [new Set<string>(), new Set<string>(), new Set<string>(), new Set<string>()];
    const hex = (i: number) => i.toString(16).padStart(12, '0');
    for (let i = 0; i < N; i++) {
      const out = transform.transformRow([`user${i}@corp.com`, `user_${i}`, `+1 555 ${String(i).padStart(7, '0')}`, `00000000-0000-4000-8000-${hex(i)}`]);
      for (let c = 0; c < 4; c++) seen[c]!.add(out[c]!);
    }
    expect(seen.map((s) => s.size)).toEqual([N, N, N, N]);
  }, 60_000);
});
