export { defineConfig } from './config/config-schema.js';
export type { StrataConfig, ModuleConfig, EnvironmentConfig, ScopeConfig } from './config/config-schema.js';
export { loadConfig, resolveEnvironment, findConfigFile, interpolate, CONFIG_FILE_NAMES } from './config/config-loader.js';
export type { LoadedConfig, ResolvedEnvironment } from './config/config-loader.js';
export { resolveEncryption, type EncryptionConfig, type EnvironmentEncryption, type Keyring, type SealTo } from './config/encryption-config.js';
export {
  StrataError,
  ConfigError,
  DatabaseError,
  StorageError,
  IntegrityError,
  MigrationError,
  AbortedError,
  redactUrl,
  isNotFound,
} from './errors.js';
export { isStorageDriver } from './contracts/storage.js';
export { listTables, normaliseTableName, readSchemaInfo } from './db/pg-introspect.js';
export type { StorageDriver, StorageHookOptions, StorageHookResult } from './contracts/storage.js';
export { isTransformer } from './contracts/transformer.js';
export { isNotifier } from './contracts/notifier.js';
export { checkPlugins, PLUGIN_API_VERSION, type InstalledPlugin } from './plugins/plugin-check.js';
export type { NotificationEvent, NotifiedOperation, Notifier, NotifierConfig, NotifierHookOptions, NotifierHookResult } from './contracts/notifier.js';
export type {
  ColumnInfo,
  ForeignKeyInfo,
  RowValues,
  SchemaInfo,
  TableInfo,
  TableTransform,
  Transformer,
  TransformerHookOptions,
  TransformerHookResult,
} from './contracts/transformer.js';
export type { OperationContext, ProgressEvent } from './operation-context.js';
export { FORMAT_VERSION, MANIFEST_FILE, isAnonymized } from './format/manifest-schema.js';
export { CODECS, COMPRESSION_LEVELS, DEFAULT_COMPRESSION, type Codec, type Compression } from './format/compression.js';
export { decodeField, decodeRow, encodeField, encodeRow } from './format/copy-text.js';
export type { Manifest, TableEntry, ModuleEntry, SnapshotScope, TenantScope } from './format/manifest-schema.js';
export { snapshot } from './snapshot/snapshot-capture.js';
export { listSnapshots, showSnapshot, verifySnapshot } from './snapshot/snapshot-catalog.js';
export { copySnapshot, type CopySnapshotOptions, type CopySnapshotResult } from './snapshot/snapshot-copy.js';
export { rekeySnapshots, type RekeyOptions, type RekeyedSnapshot } from './snapshot/snapshot-rekey.js';
export { describeRecipients } from './snapshot/snapshot-encryption.js';
export type {
  SnapshotOptions,
  SnapshotResult,
  SnapshotSummary,
  VerifyResult,
  VerifyTableResult,
  CatalogContext,
  CaptureSelection,
} from './snapshot/snapshot-types.js';
export { restore } from './restore/restore-run.js';
export { resolveRestoreTarget } from './restore/restore-target.js';
export { checkRestoreArguments } from './restore/restore-rules.js';
export { moduleTablesAt, type ModuleTables } from './migrations/module-tables.js';
export type { RestoreOptions, RestoreReport, RestorePlan, RestoreTableResult } from './restore/restore-types.js';
export { planRetention, KEEP_TAG, type RetentionCandidate, type RetentionKeep, type RetentionPlan } from './retention/retention-plan.js';
export type { RetentionConfig } from './config/retention-config.js';
export type { RetentionPolicy } from './retention/retention-policy.js';
export { prune, type PruneOptions, type PruneResult } from './retention/prune.js';
export { runDoctor, type DoctorCheck, type DoctorInputs, type DoctorOutcome, type DoctorReport } from './doctor/doctor.js';
export { migrationStatus, migrateUp, runMigrations, planRestoreMigrations } from './migrations/migration-runner.js';
export { listMigrations, migrationKey, moduleTableName } from './migrations/migration-source.js';
export type { MigrationRef, ModuleMigrationStatus, RestoreMigrationPlan } from './migrations/migration-types.js';
export { connectClient, driverFor, endClient, withKnex } from './db/drivers.js';
export type { CopyInStream, DatabaseDriver, DatabaseServer, DbSession, Queryable, QueryResult } from './db/driver.js';
export { STRATA_VERSION } from './version.js';
export { promote, type PromoteOptions, type PromoteResult } from './promote/promote.js';
export type { HookStep, PromotionHooks } from './config/hooks-config.js';
export { HookError } from './promote/promote-hooks.js';
export { tablesLeftEmpty } from './restore/restore-run.js';
