import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { exportsOf } from './exports.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const entry = new URL('../../packages/core/src/index.ts', import.meta.url);

/**
 * The public API of @strata/core, decided by hand: adding a name here is the decision to support it
 * for scripts and plugins. Everything else in packages/core/src is internal and may change.
 */
const PUBLIC_API: Record<string, 'value' | 'type'> = {
  // configuration
  defineConfig: 'value',
  loadConfig: 'value',
  resolveEnvironment: 'value',
  findConfigFile: 'value',
  interpolate: 'value',
  resolveEncryption: 'value',
  StrataConfig: 'type',
  ModuleConfig: 'type',
  EnvironmentConfig: 'type',
  ScopeConfig: 'type',
  LoadedConfig: 'type',
  ResolvedEnvironment: 'type',
  EncryptionConfig: 'type',
  EnvironmentEncryption: 'type',
  Keyring: 'type',
  SealTo: 'type',
  HookStep: 'type',
  PromotionHooks: 'type',
  RetentionConfig: 'type',
  // errors
  StrataError: 'value',
  ConfigError: 'value',
  DatabaseError: 'value',
  StorageError: 'value',
  IntegrityError: 'value',
  MigrationError: 'value',
  AbortedError: 'value',
  HookError: 'value',
  // operations
  OperationContext: 'type',
  ProgressEvent: 'type',
  snapshot: 'value',
  listSnapshots: 'value',
  showSnapshot: 'value',
  verifySnapshot: 'value',
  copySnapshot: 'value',
  rekeySnapshots: 'value',
  describeRecipients: 'value',
  withCapturedSchema: 'value',
  CapturedSchema: 'type',
  restore: 'value',
  checkRestoreRequest: 'value',
  CheckedRestore: 'type',
  planRetention: 'value',
  prune: 'value',
  promote: 'value',
  migrationStatus: 'value',
  migrateUp: 'value',
  runDoctor: 'value',
  DoctorCheck: 'type',
  DoctorInputs: 'type',
  DoctorOutcome: 'type',
  DoctorReport: 'type',
  KEEP_TAG: 'value',
  CopySnapshotOptions: 'type',
  CopySnapshotResult: 'type',
  RekeyOptions: 'type',
  RekeyedSnapshot: 'type',
  SnapshotOptions: 'type',
  SnapshotResult: 'type',
  SnapshotSummary: 'type',
  VerifyResult: 'type',
  VerifyTableResult: 'type',
  CatalogContext: 'type',
  CaptureSelection: 'type',
  RestoreOptions: 'type',
  RestoreReport: 'type',
  RestorePlan: 'type',
  RestoreTargetKind: 'type',
  RestoreTableResult: 'type',
  RetentionCandidate: 'type',
  RetentionKeep: 'type',
  RetentionPlan: 'type',
  RetentionPolicy: 'type',
  PruneOptions: 'type',
  PruneResult: 'type',
  PromoteOptions: 'type',
  PromoteResult: 'type',
  MigrationRef: 'type',
  ModuleMigrationStatus: 'type',
  RestoreMigrationPlan: 'type',
  // the snapshot format
  FORMAT_VERSION: 'value',
  MANIFEST_FILE: 'value',
  isAnonymized: 'value',
  CODECS: 'value',
  COMPRESSION_LEVELS: 'value',
  DEFAULT_COMPRESSION: 'value',
  STRATA_VERSION: 'value',
  Manifest: 'type',
  TableEntry: 'type',
  ModuleEntry: 'type',
  SnapshotScope: 'type',
  TenantScope: 'type',
  Codec: 'type',
  Compression: 'type',
  // plugin contracts
  PLUGIN_API_VERSION: 'value',
  InstalledPlugin: 'type',
  isStorageDriver: 'value',
  isTransformer: 'value',
  isNotifier: 'value',
  StorageDriver: 'type',
  StorageHookOptions: 'type',
  StorageHookResult: 'type',
  ColumnInfo: 'type',
  ForeignKeyInfo: 'type',
  RowValues: 'type',
  SchemaInfo: 'type',
  TableInfo: 'type',
  TableTransform: 'type',
  Transformer: 'type',
  TransformerHookOptions: 'type',
  TransformerHookResult: 'type',
  NotificationEvent: 'type',
  NotifiedOperation: 'type',
  Notifier: 'type',
  NotifierConfig: 'type',
  NotifierHookOptions: 'type',
  NotifierHookResult: 'type',
  // what a transformer plugin reads the database and snapshot rows with
  driverFor: 'value',
  listTables: 'value',
  normaliseTableName: 'value',
  readSchemaInfo: 'value',
  moduleTableName: 'value',
  decodeRow: 'value',
  DatabaseDriver: 'type',
  DbSession: 'type',
  Queryable: 'type',
  QueryResult: 'type',
};

/** Every name a file under `dir` imports from `@strata/core` (or core's index by path). */
async function namesImportedFromCore(dir: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const importFromCore = /import\s+(?:type\s+)?\{([^}]*)\}\s+from\s+['"](?:@strata\/core|[^'"]*packages\/core\/(?:src|dist)\/index(?:\.js)?)['"]/g;
  async function walk(folder: string): Promise<void> {
    for (const item of await readdir(folder, { withFileTypes: true })) {
      if (item.name === 'node_modules' || item.name === 'dist') continue;
      const file = path.join(folder, item.name);
      if (item.isDirectory()) await walk(file);
      else if (/\.(ts|js|mjs)$/.test(item.name)) {
        for (const match of (await readFile(file, 'utf8')).matchAll(importFromCore)) {
          for (const part of match[1].split(',')) {
            const name = part.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0];
            if (name && !found.has(name)) found.set(name, path.relative(root, file));
          }
        }
      }
    }
  }
  await walk(path.join(root, dir));
  return found;
}

describe('the public API of @strata/core', () => {
  const exported = exportsOf(entry);

  it('exports exactly the names chosen for scripts and plugins, each as a value or a type as chosen', () => {
    const unexpected = [...exported.keys()].filter((name) => !(name in PUBLIC_API));
    const missing = Object.keys(PUBLIC_API).filter((name) => !exported.has(name));
    const wrongKind = Object.entries(PUBLIC_API)
      .filter(([name, kind]) => exported.has(name) && exported.get(name) !== kind)
      .map(([name, kind]) => `${name} (chosen as ${kind}, exported as ${exported.get(name)})`);
    expect({ unexpected, missing, wrongKind }, 'index.ts and PUBLIC_API in this test disagree: change both or neither').toEqual({
      unexpected: [],
      missing: [],
      wrongKind: [],
    });
  });

  it('keeps engine internals out (the functions the commands and engine share among themselves)', () => {
    for (const internal of ['withKnex', 'connectClient', 'checkRestoreArguments', 'resolveRestoreTarget', 'runMigrations', 'checkPlugins', 'redactUrl', 'encodeRow']) {
      expect(exported.has(internal), `${internal} is internal`).toBe(false);
    }
  });

  it('has every name the first-party plugins, the example app and the scripts import from it', async () => {
    const used = new Map<string, string>();
    for (const dir of ['packages', 'examples', 'test']) {
      for (const [name, file] of await namesImportedFromCore(dir)) if (!used.has(name)) used.set(name, file);
    }
    expect(used.size).toBeGreaterThan(10);
    const notExported = [...used].filter(([name]) => !exported.has(name)).map(([name, file]) => `${name} (imported by ${file})`);
    expect(notExported).toEqual([]);
  });
});
