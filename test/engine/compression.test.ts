// Every codec end to end (format 1.4): snapshot with gzip, zstd at two levels and uncompressed,
// restore, and compare every row; the config picks the codec (the environment's wins); a damaged
// or truncated .zst file is refused by verify and by restore in one sentence, like a gzip one.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Compression } from '../../packages/core/src/format/compression.js';
import { createKnexForTest, restore, showSnapshot, snapshot, verifySnapshot } from './engine-imports.js';
import { createTestDatabase, databaseUrl, dropDatabase, type TestDatabase } from '../support/database.js';
import { dataFilePath, engineProject, readDataText, type EngineProject } from '../support/engine.js';
import { TYPES_DATA, TYPES_SCHEMA } from '../fixtures/types-schema.js';

// Enough COPY text (~4 MB) for many zstd blocks and gzip windows, with repeats and noise.
const BULK = `
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE bulk (id integer PRIMARY KEY, label text, note text, amount numeric(12,2));
    INSERT INTO bulk SELECT g, 'label ' || (g % 97), CASE WHEN g % 5 = 0 THEN NULL ELSE md5(g::text) || E'\\\\t' || repeat('é', g % 7) END, g * 1.25
      FROM generate_series(1, 60000) g;
  \`);
}
export async function down() {}
`;

const TABLES = ['audit', 'bulk', 'everything', 'person', 'team'];

async function rowsAsText(url: string, table: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SET TimeZone = 'UTC'");
    const { rows } = await client.query<{ t: string }>(`SELECT t::text AS t FROM ${table} t ORDER BY id`);
    return rows.map((r) => r.t);
  } finally {
    await client.end();
  }
}

