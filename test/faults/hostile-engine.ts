// The engine side of the hostile-snapshot tests: one source database with tables named like SQL
// and paths, one real snapshot of it, and per test a private copy of that snapshot to damage with
// a context on it (storage reads metered) and the world recorded around it.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';

import type { OperationContext, StorageDriver } from '../../packages/core/src/index.js';
import { copyGuardLimits } from '../../packages/core/src/format/copy-guard.js';
import { snapshot } from '../engine/engine-imports.js';
import { LocalStorage } from '../../packages/plugin-local/src/local-storage.js';
import { createTestDatabase, dropDatabase, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';
import { copySnapshot as copyFolder, expectWorldUnchanged, meteredStorage, recordWorld, tableChecksums, type SnapshotCopy, type World } from './hostile-support.js';

/** Names that are legal in PostgreSQL and look like SQL or paths: they must stay names. */
export const ODD_TABLE = `we"ird'; DROP TABLE parent; --`;
export const ODD_COLUMN = `co"l'; DROP TABLE child; --`;

const SQL = `
  CREATE TABLE parent (id serial PRIMARY KEY, label text NOT NULL);
  CREATE TABLE child (id integer PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent(id), note text);
  CREATE TABLE "we""ird'; DROP TABLE parent; --" (id integer PRIMARY KEY, "co""l'; DROP TABLE child; --" text);
  CREATE SCHEMA "..";
  CREATE TABLE "..".".." (id integer PRIMARY KEY, "x/y" text);
  CREATE TABLE "../../etc/passwd" (id integer PRIMARY KEY);
  INSERT INTO parent (label) SELECT 'p' || g FROM generate_series(1, 200) g;
  INSERT INTO child SELECT g, 1 + g % 200, md5(g::text) FROM generate_series(1, 50000) g;
  INSERT INTO "we""ird'; DROP TABLE parent; --" VALUES (1, 'a''b"c'), (2, 'DROP TABLE child;');
  INSERT INTO "..".".." VALUES (1, '../..');
  INSERT INTO "../../etc/passwd" VALUES (1), (2), (3);
`;
const SCHEMA = `export async function up(knex) { await knex.raw(${JSON.stringify(SQL)}); }\nexport async function down() {}\n`;

/** A private copy of the snapshot, a context on it (reads metered), and the world before anything runs. */
export interface Scene extends SnapshotCopy {
  ctx: OperationContext & { warnings: string[] };
  bytesRead: Record<string, number>;
  /** The storage key of table `name`'s data file. */
  keyOf(name: string): Promise<string>;
  /** Records the world; call after tampering, before running strata. */
  record(outside?: string[]): Promise<void>;
  expectUnchanged(): Promise<void>;
  /** A database name for a restore that must fail (dropped afterwards if it did not). */
  target(label: string): string;
}

/** The source, the snapshot and `scene()`; hooks registered for the calling test file. */
export interface HostileEngine {
  readonly source: TestDatabase;
  /** Id of the pristine snapshot (every scene's copy has it). */
  readonly id: string;
  scene(): Promise<Scene>;
}

/**
 * Registers beforeAll/afterEach/afterAll hooks: a source database `strata_test_<prefix>_…` with
 * the schema above, one snapshot of it; each test's copies and databases are removed afterwards,
 * and `copyGuardLimits` put back after each test that lowered them.
 */
export function useHostileEngine(prefix: string): HostileEngine {
  let source: TestDatabase | undefined;
  let project: EngineProject | undefined;
  let id: string | undefined;
  const created: string[] = [];
  const copies: SnapshotCopy[] = [];
  const savedLimits = { ...copyGuardLimits };

  beforeAll(async () => {
    source = await createTestDatabase(prefix);
    project = await engineProject({ '20240101000000_schema.mjs': SCHEMA });
    await project.migrate(source.url);
    id = (await snapshot(project.context(source.url))).id;
  });
  afterEach(() => {
    Object.assign(copyGuardLimits, savedLimits);
  });
  afterAll(async () => {
    for (const name of created) await dropDatabase(name);
    for (const copy of copies) await copy.remove();
    await source?.drop();
    if (project) await rm(project.dir, { recursive: true, force: true });
  });

  return {
    get source() {
      return source!;
    },
    get id() {
      return id!;
    },
    async scene() {
      const db = source!;
      const copy = await copyFolder(path.join(project!.dir, 'snapshots'), 'rt', 'test', id!);
      copies.push(copy);
      const { storage, bytesRead } = meteredStorage(new LocalStorage(copy.root));
      let before: World | undefined;
      return {
        ...copy,
        ctx: project!.context(db.url, { storage: storage as StorageDriver }),
        bytesRead,
        async keyOf(name) {
          return `rt/test/${id!}/${copy.table(await copy.readManifest(), name).file}`;
        },
        async record(outside = []) {
          before = await recordWorld(db.name, db.url, copy.dir, outside);
        },
        async expectUnchanged() {
          expect(before, 'record() was not called').toBeDefined();
          await expectWorldUnchanged(before!, db.name, db.url, copy.dir);
        },
        target(label) {
          const name = `${db.name}_${label}`;
          created.push(name);
          return name;
        },
      };
    },
  };
}

/** Awaits `run` and returns its rejection (failing when it resolves). */
export async function refusal(run: Promise<unknown>): Promise<Error & { code?: string; exitCode?: number; hint?: string }> {
  let error: unknown;
  await run.then(
    () => {},
    (e: unknown) => (error = e),
  );
  expect(error, 'it succeeded').toBeInstanceOf(Error);
  return error as Error & { code?: string; exitCode?: number };
}

/** Row checksums of the application tables (the knex history tables hold run times, which differ). */
export async function dataChecksums(url: string): Promise<Record<string, string>> {
  return Object.fromEntries(Object.entries(await tableChecksums(url)).filter(([name]) => !name.includes('knex_migrations')));
}
