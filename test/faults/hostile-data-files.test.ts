// Data files of a snapshot are input from outside too: sizes and counts that lie, gzip and zstd bombs,
// COPY text a restore must not take, rows that break constraints, files and connections that go
// away. Each test damages a copy of one real snapshot (the manifest made to agree where the point
// is that only the content can tell) and checks the server and the disk directly, as in
// hostile-snapshots.test.ts.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';

import type { StorageDriver } from '../../packages/core/src/index.js';
import { copyGuardLimits } from '../../packages/core/src/format/copy-guard.js';
import { restore, verifySnapshot } from '../engine/engine-imports.js';
import { adminQuery, databaseUrl } from '../support/database.js';
import { dataChecksums, refusal, useHostileEngine, type Scene } from './hostile-engine.js';
import { compressionBomb, gzipBomb } from './hostile-support.js';

const h = useHostileEngine('hostiledata');
const scene = (): Promise<Scene> => h.scene();

describe('data files that lie about themselves', () => {
  it('row count that lies (fewer rows than the file holds) | verify and restore stop at the first extra row', async () => {
    const s = await scene();
    await s.editManifest((m) => (s.table(m, 'child').rows = 100));
    const key = await s.keyOf('child');
    const size = s.table(await s.readManifest(), 'child').bytes;
    await s.record();
    const verified = await verifySnapshot(s.ctx, h.id);
    expect(verified.tables.find((t) => t.table === 'public.child')).toMatchObject({ status: 'failed', error: 'the data file holds more rows than the 100 the manifest records' });
    s.bytesRead[key] = 0;
    const error = await refusal(restore({ ...s.ctx, id: h.id, database: s.target('rows') }));
    expect(error).toMatchObject({ code: 'data-corrupt', exitCode: 5 });
    expect(error.message).toBe(`The data file of table public.child in snapshot ${h.id} holds more rows than the 100 the manifest records.`);
    expect(s.bytesRead[key]).toBeLessThan(size / 2);
    await s.expectUnchanged();
  });

  it('size that lies (the file is larger than the manifest says) | reading stops right past the recorded size', async () => {
    const s = await scene();
    await s.editManifest((m) => (s.table(m, 'child').bytes = 1000));
    const key = await s.keyOf('child');
    await s.record();
    const verified = await verifySnapshot(s.ctx, h.id);
    expect(verified.tables.find((t) => t.table === 'public.child')?.error).toBe('the data file is larger than the 1000 bytes the manifest records');
    s.bytesRead[key] = 0;
    const error = await refusal(restore({ ...s.ctx, id: h.id, database: s.target('size') }));
    expect(error).toMatchObject({ code: 'data-corrupt', exitCode: 5 });
    expect(error.message).toContain('is larger than the 1000 bytes the manifest records');
    // One read chunk (64 KiB) and what the stages had buffered, not the whole file.
    expect(s.bytesRead[key]).toBeLessThan(256 * 1024);
    await s.expectUnchanged();
  });

  // zstd packs a MiB into 49 bytes: 16 GiB make a file large enough to show it is not read to its end.
  for (const [codec, members, what] of [['gzip', 1024, '1 GiB from 1 MB'], ['zstd', 16384, '16 GiB from 800 KB']] as const) {
    it(`${codec} bomb (${what}, checksum and size matching) | decompression stops at the recorded rawBytes; the file is not read to its end`, async () => {
      const s = await scene();
      // The scene is captured with zstd, the default.
      if (codec === 'gzip') await s.recompress('gzip');
      const bomb = await compressionBomb(codec, members);
      const recorded = s.table(await s.readManifest(), 'parent').rawBytes!;
      expect(recorded).toBeGreaterThan(0);
      await s.replaceFile('parent', bomb);
      const key = await s.keyOf('parent');
      await s.record();
      const verified = await verifySnapshot(s.ctx, h.id);
      expect(verified.tables.find((t) => t.table === 'public.parent')?.error).toBe(`the data file inflates past the ${recorded} bytes the manifest records`);
      expect(s.bytesRead[key]).toBeLessThan(bomb.length / 4);
      s.bytesRead[key] = 0;
      const error = await refusal(restore({ ...s.ctx, id: h.id, database: s.target(`bomb${codec}`) }));
      expect(error).toMatchObject({ code: 'data-corrupt', exitCode: 5 });
      expect(error.message).toBe(`The data file of table public.parent in snapshot ${h.id} inflates past the ${recorded} bytes the manifest records.`);
      expect(s.bytesRead[key]).toBeLessThan(bomb.length / 4);
      await s.expectUnchanged();
    });
  }

  it('gzip bomb in a format 1.2 manifest (no rawBytes) | stopped at the line limit, the file not read to its end', async () => {
    const s = await scene();
    const bomb = gzipBomb(1024);
    await s.asFormat12();
    await s.replaceFile('parent', bomb);
    const key = await s.keyOf('parent');
    copyGuardLimits.maxLineBytes = 4 * 1024 * 1024;
    await s.record();
    const error = await refusal(restore({ ...s.ctx, id: h.id, database: s.target('bomb12') }));
    expect(error).toMatchObject({ code: 'data-corrupt', exitCode: 5 });
    expect(error.message).toBe(`The data file of table public.parent in snapshot ${h.id} has a row longer than 4 MiB (row 1).`);
    expect(s.bytesRead[key]).toBeLessThan(bomb.length / 4);
    const verified = await verifySnapshot(s.ctx, h.id);
    expect(verified.tables.find((t) => t.table === 'public.parent')?.error).toBe('the data file has a row longer than 4 MiB (row 1)');
    await s.expectUnchanged();
  });

  it('over-long line in a format 1.2 manifest (no rawBytes) | verify and restore refuse it at the line limit', async () => {
    const s = await scene();
    await s.asFormat12();
    const text = await s.readText('child');
    await s.replaceText('child', Buffer.concat([text, Buffer.from(`50001\t1\t${'y'.repeat(2 * 1024 * 1024)}\n`)]));
    copyGuardLimits.maxLineBytes = 1024 * 1024;
    await s.record();
    expect((await verifySnapshot(s.ctx, h.id)).tables.find((t) => t.table === 'public.child')?.error).toBe('the data file has a row longer than 1 MiB (row 50001)');
    const error = await refusal(restore({ ...s.ctx, id: h.id, database: s.target('line') }));
    expect(error.message).toBe(`The data file of table public.child in snapshot ${h.id} has a row longer than 1 MiB (row 50001).`);
    await s.expectUnchanged();
  });

  it('genuine snapshot rewritten as format 1.2 (no rawBytes) | still verifies and restores', async () => {
    const s = await scene();
    await s.asFormat12();
    expect((await s.readManifest()).tables.every((t) => t.file.endsWith('.copy.gz'))).toBe(true);
    expect((await verifySnapshot(s.ctx, h.id)).ok).toBe(true);
    const target = s.target('v12');
    await restore({ ...s.ctx, id: h.id, database: target });
    expect(await dataChecksums(databaseUrl(h.source.adminUrl, target))).toEqual(await dataChecksums(h.source.url));
  });
});

