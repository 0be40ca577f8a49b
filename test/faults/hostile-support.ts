// Helpers for the hostile-snapshot tests: tamper with a copy of a real snapshot folder the way
// someone who can write the bucket could, and check the server and the disk around it directly.
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { fileSuffix, type Codec } from '../../packages/core/src/format/compression.js';
import { adminQuery, queryAt } from '../support/database.js';
import { compressBytes, decompressBytes } from '../support/data-files.js';

/** A manifest as JSON (tests write what the schema refuses, so it is loosely typed). */
export type RawManifest = {
  formatVersion: string;
  data: { compression: Codec; level?: number; [key: string]: unknown };
  tables: RawTable[];
  sequences: Array<Record<string, unknown>>;
  [key: string]: unknown;
};
export type RawTable = { schema: string; name: string; file: string; columns: Array<{ name: string; type: string }>; rows: number; bytes: number; rawBytes?: number; sha256: string };

/** A private copy of a snapshot folder to damage, inside a temp dir of its own. */
export interface SnapshotCopy {
  /** The temp dir holding everything (storage root and nothing else). */
  dir: string;
  /** The storage root. */
  root: string;
  /** The snapshot folder: `<root>/<project>/<env>/<id>`. */
  folder: string;
  id: string;
  readManifest(): Promise<RawManifest>;
  writeManifest(manifest: unknown): Promise<void>;
  /** Changes the manifest in place. */
  editManifest(change: (manifest: RawManifest) => void): Promise<void>;
  /** The entry of table `name` (schema public). */
  table(manifest: RawManifest, name: string): RawTable;
  /** The decompressed COPY text of table `name`. */
  readText(name: string): Promise<Buffer>;
  /**
   * Replaces table `name`'s data file with `bytes` as stored, and makes its manifest entry agree
   * (size and sha256, and rows and rawBytes when `text` is given): only what reads the content
   * can tell.
   */
  replaceFile(name: string, bytes: Buffer, text?: Buffer): Promise<void>;
  /** Replaces table `name`'s COPY text, compressed with the manifest's codec, with a manifest entry that agrees with it. */
  replaceText(name: string, text: Buffer): Promise<void>;
  /** Rewrites every data file with `codec` (renamed to its suffix), the manifest agreeing: a genuine snapshot of that codec. */
  recompress(codec: Codec): Promise<void>;
  /** Rewrites the snapshot as format 1.2 wrote it: gzip files, no `data.level`, no `rawBytes`. */
  asFormat12(): Promise<void>;
  remove(): Promise<void>;
}

