// The public API of @strata/core: what scripts (promotions between environments, CI jobs) and
// plugins use. It is a choice, not the whole engine: test/api/public-api.test.ts lists every name
// and fails when one appears or disappears without that list changing with it.

// Configuration: write it, load it, pick an environment.
export { defineConfig } from './config/config-schema.js';
export type { StrataConfig, ModuleConfig, EnvironmentConfig, ScopeConfig } from './config/config-schema.js';
export { loadConfig, resolveEnvironment, findConfigFile, interpolate } from './config/config-loader.js';
export type { LoadedConfig, ResolvedEnvironment } from './config/config-loader.js';
export { resolveEncryption, type EncryptionConfig, type EnvironmentEncryption, type Keyring, type SealTo } from './config/encryption-config.js';
export type { HookStep, PromotionHooks } from './config/hooks-config.js';
export type { RetentionConfig } from './config/retention-config.js';

// Errors: every failure strata reports is one of these, with a code and a hint.
export { StrataError, ConfigError, DatabaseError, StorageError, IntegrityError, MigrationError, AbortedError } from './errors.js';
export { HookError } from './promote/promote-hooks.js';

// The operations, one function per command.
export type { OperationContext, ProgressEvent } from './operation-context.js';
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
export { withCapturedSchema, type CapturedSchema } from './snapshot/captured-schema.js';
export { restore } from './restore/restore-run.js';
export { checkRestoreRequest, type CheckedRestore } from './restore/restore-plan.js';
export type { RestoreOptions, RestoreReport, RestorePlan, RestoreTableResult, RestoreTargetKind } from './restore/restore-types.js';
export { planRetention, KEEP_TAG, type RetentionCandidate, type RetentionKeep, type RetentionPlan } from './retention/retention-plan.js';
export type { RetentionPolicy } from './retention/retention-policy.js';
export { prune, type PruneOptions, type PruneResult } from './retention/prune.js';
export { promote, type PromoteOptions, type PromoteResult } from './promote/promote.js';
export { migrationStatus, migrateUp } from './migrations/migration-runner.js';
export { runDoctor, type DoctorCheck, type DoctorInputs, type DoctorOutcome, type DoctorReport } from './doctor/doctor.js';
export type { MigrationRef, ModuleMigrationStatus, RestoreMigrationPlan } from './migrations/migration-types.js';

// The snapshot format, as docs/format.md describes it.
export { FORMAT_VERSION, MANIFEST_FILE, isAnonymized } from './format/manifest-schema.js';
export type { Manifest, TableEntry, ModuleEntry, SnapshotScope, TenantScope } from './format/manifest-schema.js';
export { CODECS, COMPRESSION_LEVELS, DEFAULT_COMPRESSION, type Codec, type Compression } from './format/compression.js';
export { STRATA_VERSION } from './version.js';

// Plugin contracts: what a storage, anonymizer or notifier plugin implements.
export { PLUGIN_API_VERSION, type InstalledPlugin } from './plugins/plugin-check.js';
export { isStorageDriver } from './contracts/storage.js';
export type { StorageDriver, StorageHookOptions, StorageHookResult } from './contracts/storage.js';
export { isTransformer } from './contracts/transformer.js';
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
export { isNotifier } from './contracts/notifier.js';
export type { NotificationEvent, NotifiedOperation, Notifier, NotifierConfig, NotifierHookOptions, NotifierHookResult } from './contracts/notifier.js';

// What a transformer plugin needs to read the database and a snapshot's rows the way core does
// (plugin-anonymize's `anonymize check` and `preview`).
export { driverFor } from './db/drivers.js';
export type { DatabaseDriver, DbSession, Queryable, QueryResult } from './db/driver.js';
export { listTables, normaliseTableName, readSchemaInfo } from './db/pg-introspect.js';
export { moduleTableName } from './migrations/migration-source.js';
export { decodeRow } from './format/copy-text.js';