describe('COPY text that a restore must not take', () => {
  /** Rewrites parent's COPY text with `change`, the manifest agreeing with the result. */
  async function withParentText(change: (text: Buffer) => Buffer): Promise<Scene> {
    const s = await scene();
    await s.replaceText('parent', change(await s.readText('parent')));
    await s.record();
    return s;
  }

  async function expectRefusedBoth(s: Scene, reason: string, label: string): Promise<void> {
    const verified = await verifySnapshot(s.ctx, h.id);
    expect(verified.ok).toBe(false);
    expect(verified.tables.filter((t) => t.status === 'failed')).toEqual([expect.objectContaining({ table: 'public.parent', error: `the data file ${reason}` })]);
    const error = await refusal(restore({ ...s.ctx, id: h.id, database: s.target(label) }));
    expect(error).toMatchObject({ code: 'data-corrupt', exitCode: 5 });
    expect(error.message).toBe(`The data file of table public.parent in snapshot ${h.id} ${reason}.`);
    await s.expectUnchanged();
  }

  it('end-of-data marker \\. followed by SQL, counts matching | verify and restore refuse it; the SQL never runs', async () => {
    const s = await withParentText((text) => {
      const lines = text.toString('utf8').split('\n');
      return Buffer.from([...lines.slice(0, 100), '\\.', `CREATE DATABASE "${h.source.name}_pwned";`, ...lines.slice(100)].join('\n'));
    });
    await expectRefusedBoth(s, 'holds an end-of-data marker (\\.) in row 101, which would end the load early', 'marker');
  });

  it('invalid UTF-8, counts matching | verify and restore refuse it, naming the table', async () => {
    const s = await withParentText((text) => Buffer.concat([text, Buffer.from([0x32, 0x30, 0x31, 0x09, 0xc3, 0x28, 0x0a])]));
    await expectRefusedBoth(s, 'is not valid UTF-8 (in or after row 1)', 'utf8');
  });

  it('NUL byte, counts matching | verify and restore refuse it, naming the row', async () => {
    const s = await withParentText((text) => Buffer.concat([text, Buffer.from('201\tnul\0here\n')]));
    await expectRefusedBoth(s, 'holds a NUL byte in row 201, which PostgreSQL text cannot hold', 'nul');
  });

  it('last line with no newline, counts matching | verify and restore refuse it', async () => {
    const s = await withParentText((text) => Buffer.concat([text, Buffer.from('201\tcut')]));
    await expectRefusedBoth(s, 'ends in the middle of row 201 (its last line has no newline)', 'cut');
  });
});