/** Copies the storage root `pristineRoot` (holding snapshot `id` of `project`/`env`) into a new temp dir. */
export async function copySnapshot(pristineRoot: string, project: string, env: string, id: string): Promise<SnapshotCopy> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-hostile-'));
  const root = path.join(dir, 'snapshots');
  await cp(pristineRoot, root, { recursive: true });
  const folder = path.join(root, project, env, id);
  const manifestFile = path.join(folder, 'manifest.json');
  const copy: SnapshotCopy = {
    dir,
    root,
    folder,
    id,
    readManifest: async () => JSON.parse(await readFile(manifestFile, 'utf8')) as RawManifest,
    writeManifest: (manifest) => writeFile(manifestFile, JSON.stringify(manifest, null, 2)),
    async editManifest(change) {
      const manifest = await copy.readManifest();
      change(manifest);
      await copy.writeManifest(manifest);
    },
    table(manifest, name) {
      const entry = manifest.tables.find((t) => t.schema === 'public' && t.name === name);
      expect(entry, `no table ${name} in the manifest`).toBeDefined();
      return entry!;
    },
    async readText(name) {
      const manifest = await copy.readManifest();
      return decompressBytes(await readFile(path.join(folder, copy.table(manifest, name).file)), manifest.data.compression);
    },
    async replaceFile(name, bytes, text) {
      await copy.editManifest((manifest) => {
        const entry = copy.table(manifest, name);
        entry.bytes = bytes.length;
        entry.sha256 = createHash('sha256').update(bytes).digest('hex');
        if (text) {
          entry.rows = countNewlines(text);
          if (entry.rawBytes !== undefined) entry.rawBytes = text.length;
        }
      });
      const entry = copy.table(await copy.readManifest(), name);
      await writeFile(path.join(folder, entry.file), bytes);
    },
    async replaceText(name, text) {
      const { data } = await copy.readManifest();
      await copy.replaceFile(name, await compressBytes(text, { codec: data.compression, ...(data.level !== undefined ? { level: data.level } : {}) }), text);
    },
    async recompress(codec) {
      const manifest = await copy.readManifest();
      for (const entry of manifest.tables) {
        const text = await decompressBytes(await readFile(path.join(folder, entry.file)), manifest.data.compression);
        const bytes = await compressBytes(text, codec);
        await rm(path.join(folder, entry.file));
        entry.file = entry.file.replace(/\.copy(\.gz|\.zst)?$/, `.copy${fileSuffix(codec)}`);
        await writeFile(path.join(folder, entry.file), bytes);
        entry.bytes = bytes.length;
        entry.sha256 = createHash('sha256').update(bytes).digest('hex');
      }
      manifest.data.compression = codec;
      if (codec === 'none') delete manifest.data.level;
      else manifest.data.level = 1;
      await copy.writeManifest(manifest);
    },
    async asFormat12() {
      await copy.recompress('gzip');
      await copy.editManifest((m) => {
        m.formatVersion = '1.2.0';
        delete m.data.level;
        for (const t of m.tables) delete t.rawBytes;
      });
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  return copy;
}

export function countNewlines(text: Buffer): number {
  let n = 0;
  for (let at = text.indexOf(10); at !== -1; at = text.indexOf(10, at + 1)) n++;
  return n;
}

/** Every file below `dir` with its sha256: what "nothing written, nothing changed" compares. */
export async function fileTree(dir: string): Promise<Record<string, string>> {
  const tree: Record<string, string> = {};
  let entries: string[] = [];
  try {
    entries = await readdir(dir, { recursive: true });
  } catch {
    return tree;
  }
  for (const name of entries.sort()) {
    const file = path.join(dir, name);
    if (!(await stat(file)).isFile()) continue;
    tree[name] = createHash('sha256').update(await readFile(file)).digest('hex');
  }
  return tree;
}

/**
 * The databases a test can be blamed for: named after its source database (every target and
 * payload name starts with it), or commented with it (a restore's `strata_tmp_…` work database
 * names its target in its comment). Other test files run at the same time and create their own,
 * so the whole of pg_database cannot be compared.
 */
export async function databasesOf(sourceName: string): Promise<string[]> {
  const { rows } = await adminQuery<{ datname: string }>(
    `SELECT datname FROM pg_database d
      WHERE starts_with(datname, $1) OR coalesce(shobj_description(d.oid, 'pg_database'), '') LIKE '%' || $1 || '%'
      ORDER BY 1`,
    [sourceName],
  );
  return rows.map((r) => r.datname);
}

/** sha256 of every table's rows (sorted text) in the database at `url`: "the source is unchanged". */
export async function tableChecksums(url: string): Promise<Record<string, string>> {
  const tables = await queryAt<{ name: string }>(
    url,
    `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
  );
  const sums: Record<string, string> = {};
  for (const { name } of tables) {
    const [row] = await queryAt<{ sum: string | null }>(url, `SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS sum FROM ${name} t`);
    sums[name] = row?.sum ?? 'empty';
  }
  return sums;
}

/** What must be the same after a hostile snapshot was refused. */
export interface World {
  databases: string[];
  files: Record<string, string>;
  source: Record<string, string>;
  /** Files a name in the manifest pointed at, outside the snapshot: none may appear. */
  outside: string[];
}

/** Records the databases of `sourceName`, the files below `dir`, the source's rows and `outside` paths. */
export async function recordWorld(sourceName: string, sourceUrl: string, dir: string, outside: string[] = []): Promise<World> {
  return { databases: await databasesOf(sourceName), files: await fileTree(dir), source: await tableChecksums(sourceUrl), outside };
}

/** Asserts nothing was created or changed since `before`: databases, files, the source's rows. */
export async function expectWorldUnchanged(before: World, sourceName: string, sourceUrl: string, dir: string): Promise<void> {
  expect(await databasesOf(sourceName), 'databases created or dropped').toEqual(before.databases);
  expect(await fileTree(dir), 'files written or changed in the storage').toEqual(before.files);
  expect(await tableChecksums(sourceUrl), 'the source database changed').toEqual(before.source);
  for (const file of before.outside) await expect(stat(file), `${file} was written`).rejects.toMatchObject({ code: 'ENOENT' });
}

/**
 * `inner` with every read stream metered: `bytesRead[key]` is what was pulled out of the storage,
 * which shows a read that stopped early. The storage itself is real; only reads are wrapped.
 */
export function meteredStorage<T extends { read(key: string, options?: { signal?: AbortSignal }): Promise<Readable> }>(inner: T): { storage: T; bytesRead: Record<string, number> } {
  const bytesRead: Record<string, number> = {};
  const storage = new Proxy(inner, {
    get(target, property, receiver) {
      if (property !== 'read') {
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return async (key: string, options?: { signal?: AbortSignal }) => {
        const source = await target.read(key, options);
        bytesRead[key] ??= 0;
        // A small buffer, so what is counted is close to what the consumer asked for.
        const meter = new PassThrough({ highWaterMark: 1024 });
        source.on('data', (chunk: Buffer) => {
          bytesRead[key]! += chunk.length;
          if (!meter.write(chunk)) source.pause();
        });
        meter.on('drain', () => source.resume());
        source.on('end', () => meter.end());
        source.on('error', (error) => meter.destroy(error));
        meter.on('close', () => source.destroy());
        return meter;
      };
    },
  });
  return { storage, bytesRead };
}

/** A gzip file of `members` × 1 MiB of `byte` (concatenated members): small on disk, huge inflated. */
export function gzipBomb(members: number, byte = 'x'): Buffer {
  const member = gzipSync(Buffer.alloc(1024 * 1024, byte), { level: 9 });
  return Buffer.concat(Array.from({ length: members }, () => member));
}

/** The same for `codec` (gzip or zstd): zstd needs 49 bytes per MiB, gzip about 1 KiB. */
export async function compressionBomb(codec: 'gzip' | 'zstd', members: number, byte = 'x'): Promise<Buffer> {
  if (codec === 'gzip') return gzipBomb(members, byte);
  const frame = await compressBytes(Buffer.alloc(1024 * 1024, byte), { codec: 'zstd', level: 19 });
  return Buffer.concat(Array.from({ length: members }, () => frame));
}
