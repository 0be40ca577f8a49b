import { z } from 'zod';
import semver from 'semver';
import { CODECS, fileSuffix, type Codec } from './compression.js';

/**
 * The format version this build writes. Readers accept any version with the same major: an older
 * or equal minor is checked strictly (an unknown key means damage), a newer minor may add keys,
 * which are ignored. 1.1.0 added `rules` and `anonymizes` to `transformers` entries; 1.2.0 gave
 * `scope` its shape (tenant exports and selected tables); 1.3.0 added `rawBytes` to table entries;
 * 1.4.0 let `data.compression` be `zstd` or `none` besides `gzip`, added `data.level`, made the
 * data file's suffix follow the codec, added `encryption` (age; data files end in `.age`) and
 * `readerVersion` (a newer minor that older readers must refuse, not read in part).
 */
export const FORMAT_VERSION = '1.4.0';
/** The first format whose data files may be other than gzip. */
const FIRST_WITH_CODECS = '1.4.0';
/** Name of the manifest object inside a snapshot folder; written last. */
export const MANIFEST_FILE = 'manifest.json';

type ObjectFactory = typeof z.strictObject;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/** PostgreSQL's NAMEDATALEN - 1: a longer name is silently truncated by the server. */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * A name strata quotes into SQL (`quoteIdent`): one PostgreSQL identifier. Quotes, dots, slashes
 * and SQL text are legal inside a quoted identifier and stay a name; a NUL byte would cut the
 * statement short on the server, and a longer name would be truncated into another table's.
 */
const identifier = z
  .string()
  .min(1)
  .refine((name) => !name.includes('\0'), { message: 'must not contain a NUL character' })
  .refine((name) => Buffer.byteLength(name, 'utf8') <= MAX_IDENTIFIER_BYTES, {
    message: `must be a PostgreSQL identifier of at most ${MAX_IDENTIFIER_BYTES} bytes`,
  });

/** Snapshot ids are ULIDs; also the name of the snapshot's folder, so never a path. */
const snapshotId = z.string().regex(/^[A-Za-z0-9_-]+$/, { message: 'must be a snapshot id (letters, digits, _ and -)' });

/**
 * File name of a table's data inside the snapshot: derived from the names and the manifest's
 * codec, never taken from the manifest (`data/<schema>.<table>.copy.zst`, `.copy.gz`, `.copy`).
 * Dots and slashes inside names are percent-encoded so `a.b` + `c` and `a` + `b.c` never share a
 * file, and no name can reach outside `data/`.
 */
export function dataFileName(schema: string, table: string, codec: Codec, encrypted = false): string {
  const encode = (s: string): string => encodeURIComponent(s).replace(/\./g, '%2E');
  return `data/${encode(schema)}.${encode(table)}.copy${fileSuffix(codec)}${encrypted ? '.age' : ''}`;
}

const columnSchemaOf = (object: ObjectFactory) => object({
  name: identifier,
  /** `format_type()` of the column, e.g. `numeric(30,10)`, `public.mood`, `text[]`. */
  type: z.string(),
});

const tableEntrySchemaOf = (object: ObjectFactory) => object({
  schema: identifier,
  name: identifier,
  /** Path of the data file relative to the snapshot folder: always `dataFileName(schema, name, data.compression)`. */
  file: z.string(),
  /** Columns in the order they appear in the data file (generated columns are not captured). */
  columns: z.array(columnSchemaOf(object)),
  rows: z.number().int().nonnegative(),
  /** Size of the data file as stored (compressed). */
  bytes: z.number().int().nonnegative(),
  /**
   * Since 1.3: size of the data once decompressed (the COPY text). Reading stops at it, so a
   * file that inflates further (a gzip or zstd bomb) is refused before it costs more than that.
   */
  rawBytes: z.number().int().nonnegative().optional(),
  /** sha256 of the data file as stored (so `sha256sum` on the file agrees). */
  sha256,
  /**
   * Since 1.4, encrypted snapshots only, and only once opened (it is stored sealed, never in
   * clear): sha256 of the data file decrypted, i.e. of the compressed COPY text.
   */
  plainSha256: sha256.optional(),
}).superRefine((entry, ctx) => {
  // The file name depends on the manifest's codec too: it is checked with the whole manifest.
  const seen = new Set<string>();
  entry.columns.forEach((column, i) => {
    if (seen.has(column.name)) ctx.addIssue({ code: 'custom', path: ['columns', i, 'name'], message: `repeats column ${column.name}` });
    seen.add(column.name);
  });
});

