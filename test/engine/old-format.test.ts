// A snapshot written in format 1.2 (before rawBytes), committed as a fixture, still verifies and
// restores with today's code: migrated to its recorded point, loaded, then migrated onwards.
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';

import { restore, showSnapshot, verifySnapshot } from './engine-imports.js';
import { dropDatabase, queryAt, databaseUrl } from '../support/database.js';
import { engineProject } from '../support/engine.js';
import { FORMAT_12_MIGRATIONS } from '../fixtures/format-1.2/migrations.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/format-1.2/snapshots');
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