describe('rows that break constraints, checksums matching', () => {
  it('duplicate primary key | verify passes (it does not check constraints); restore names the table and constraint and drops its work database', async () => {
    const s = await scene();
    await s.replaceText('parent', Buffer.concat([await s.readText('parent'), Buffer.from('1\tduplicate\n')]));
    await s.record();
    expect((await verifySnapshot(s.ctx, h.id)).ok).toBe(true);
    const error = await refusal(restore({ ...s.ctx, id: h.id, database: s.target('dup') }));
    expect(error).toMatchObject({ code: 'data-constraint-violated', exitCode: 5 });
    expect(error.message).toBe(`Table public.parent in snapshot ${h.id} holds rows with the same key, which its unique constraint or index parent_pkey forbids.`);
    await s.expectUnchanged();
  });

  it('dangling foreign key | restore names the table, the constraint and the table it references, and drops its work database', async () => {
    const s = await scene();
    await s.replaceText('child', Buffer.concat([await s.readText('child'), Buffer.from('50001\t99999\tdangling\n')]));
    await s.record();
    const error = await refusal(restore({ ...s.ctx, id: h.id, database: s.target('fk') }));
    expect(error).toMatchObject({ code: 'data-constraint-violated', exitCode: 5 });
    expect(error.message).toBe(`Table public.child in snapshot ${h.id} holds rows whose foreign key child_parent_id_fkey points at missing rows of public.parent.`);
    await s.expectUnchanged();
  });
});

describe('files and connections that go away', () => {
  it('deleted data file | restore fails with one sentence, no unhandled stream error, work database dropped', async () => {
    const s = await scene();
    await rm(path.join(s.folder, s.table(await s.readManifest(), 'child').file));
    await s.record();
    // The CLI crashed on this: a COPY stream's 'error' nobody listened for.
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => void uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      const error = await refusal(restore({ ...s.ctx, id: h.id, database: s.target('gone') }));
      expect(error).toMatchObject({ code: 'data-corrupt', exitCode: 5 });
      expect(error.message).toBe(`The data file of table public.child in snapshot ${h.id} is missing.`);
      // A COPY left without a listener fails once its session is closed; give it the time to.
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught.map(String)).toEqual([]);
    await s.expectUnchanged();
  });

  it('connection lost mid-COPY (pg_terminate_backend) | database-connection-lost (exit 3), not an integrity error; work database dropped', async () => {
    const s = await scene();
    const target = s.target('lost');
    const key = await s.keyOf('child');
    await s.record();
    // The child file streams one chunk, then waits until the COPY's backend is terminated.
    const inner = s.ctx.storage;
    let terminated = false;
    let gatedOnce = false;
    const gated: StorageDriver = new Proxy(inner, {
      get(t, p, r) {
        if (p !== 'read') {
          const v = Reflect.get(t, p, r) as unknown;
          return typeof v === 'function' ? v.bind(t) : v;
        }
        return async (k: string, options?: { signal?: AbortSignal }) => {
          const stream = await inner.read(k, options);
          // Only the load's read: a re-read (to tell damage from a lost connection) passes.
          if (k !== key || gatedOnce) return stream;
          gatedOnce = true;
          const gate = new PassThrough();
          let first = true;
          stream.on('data', (chunk: Buffer) => {
            gate.write(chunk);
            if (!first) return;
            first = false;
            stream.pause();
            void terminateCopy(target).then(() => {
              terminated = true;
              stream.resume();
            });
          });
          stream.on('end', () => gate.end());
          gate.on('close', () => stream.destroy());
          return gate;
        };
      },
    });
    const error = await refusal(restore({ ...s.ctx, storage: gated, id: h.id, database: target }));
    expect(terminated).toBe(true);
    expect(error).toMatchObject({ code: 'database-connection-lost', exitCode: 3 });
    await s.expectUnchanged();
  });
});

/** Terminates the backend running `COPY … FROM STDIN` into the work database of `target`, once it runs. */
async function terminateCopy(target: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const { rows } = await adminQuery<{ pid: number }>(
      `SELECT a.pid FROM pg_stat_activity a JOIN pg_database d ON d.datname = a.datname
        WHERE shobj_description(d.oid, 'pg_database') LIKE $1 AND a.query LIKE 'COPY %FROM STDIN%' AND a.state = 'active'`,
      [`%incomplete restore of ${target},%`],
    );
    if (rows.length > 0) {
      await adminQuery('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no COPY into the work database of ${target} to terminate`);
}

