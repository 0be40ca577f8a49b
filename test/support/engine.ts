import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { withKnex } from '../../packages/core/src/db/drivers.js';
import { migrateUp, type LoadedConfig, type OperationContext, type ResolvedEnvironment } from '../../packages/core/src/index.js';
import type { Codec } from '../../packages/core/src/format/compression.js';
import { decompressBytes } from './data-files.js';
import { LocalStorage } from '../../packages/plugin-local/src/local-storage.js';

/** A throw-away strata project in a temp dir: one module whose migrations are given as source. */
export interface EngineProject {
  dir: string;
  config: LoadedConfig;
  /** A context for the core functions, on `databaseUrl`, with snapshots under `dir/snapshots`. */
  context(databaseUrl: string, extra?: Partial<OperationContext>): OperationContext & { warnings: string[] };
  /** Applies every pending migration of the project to `databaseUrl`. */
  migrate(databaseUrl: string): Promise<void>;
}

/**
 * Writes `migrations` (file name → ESM source) for module `app` into a temp dir and returns a
 * config for it, as `loadConfig` would have produced. `modules` adds more modules, each with its
 * own folder and history table (`knex_migrations_<module>`); `scopes` is the config's section.
 */
export async function engineProject(
  migrations: Record<string, string>,
  options: { exclude?: string[]; modules?: Record<string, Record<string, string>>; scopes?: LoadedConfig['scopes'] } = {},
): Promise<EngineProject> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-engine-'));
  const modules: LoadedConfig['modules'] = {};
  for (const [module, files] of Object.entries({ app: migrations, ...options.modules })) {
    if (module === 'app' && Object.keys(files).length === 0 && options.modules) continue;
    const migrationsDir = path.join(dir, module === 'app' ? 'migrations' : `migrations-${module}`);
    await mkdir(migrationsDir);
    for (const [name, source] of Object.entries(files)) await writeFile(path.join(migrationsDir, name), source);
    modules[module] = { migrations: migrationsDir };
  }
  const config: LoadedConfig = {
    project: 'rt',
    modules,
    environments: { test: { database: 'unused', storage: 'file://./snapshots' } },
    exclude: options.exclude ?? [],
    ...(options.scopes ? { scopes: options.scopes } : {}),
    configPath: path.join(dir, 'strata.config.json'),
    baseDir: dir,
  };
  const storage = new LocalStorage(path.join(dir, 'snapshots'));
  return {
    dir,
    config,
    context(databaseUrl, extra = {}) {
      const env: ResolvedEnvironment = { name: 'test', databaseUrl, storageUrl: 'file://./snapshots', storageOptions: {} };
      const warnings: string[] = [];
      return { config, env, storage, log: (level, message) => level === 'warn' && warnings.push(message), warnings, ...extra };
    },
    async migrate(databaseUrl) {
      await withKnex(databaseUrl, (knex) => migrateUp(knex, config));
    },
  };
}

/** Path on disk of snapshot `id`'s data file of table `public.<table>`, as its manifest names it (the suffix follows the codec). */
export async function dataFilePath(project: EngineProject, id: string, table: string): Promise<string> {
  return (await dataFileOf(project, id, table)).file;
}

/** The COPY text of snapshot `id`'s table `public.<table>`, decompressed with the manifest's codec. */
export async function readDataText(project: EngineProject, id: string, table: string): Promise<string> {
  const { file, codec } = await dataFileOf(project, id, table);
  return (await decompressBytes(await readFile(file), codec)).toString('utf8');
}

async function dataFileOf(project: EngineProject, id: string, table: string): Promise<{ file: string; codec: Codec }> {
  const folder = path.join(project.dir, 'snapshots', 'rt', 'test', id);
  const manifest = JSON.parse(await readFile(path.join(folder, 'manifest.json'), 'utf8')) as {
    data: { compression: Codec };
    tables: Array<{ schema: string; name: string; file: string }>;
  };
  const entry = manifest.tables.find((t) => t.schema === 'public' && t.name === table);
  if (!entry) throw new Error(`snapshot ${id} has no table public.${table}`);
  return { file: path.join(folder, entry.file), codec: manifest.data.compression };
}

/** Flips one byte in the middle of a snapshot's data file of `table` (in the project's own storage): a damaged file. */
export async function damageDataFile(project: EngineProject, id: string, table: string): Promise<string> {
  const file = await dataFilePath(project, id, table);
  const bytes = await readFile(file);
  bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
  await writeFile(file, bytes);
  return file;
}
