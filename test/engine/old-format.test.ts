// Snapshots written in older formats, committed as fixtures, still verify and restore with today's
// code: migrated to their recorded point, loaded, then migrated onwards. Format 1.2 is from before
// rawBytes; format 1.3 (strata at a923632) has rawBytes but no codec choice and no encryption block.
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';

import { restore, showSnapshot, verifySnapshot } from './engine-imports.js';
import { dropDatabase, queryAt, databaseUrl } from '../support/database.js';
import { engineProject } from '../support/engine.js';
import { FORMAT_12_MIGRATIONS } from '../fixtures/format-1.2/migrations.js';
import { FORMAT_13_MIGRATIONS } from '../fixtures/format-1.3/migrations.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures');
const FIXTURE = path.join(FIXTURES, 'format-1.2/snapshots');
const ID = '01M8Y4HZ7X9RPMP3VRT9NKTXBV';
const created: string[] = [];

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
});

describe('a format 1.2 snapshot committed as a fixture', () => {
  it('verifies and restores into today\'s schema, with the later migration applied to its rows', async () => {
    const project = await engineProject(FORMAT_12_MIGRATIONS);
    await cp(FIXTURE, path.join(project.dir, 'snapshots'), { recursive: true });
    const target = `strata_test_format12_${process.pid}`;
    created.push(target);
    const url = databaseUrl(inject('adminDatabaseUrl'), target);
    const ctx = project.context(url);

    const manifest = await showSnapshot(ctx, ID);
    // Really the old format: no rawBytes anywhere.
    expect(manifest.formatVersion).toBe('1.2.0');
    expect(manifest.tables.every((t) => t.rawBytes === undefined)).toBe(true);
    expect((await verifySnapshot(ctx, ID)).ok).toBe(true);

    await restore({ ...ctx, id: ID, database: target });
    const books = await queryAt<{ title: string; author: string; price: string | null; slug: string }>(
      url,
      'SELECT b.title, a.name AS author, b.price::text AS price, b.slug FROM book b JOIN author a ON a.id = b.author_id ORDER BY b.id',
    );
    expect(books).toEqual([
      { title: 'The Dispossessed', author: 'Ursula', price: '12.50', slug: 'the-dispossessed' },
      { title: 'Lathe Of Heaven', author: 'Ursula', price: '9.99', slug: 'lathe-of-heaven' },
      { title: 'Moominsummer Madness', author: 'Tove', price: null, slug: 'moominsummer-madness' },
      { title: 'Solaris', author: 'Stanisław', price: '11.00', slug: 'solaris' },
    ]);
  });
});

describe('a format 1.3 snapshot committed as a fixture', () => {
  it('verifies and restores into today\'s schema: every type as inserted, the later data migration applied, sequences past the loaded ids', async () => {
    const project = await engineProject(FORMAT_13_MIGRATIONS);
    await cp(path.join(FIXTURES, 'format-1.3/snapshots'), path.join(project.dir, 'snapshots'), { recursive: true });
    const id = '01M8YMFEES9ABEER3E777WZ1N9';
    const target = `strata_test_format13_${process.pid}`;
    created.push(target);
    const url = databaseUrl(inject('adminDatabaseUrl'), target);
    const ctx = project.context(url);

    const manifest = await showSnapshot(ctx, id);
    expect(manifest.formatVersion).toBe('1.3.0');
    expect(manifest.data.compression).toBe('gzip');
    expect(manifest.encryption).toBeUndefined();
    expect(manifest.tables.every((t) => typeof t.rawBytes === 'number')).toBe(true);
    expect((await verifySnapshot(ctx, id)).ok).toBe(true);

    await restore({ ...ctx, id, database: target });
    // The rows the fixture was written from (psql INSERTs), spelled out here, not read back from the snapshot.
    expect(await queryAt(url, "SELECT id, email, profile::text, encode(avatar, 'hex') AS avatar, joined::text FROM customer ORDER BY id")).toEqual([
      { id: 1, email: 'ada@example.org', profile: '{"lang": "en", "tags": ["a", "b"]}', avatar: '00ff10', joined: '2024-01-02 03:04:05.123456+00' },
      { id: 2, email: 'bo\ttab@example.org', profile: null, avatar: null, joined: '2023-12-31 23:59:59+00' },
      { id: 3, email: 'line\nbreak\\slash@example.org', profile: '{"nested": {"x": 1.5}}', avatar: '', joined: 'infinity' },
    ]);
    expect(await queryAt(url, 'SELECT id::int AS id, customer_id, lines, total::text AS total, memo, status FROM invoice ORDER BY id')).toEqual([
      { id: 1, customer_id: 1, lines: ['widget', 'gadget "x"'], total: '250.00', memo: 'first', status: 'paid' },
      { id: 2, customer_id: 1, lines: [], total: '12.34', memo: null, status: 'open' },
      { id: 3, customer_id: 2, lines: null, total: null, memo: 'tab\there', status: 'open' },
      { id: 4, customer_id: 3, lines: [null, 'b'], total: '100.00', memo: 'ünïcødé ✓', status: 'open' },
    ]);
    expect(await queryAt(url, "INSERT INTO customer (email, joined) VALUES ('new@example.org', now()) RETURNING id")).toEqual([{ id: 4 }]);
  });
});