describe('compression codecs', () => {
  let source: TestDatabase;
  let project: EngineProject;
  const created: string[] = [];
  let sourceRows: Record<string, string[]>;
  const stored: Record<string, number> = {};

  beforeAll(async () => {
    source = await createTestDatabase('codecs');
    project = await engineProject({ '20240101000000_schema.mjs': TYPES_SCHEMA, '20240102000000_bulk.mjs': BULK }, { exclude: ['session_cache'] });
    await project.migrate(source.url);
    const knex = createKnexForTest(source.url);
    try {
      await knex.raw(TYPES_DATA);
    } finally {
      await knex.destroy();
    }
    sourceRows = {};
    for (const table of TABLES) sourceRows[table] = await rowsAsText(source.url, table);
  });

  afterAll(async () => {
    for (const name of created) await dropDatabase(name);
    await source?.drop();
  });

  const cases: Array<{ name: string; compression: Compression; data: Record<string, unknown>; suffix: string }> = [
    { name: 'gzip', compression: { codec: 'gzip' }, data: { compression: 'gzip', level: 1 }, suffix: '.copy.gz' },
    { name: 'zstd-1', compression: { codec: 'zstd', level: 1 }, data: { compression: 'zstd', level: 1 }, suffix: '.copy.zst' },
    { name: 'zstd-3', compression: { codec: 'zstd', level: 3 }, data: { compression: 'zstd', level: 3 }, suffix: '.copy.zst' },
    { name: 'none', compression: { codec: 'none' }, data: { compression: 'none' }, suffix: '.copy' },
  ];

  for (const c of cases) {
    it(`${c.name}: snapshots, verifies and restores every row; files and manifest name the codec`, async () => {
      const ctx = project.context(source.url);
      const taken = await snapshot({ ...ctx, compression: c.compression });
      const manifest = await showSnapshot(ctx, taken.id);
      expect(manifest.formatVersion).toBe('1.4.0');
      expect(manifest.data).toEqual({ format: 'postgresql-copy-text', encoding: 'UTF8', ...c.data });

      const dataDir = path.join(project.dir, 'snapshots', 'rt', 'test', taken.id, 'data');
      expect((await readdir(dataDir)).sort()).toEqual(TABLES.map((t) => `public.${t}${c.suffix}`));
      for (const t of manifest.tables) expect(t.file).toBe(`data/public.${t.name}${c.suffix}`);
      const bulk = manifest.tables.find((t) => t.name === 'bulk')!;
      const text = await readDataText(project, taken.id, 'bulk');
      // rawBytes is the COPY text before the compressor, whatever the codec.
      expect(Buffer.byteLength(text)).toBe(bulk.rawBytes);
      expect(text.split('\n').length - 1).toBe(60000);
      stored[c.name] = bulk.bytes;
      if (c.compression.codec === 'none') expect(bulk.bytes).toBe(bulk.rawBytes);
      else expect(bulk.bytes).toBeLessThan(bulk.rawBytes! / 2);

      expect((await verifySnapshot(ctx, taken.id)).ok).toBe(true);
      const target = `${source.name}_${c.name.replace('-', '')}`;
      created.push(target);
      await restore({ ...ctx, id: taken.id, database: target });
      const url = databaseUrl(source.adminUrl, target);
      for (const table of TABLES) expect(await rowsAsText(url, table), table).toEqual(sourceRows[table]);
    });
  }

  it('the level reaches the compressor, and zstd-1 stores less than gzip-1', () => {
    // Runs after the four above (vitest keeps file order). On this table's md5 noise level 3
    // stores slightly more than level 1: only a different size is asked of it.
    expect(stored['zstd-3']).not.toBe(stored['zstd-1']);
    expect(stored['zstd-1']).toBeLessThan(stored.gzip!);
    expect(stored.gzip).toBeLessThan(stored.none!);
  });

  it('without an option, the config decides: the environment over the top level, zstd level 1 by default', async () => {
    const ctx = project.context(source.url);
    const codecOf = async (): Promise<unknown> => (await snapshot(ctx)).manifest.data;
    try {
      expect(await codecOf()).toMatchObject({ compression: 'zstd', level: 1 });
      project.config.compression = { codec: 'gzip', level: 4 };
      expect(await codecOf()).toMatchObject({ compression: 'gzip', level: 4 });
      // The environment's section, as resolveEnvironment hands it on.
      ctx.env.compression = { codec: 'none' };
      expect(await codecOf()).toEqual({ format: 'postgresql-copy-text', compression: 'none', encoding: 'UTF8' });
      // The option wins over both.
      expect((await snapshot({ ...ctx, compression: 'zstd' })).manifest.data).toMatchObject({ compression: 'zstd', level: 1 });
    } finally {
      delete project.config.compression;
    }
  });

  it('a level the codec does not have is refused before anything is written', async () => {
    const ctx = project.context(source.url);
    const before = await readdir(path.join(project.dir, 'snapshots', 'rt', 'test'));
    await expect(snapshot({ ...ctx, compression: { codec: 'zstd', level: 22 } })).rejects.toMatchObject({
      code: 'config-invalid',
      exitCode: 2,
      message: 'The compression {"codec":"zstd","level":22} is invalid: level for zstd must be a whole number from 1 to 19, not 22.',
    });
    expect(await readdir(path.join(project.dir, 'snapshots', 'rt', 'test'))).toEqual(before);
  });

  describe('a damaged .zst file', () => {
    async function refusedBoth(id: string, table: string, reason: RegExp, tag: string): Promise<void> {
      const ctx = project.context(source.url);
      const verified = await verifySnapshot(ctx, id);
      expect(verified.ok).toBe(false);
      expect(verified.tables.filter((t) => t.status === 'failed').map((t) => t.table)).toEqual([`public.${table}`]);
      expect(verified.tables.find((t) => t.table === `public.${table}`)!.error).toMatch(new RegExp(`^the data file ${reason.source}$`));
      const target = `${source.name}_${tag}`;
      created.push(target);
      const error = await restore({ ...ctx, id, database: target }).then(() => undefined, (e: unknown) => e as Error & { code: string });
      expect(error).toMatchObject({ code: 'data-corrupt', exitCode: 5 });
      expect(error!.message).toMatch(new RegExp(`^The data file of table public\\.${table} in snapshot ${id} ${reason.source}\\.$`));
      expect(await rowsAsText(source.url, 'bulk')).toEqual(sourceRows.bulk);
    }

    it('cut short: verify and restore say it is truncated or corrupt, and name zstd', async () => {
      const taken = await snapshot({ ...project.context(source.url), compression: 'zstd' });
      const file = await dataFilePath(project, taken.id, 'bulk');
      const bytes = await readFile(file);
      await writeFile(file, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      await refusedBoth(taken.id, 'bulk', /is truncated or corrupt \(zstd: Stream ended in middle of compressed data frame\)/, 'ztrunc');
    });

    it('(and a gzip one cut short, for comparison: the same sentence, naming gzip)', async () => {
      const taken = await snapshot({ ...project.context(source.url), compression: 'gzip' });
      const file = await dataFilePath(project, taken.id, 'bulk');
      const bytes = await readFile(file);
      await writeFile(file, bytes.subarray(0, bytes.length - 100));
      await refusedBoth(taken.id, 'bulk', /is truncated or corrupt \(gzip: unexpected end of file\)/, 'gtrunc');
    });

    it('its checksum changed (every row decodes, the frame does not check out)', async () => {
      const taken = await snapshot({ ...project.context(source.url), compression: 'zstd' });
      const file = await dataFilePath(project, taken.id, 'bulk');
      const bytes = await readFile(file);
      bytes[bytes.length - 1]! ^= 0x01;
      await writeFile(file, bytes);
      await refusedBoth(taken.id, 'bulk', /is truncated or corrupt \(zstd: Restored data doesn't match checksum\)/, 'zsum');
    });

    it('a byte flipped in the middle: refused, whichever check sees it first', async () => {
      const taken = await snapshot({ ...project.context(source.url), compression: 'zstd' });
      const file = await dataFilePath(project, taken.id, 'bulk');
      const bytes = await readFile(file);
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
      await writeFile(file, bytes);
      // zstd finds a corrupt block, or decodes garbage that CopyGuard (verify counts fields) or
      // the frame's checksum (at its end, when a restore has sent the rows) refuses.
      await refusedBoth(taken.id, 'bulk', /(is truncated or corrupt \(zstd: [^)]+\)|is not valid UTF-8 .+|holds .+|has .+)/, 'zflip');
    });

    it('a gzip file where the manifest says zstd is refused, not guessed at', async () => {
      const gz = await snapshot({ ...project.context(source.url), compression: 'gzip' });
      const taken = await snapshot({ ...project.context(source.url), compression: 'zstd' });
      await writeFile(await dataFilePath(project, taken.id, 'bulk'), await readFile(await dataFilePath(project, gz.id, 'bulk')));
      const verified = await verifySnapshot(project.context(source.url), taken.id);
      // zstd refuses the first bytes, before the size or the sha256 could be compared.
      expect(verified.tables.find((t) => t.table === 'public.bulk')!.error).toBe('the data file is truncated or corrupt (zstd: Unknown frame descriptor)');
    });
  });
});
