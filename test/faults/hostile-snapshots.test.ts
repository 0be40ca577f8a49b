// A snapshot folder is input from outside: anyone who can write the bucket. Each test takes a copy
// of one real snapshot, damages its manifest the way such a person could, and runs the engine on
// it through @strata/core. What is checked is the server and the disk: no database of this test is
// created or left behind (pg_database before and after), no file in the storage changes, nothing
// appears where a name pointed outside it, and the source's rows stay the same.
import { randomBytes } from 'node:crypto';
import { cp, copyFile, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { MAX_MANIFEST_BYTES } from '../../packages/core/src/format/manifest-io.js';
import { copySnapshot, listSnapshots, restore, showSnapshot, verifySnapshot } from '../engine/engine-imports.js';
import { LocalStorage } from '../../packages/plugin-local/src/local-storage.js';
import { adminQuery, databaseUrl, queryAt } from '../support/database.js';
import { dataChecksums, ODD_COLUMN, ODD_TABLE, refusal, useHostileEngine, type Scene } from './hostile-engine.js';

const h = useHostileEngine('hostile');
const scene = (): Promise<Scene> => h.scene();

/** show, verify, restore and copy must all refuse the manifest the same way. */
async function expectManifestRefused(s: Scene, message: RegExp, code = 'manifest-invalid', id = h.id): Promise<void> {
  const staging = new LocalStorage(path.join(s.dir, 'staging'));
  const runs: Array<[string, () => Promise<unknown>]> = [
    ['show', () => showSnapshot(s.ctx, id)],
    ['verify', () => verifySnapshot(s.ctx, id)],
    ['restore', () => restore({ ...s.ctx, id, database: s.target(`r${randomBytes(3).toString('hex')}`) })],
    ['copy', () => copySnapshot({ from: s.ctx, to: { ...s.ctx, env: { ...s.ctx.env, name: 'staging' }, storage: staging }, id })],
  ];
  for (const [name, run] of runs) {
    const error = await refusal(run());
    expect({ name, code: error.code, exitCode: error.exitCode }).toEqual({ name, code, exitCode: 5 });
    expect(error.message).toMatch(message);
    expect(error.message.split(/\.\s/).length, `more than one sentence: ${error.message}`).toBe(1);
  }
}

describe('hostile manifests', () => {
  it('data file name pointing outside the snapshot (../…, absolute) | show, verify, restore and copy refuse the manifest; no file written, no database', async () => {
    for (const file of [`../../../../../../../../..${os.tmpdir()}/strata-hostile-${randomBytes(4).toString('hex')}`, `${os.tmpdir()}/strata-hostile-${randomBytes(4).toString('hex')}`]) {
      const s = await scene();
      await s.editManifest((m) => (s.table(m, 'parent').file = file));
      await s.record([path.resolve(s.folder, file), file]);
      await expectManifestRefused(s, /tables\.\d+\.file must be data\/public\.parent\.copy\.zst/);
      await s.expectUnchanged();
    }
  });

  it('table name with a NUL byte, or longer than 63 bytes | refused as an invalid manifest; no database', async () => {
    for (const name of ['parent\u0000"; DROP TABLE child; --', `parent${'x'.repeat(60)}`]) {
      const s = await scene();
      await s.editManifest((m) => {
        const entry = s.table(m, 'parent');
        entry.name = name;
        entry.file = `data/public.${encodeURIComponent(name)}.copy.zst`;
      });
      await s.record();
      await expectManifestRefused(s, /tables\.\d+\.name must (not contain a NUL|be a PostgreSQL identifier of at most 63 bytes)/);
      await s.expectUnchanged();
    }
  });

  it('sequence value written as SQL | refused as an invalid manifest, before any SQL is sent', async () => {
    const s = await scene();
    await s.editManifest((m) => (m.sequences[0]!.lastValue = `1::numeric, false); CREATE DATABASE "${h.source.name}_pwned"; --`));
    await s.record();
    await expectManifestRefused(s, /sequences\.0\.lastValue must be an integer/);
    await s.expectUnchanged();
  });

  it('table listed twice, column listed twice | refused as an invalid manifest', async () => {
    const twice = await scene();
    await twice.editManifest((m) => m.tables.push({ ...twice.table(m, 'child') }));
    await twice.record();
    await expectManifestRefused(twice, /lists table public\.child a second time/);
    await twice.expectUnchanged();

    const column = await scene();
    await column.editManifest((m) => {
      const child = column.table(m, 'child');
      child.columns.push({ ...child.columns[0]! });
    });
    await column.record();
    await expectManifestRefused(column, /columns\.3\.name repeats column id/);
    await column.expectUnchanged();
  });

  it('manifest id differing from its folder | show, verify, restore and copy refuse it; list skips it with a warning', async () => {
    const s = await scene();
    // A folder whose manifest names the original snapshot: restored, it would load the original's files.
    const other = '01J0000000000000000000FAKE';
    await cp(s.folder, path.join(path.dirname(s.folder), other), { recursive: true });
    await s.record();
    await expectManifestRefused(s, new RegExp(`names snapshot ${h.id}, not ${other}, the folder it is in`), 'manifest-id-mismatch', other);
    expect((await listSnapshots(s.ctx)).map((x) => x.id)).toEqual([h.id]);
    expect(s.ctx.warnings.join('\n')).toContain(`Skipping snapshot ${other}`);
    await s.expectUnchanged();
  });

  it('100 MB manifest | refused after reading at most 32 MiB of it; list skips it', async () => {
    const s = await scene();
    const manifest = await s.readManifest();
    // Valid JSON to the end: only its size is wrong.
    await s.writeManifest({ ...manifest, description: 'x'.repeat(100 * 1024 * 1024) });
    const key = `rt/test/${h.id}/manifest.json`;
    await s.record();
    const error = await refusal(showSnapshot(s.ctx, h.id));
    expect(error).toMatchObject({ code: 'manifest-too-large', exitCode: 5 });
    expect(error.message).toMatch(/is larger than 32 MiB, the most strata reads of a manifest/);
    expect(s.bytesRead[key]).toBeGreaterThan(MAX_MANIFEST_BYTES);
    expect(s.bytesRead[key]).toBeLessThan(MAX_MANIFEST_BYTES + 1024 * 1024);
    await expect(restore({ ...s.ctx, id: h.id, database: s.target('big') })).rejects.toMatchObject({ code: 'manifest-too-large' });
    expect(await listSnapshots(s.ctx)).toEqual([]);
    expect(s.ctx.warnings.join('\n')).toMatch(/Skipping snapshot .*larger than 32 MiB/);
    await s.expectUnchanged();
  });

  it('table and column renamed in the manifest to SQL text | restore refuses tables no migration creates and runs none of it; work database dropped', async () => {
    const s = await scene();
    const payload = `p"; CREATE DATABASE "${h.source.name}_pwned"; --`;
    await s.editManifest((m) => {
      const entry = s.table(m, 'parent');
      entry.name = payload;
      entry.file = `data/public.${encodeURIComponent(payload).replace(/\./g, '%2E')}.copy.zst`;
    });
    // The attacker moves the data file too, so the file name is the derived one.
    await rename(path.join(s.folder, 'data/public.parent.copy.zst'), path.join(s.folder, (await s.readManifest()).tables.find((t) => t.name === payload)!.file));
    await s.record();
    const loaded: string[] = [];
    const error = await refusal(restore({ ...s.ctx, id: h.id, database: s.target('sqlname'), onProgress: (e) => e.phase === 'load' && loaded.push(e.item) }));
    expect(error).toMatchObject({ code: 'schema-mismatch', exitCode: 6 });
    expect(error.message).toContain(`holds table public.${payload}, which the migrations at its point do not create`);
    expect(loaded).toEqual([]);
    await s.expectUnchanged();

    const column = await scene();
    await column.editManifest((m) => (column.table(m, 'child').columns[2]!.name = `n") FROM STDIN; DROP TABLE child; --`));
    await column.record();
    await expect(restore({ ...column.ctx, id: h.id, database: column.target('sqlcol') })).rejects.toMatchObject({ code: 'schema-mismatch', exitCode: 6 });
    await column.expectUnchanged();
  });

  it('table the migrations do not create, no module removed | refused before any row is loaded; work database dropped', async () => {
    const s = await scene();
    await s.editManifest((m) => m.tables.push({ ...s.table(m, 'parent'), name: 'ghost', file: 'data/public.ghost.copy.zst' }));
    await copyFile(path.join(s.folder, 'data/public.parent.copy.zst'), path.join(s.folder, 'data/public.ghost.copy.zst'));
    await s.record();
    const loaded: string[] = [];
    const error = await refusal(restore({ ...s.ctx, id: h.id, database: s.target('ghost'), onProgress: (e) => e.phase === 'load' && loaded.push(e.item) }));
    expect(error).toMatchObject({ code: 'schema-mismatch', exitCode: 6 });
    expect(error.message).toBe(`Snapshot ${h.id} holds table public.ghost, which the migrations at its point do not create.`);
    expect(loaded).toEqual([]);
    await s.expectUnchanged();
  });
});

describe('names that look like SQL or paths', () => {
  it('real tables named with quotes, SQL, .. and / | restore as plain names: rows equal, the SQL they spell never runs, files stay inside data/', async () => {
    const s = await scene();
    const manifest = await s.readManifest();
    // zstd, the default.
    for (const t of manifest.tables) expect(t.file).toMatch(/^data\/[^/]+\.copy\.zst$/);
    expect(manifest.tables.map((t) => `${t.schema}.${t.name}`)).toEqual(expect.arrayContaining([`public.${ODD_TABLE}`, '.....', 'public.../../etc/passwd']));
    expect(s.table(manifest, ODD_TABLE).columns.map((c) => c.name)).toEqual(['id', ODD_COLUMN]);
    expect((await verifySnapshot(s.ctx, h.id)).ok).toBe(true);

    const target = s.target('odd');
    await restore({ ...s.ctx, id: h.id, database: target });
    const restored = databaseUrl(h.source.adminUrl, target);
    // parent and child are there with every row: nothing the names spell was executed.
    expect(await dataChecksums(restored)).toEqual(await dataChecksums(h.source.url));
    expect(await queryAt(restored, `SELECT * FROM "we""ird'; DROP TABLE parent; --" ORDER BY id`)).toEqual([
      { id: 1, [ODD_COLUMN]: `a'b"c` },
      { id: 2, [ODD_COLUMN]: 'DROP TABLE child;' },
    ]);
    const { rows } = await adminQuery(`SELECT 1 FROM pg_database WHERE datname = $1`, [`${h.source.name}_pwned`]);
    expect(rows).toEqual([]);
  });
});
