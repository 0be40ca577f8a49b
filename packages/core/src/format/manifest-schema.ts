import { z } from 'zod';
import semver from 'semver';

/** The format version this build writes. Readers accept any version with the same major. */
export const FORMAT_VERSION = '1.0.0';
/** Name of the manifest object inside a snapshot folder; written last. */
export const MANIFEST_FILE = 'manifest.json';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

export const columnSchema = z.strictObject({
  name: z.string(),
  /** `format_type()` of the column, e.g. `numeric(30,10)`, `public.mood`, `text[]`. */
  type: z.string(),
});

export const tableEntrySchema = z.strictObject({
  schema: z.string(),
  name: z.string(),
  /** Path of the data file relative to the snapshot folder. */
  file: z.string(),
  /** Columns in the order they appear in the data file (generated columns are not captured). */
  columns: z.array(columnSchema),
  rows: z.number().int().nonnegative(),
  /** Size of the data file as stored (compressed). */
  bytes: z.number().int().nonnegative(),
  /** sha256 of the data file as stored (so `sha256sum` on the file agrees). */
  sha256,
});

export const moduleEntrySchema = z.strictObject({
  /** Knex migrations table that held this module's history. */
  tableName: z.string(),
  /** Last applied migration (file name as recorded by knex), or null if none was applied. */
  last: z.string().nullable(),
  /** Every applied migration, in the order they were applied. */
  applied: z.array(z.string()),
});

export const sequenceEntrySchema = z.strictObject({
  schema: z.string(),
  name: z.string(),
  lastValue: z.string(),
  isCalled: z.boolean(),
});

export const manifestSchemaV1 = z.strictObject({
  formatVersion: z.string().refine((v) => semver.valid(v) !== null && semver.major(v) === 1, {
    message: 'must be a 1.x semver',
  }),
  id: z.string().min(1),
  project: z.string(),
  environment: z.string(),
  createdAt: z.iso.datetime({ offset: true }),
  description: z.string().optional(),
  tags: z.array(z.string()),
  createdBy: z.string(),
  strataVersion: z.string(),
  source: z.strictObject({
    database: z.string(),
    host: z.string().optional(),
    serverVersion: z.string(),
  }),
  /** Layout of the data files. */
  data: z.strictObject({
    format: z.literal('postgresql-copy-text'),
    compression: z.literal('gzip'),
    encoding: z.literal('UTF8'),
  }),
  modules: z.record(z.string(), moduleEntrySchema),
  tables: z.array(tableEntrySchema),
  sequences: z.array(sequenceEntrySchema),
  /** Tables left out by the config's `exclude`. */
  excluded: z.array(z.string()),
  /** Transformers applied while capturing (names and a hash of the rules, never secrets). */
  transformers: z.array(z.strictObject({ name: z.string(), rulesHash: z.string(), version: z.string() })),
  /** Set for partial snapshots (tenant exports, selected tables); null for a full snapshot. */
  scope: z.record(z.string(), z.unknown()).nullable(),
});

export type Manifest = z.output<typeof manifestSchemaV1>;
export type TableEntry = z.output<typeof tableEntrySchema>;
export type ModuleEntry = z.output<typeof moduleEntrySchema>;