const moduleEntrySchemaOf = (object: ObjectFactory) => object({
  /** Knex migrations table that held this module's history. */
  tableName: identifier,
  /** Last applied migration (file name as recorded by knex), or null if none was applied. */
  last: z.string().nullable(),
  /** Every applied migration, in the order they were applied. */
  applied: z.array(z.string()),
});

const sequenceEntrySchemaOf = (object: ObjectFactory) => object({
  schema: identifier,
  name: identifier,
  /** A bigint as text (it goes into `setval`). */
  lastValue: z.string().regex(/^-?\d{1,19}$/, { message: 'must be an integer' }),
  isCalled: z.boolean(),
});

/**
 * What part of the database a partial snapshot holds. `tenant`: the rows of one or more root rows
 * of a scope and everything they reach through foreign keys; `tables`: whole tables picked by
 * `--tables`/`--modules`.
 */
const scopeSchemaOf = (object: ObjectFactory) => z.discriminatedUnion('kind', [
  object({
    kind: z.literal('tenant'),
    /** The config's scope name, e.g. `company`. */
    name: z.string(),
    /** Root table (`schema.table`) and the unique column the values were matched against. */
    table: z.string(),
    key: z.string(),
    /**
     * The values given on the command line (`--scope company=Acme`), in order. Since 1.4 absent
     * from the stored manifest of an encrypted snapshot (they are data: sealed) until it is opened.
     */
    values: z.array(z.string()).optional(),
    /** Tables captured whole. */
    shared: z.array(z.string()),
    /** Tables no foreign key path reaches from the root rows: not captured at all. */
    leftOut: z.array(z.string()),
    /**
     * Foreign keys whose rows pointed at rows the scope does not capture (another tenant's, or
     * rows left out in turn). `nulled`: a nullable reference, set to NULL in the captured rows;
     * `excluded`: a NOT NULL reference, so the referencing rows were left out (`rows` of them):
     * another tenant's rows are never captured.
     */
    crossTenant: z.array(object({
      table: z.string(),
      columns: z.array(z.string()),
      references: z.string(),
      rows: z.number().int().nonnegative(),
      action: z.enum(['nulled', 'excluded']),
    })),
  }),
  object({
    kind: z.literal('tables'),
    /** The tables captured, `schema.table`. */
    tables: z.array(z.string()),
    /** The modules asked for with `--modules`, when that is how they were picked. */
    modules: z.array(z.string()).optional(),
  }),
]);

/** An age file, ASCII-armored, as age writes it; a snapshot key or a sealed part is a few KB. */
const armored = z
  .string()
  .max(1024 * 1024)
  .regex(/^-----BEGIN AGE ENCRYPTED FILE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END AGE ENCRYPTED FILE-----\s*$/, { message: 'must be an ASCII-armored age file' });

/**
 * Since 1.4: how an encrypted snapshot is sealed (see docs/format.md, "Encrypted snapshots"). The
 * data files are age files to a key made for this snapshot; `key` is that key, encrypted to the
 * recipients (or a passphrase); `sealed` holds what would tell about the data.
 */
const encryptionSchemaOf = (object: ObjectFactory) => object({
  scheme: z.literal('age-v1'),
  mode: z.enum(['recipients', 'passphrase']),
  /** Who can open it: fingerprints of the recipients' `age1…` strings, and the config's names. */
  recipients: z.array(object({ fingerprint: z.string().regex(/^sha256:[0-9a-f]{16}$/), name: z.string().optional() })),
  key: armored,
  sealed: armored,
});

const manifestSchemaOf = (object: ObjectFactory) => object({
  formatVersion: z.string().refine((v) => semver.valid(v) !== null && semver.major(v) === 1, {
    message: 'must be a 1.x semver',
  }),
  /**
   * Since 1.4: the oldest format a reader must know to read this snapshot, when that is newer than
   * the oldest 1.x reader (a newer minor that changes how files are read sets it; 1.4 never does).
   */
  readerVersion: z.string().refine((v) => semver.valid(v) !== null && semver.major(v) === 1, { message: 'must be a 1.x semver' }).optional(),
  id: snapshotId,
  project: z.string(),
  environment: z.string(),
  createdAt: z.iso.datetime({ offset: true }),
  description: z.string().optional(),
  tags: z.array(z.string()),
  createdBy: z.string(),
  strataVersion: z.string(),
  source: object({
    database: z.string(),
    host: z.string().optional(),
    serverVersion: z.string(),
  }),
  /** Layout of the data files. */
  data: object({
    format: z.literal('postgresql-copy-text'),
    /** gzip only before 1.4. */
    compression: z.enum(CODECS),
    /** Since 1.4: the level the files were compressed at (not needed to read them). */
    level: z.number().int().min(1).optional(),
    encoding: z.literal('UTF8'),
  }),
  modules: z.record(z.string(), moduleEntrySchemaOf(object)),
  tables: z.array(tableEntrySchemaOf(object)),
  sequences: z.array(sequenceEntrySchemaOf(object)),
  /** Tables left out by the config's `exclude`. */
  excluded: z.array(z.string()),
  /** Transformers applied while capturing (names and a hash of the rules, never secrets). */
  transformers: z.array(
    object({
      name: z.string(),
      rulesHash: z.string(),
      version: z.string(),
      /** Since 1.1: whether the transformer anonymizes (`requireAnonymized` accepts the snapshot). */
      anonymizes: z.boolean().optional(),
      /** Since 1.1: `schema.table[.column]` → rule name, without option values. */
      rules: z.record(z.string(), z.string()).optional(),
    }),
  ),
  /** Set for partial snapshots (tenant exports, selected tables); null for a full snapshot. */
  scope: scopeSchemaOf(object).nullable(),
  /** Since 1.4: set when the snapshot is encrypted. */
  encryption: encryptionSchemaOf(object).optional(),
}).superRefine((manifest, ctx) => {
  // Strict older-minor parsing refuses unknown keys, not new values of known ones: a manifest that
  // says it predates 1.4 and names another codec was not written by strata.
  if (semver.valid(manifest.formatVersion) && semver.lt(manifest.formatVersion, FIRST_WITH_CODECS)) {
    if (manifest.data.compression !== 'gzip') {
      ctx.addIssue({ code: 'custom', path: ['data', 'compression'], message: `must be gzip in a format ${manifest.formatVersion} manifest (${manifest.data.compression} came in ${FIRST_WITH_CODECS})` });
    }
    if (manifest.encryption !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['encryption'], message: `is not part of format ${manifest.formatVersion} (it came in ${FIRST_WITH_CODECS})` });
    }
    if (manifest.data.level !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['data', 'level'], message: `is not part of format ${manifest.formatVersion} (it came in ${FIRST_WITH_CODECS})` });
    }
    if (manifest.readerVersion !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['readerVersion'], message: `is not part of format ${manifest.formatVersion} (it came in ${FIRST_WITH_CODECS})` });
    }
  }
  if (manifest.data.compression === 'none' && manifest.data.level !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['data', 'level'], message: 'cannot be set when compression is none' });
  }
  // Two entries for one table would load it twice (or a second file over the first).
  const tables = new Set<string>();
  manifest.tables.forEach((t, i) => {
    const expected = dataFileName(t.schema, t.name, manifest.data.compression, manifest.encryption !== undefined);
    if (t.file !== expected) ctx.addIssue({ code: 'custom', path: ['tables', i, 'file'], message: `must be ${expected}, the file name of table ${t.schema}.${t.name}` });
    const key = JSON.stringify([t.schema, t.name]);
    if (tables.has(key)) ctx.addIssue({ code: 'custom', path: ['tables', i], message: `lists table ${t.schema}.${t.name} a second time` });
    tables.add(key);
  });
  // Only an encrypted snapshot keeps its tenant values sealed; a plain one must say them.
  if (manifest.scope?.kind === 'tenant' && manifest.scope.values === undefined && !manifest.encryption) {
    ctx.addIssue({ code: 'custom', path: ['scope', 'values'], message: 'is missing' });
  }
  const sequences = new Set<string>();
  manifest.sequences.forEach((s, i) => {
    const key = JSON.stringify([s.schema, s.name]);
    if (sequences.has(key)) ctx.addIssue({ code: 'custom', path: ['sequences', i], message: `lists sequence ${s.schema}.${s.name} a second time` });
    sequences.add(key);
  });
});

/** Manifests of this minor or older: every key known, anything else is damage. */
export const manifestSchemaV1 = manifestSchemaOf(z.strictObject);
/** Manifests of a newer 1.x minor: keys this build does not know are dropped. */
export const manifestSchemaV1Newer = manifestSchemaOf(z.object as unknown as ObjectFactory);
export const tableEntrySchema = tableEntrySchemaOf(z.strictObject);

export type Manifest = z.output<typeof manifestSchemaV1>;
export type TableEntry = z.output<typeof tableEntrySchema>;
export type ModuleEntry = Manifest['modules'][string];
export type SnapshotScope = NonNullable<Manifest['scope']>;
export type TenantScope = Extract<SnapshotScope, { kind: 'tenant' }>;
export type ManifestEncryption = NonNullable<Manifest['encryption']>;

/** Whether a snapshot was anonymized when it was captured. */
export function isAnonymized(manifest: Pick<Manifest, 'transformers'>): boolean {
  return manifest.transformers.some((t) => t.anonymizes === true);
}
