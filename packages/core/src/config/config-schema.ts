import { z } from 'zod';

import { CODECS, compressionProblem, type Compression } from '../format/compression.js';
import { encryptionConfigSchema } from './encryption-config.js';
import { hooksSchema } from './hooks-config.js';
import { RETENTION_SPAN } from './retention-config.js';

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** One module of the application: a folder of knex migrations with its own history table. */
export const moduleConfigSchema = z.strictObject({
  /** Folder of migration files (`.js`, `.mjs`, `.cjs`, `.ts`), relative to the config file. */
  migrations: z.string().min(1),
  /**
   * The knex migrations table holding this module's history. Defaults to
   * `knex_migrations_<module>`; set it to `knex_migrations` to adopt an existing knex app.
   */
  tableName: z.string().regex(identifier).optional(),
});

/**
 * A tenant scope (`strata snapshot --scope company=Acme`): the root table, the unique column the
 * value on the command line is matched against (the primary key by default), and the tables
 * captured whole because every tenant shares them (lookups such as `country`).
 */
export const scopeConfigSchema = z.strictObject({
  /** Root table: `table` (schema public) or `schema.table`. */
  table: z.string().min(1),
  /** A unique column of the root table; default its (single-column) primary key. */
  key: z.string().min(1).optional(),
  /** Tables captured whole and not followed further (`table` or `schema.table`). */
  shared: z.array(z.string().min(1)).default([]),
});

/** A storage location: a URL, or an object with a URL and driver-specific options. */
export const storageConfigSchema = z.union([
  z.string().min(1),
  z.looseObject({ url: z.string().min(1) }),
]);

/**
 * How snapshots store their data files: `'zstd'` (the default, level 1), `'gzip'`, `'none'`, or
 * `{ codec, level }` (gzip 1–9, zstd 1–19). Parsed into `{ codec, level? }`.
 */
export const compressionConfigSchema = z
  .union([z.enum(CODECS), z.strictObject({ codec: z.enum(CODECS), level: z.number().optional() })])
  .transform((value): Compression => (typeof value === 'string' ? { codec: value } : value))
  .superRefine((c, ctx) => {
    const problem = compressionProblem(c);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** One environment (dev, staging, prod…): where its database and its snapshots are. */
export const environmentConfigSchema = z.looseObject({
  /** PostgreSQL connection URL; `${VAR}` is replaced from the process environment. */
  database: z.string().min(1),
  /** Storage URL (`file://…`, `s3://…`) or `{ url, …options }`. */
  storage: storageConfigSchema,
  /**
   * Only anonymized data may be restored here: a snapshot that was not anonymized when captured
   * is refused unless the restore masks it on the way in (`--anonymize`).
   */
  requireAnonymized: z.boolean().optional(),
  /** Compression of snapshots taken here (and of restore's safety snapshots); wins over the top-level key. */
  compression: compressionConfigSchema.optional(),
  /**
   * Who hears how snapshot, restore, promote and prune end: targets handled by notifier plugins
   * (`{ type: 'webhook', url }`, `{ type: 'email', smtp, from, to }`), each with `on: ['failed',
   * 'succeeded']` (default both). `${VAR}` is read when a notification is sent.
   */
  /** How restores into this environment behave: `exclude` lists tables left empty (`--exclude-table`). */
  restore: z.strictObject({ exclude: z.array(z.string().min(1)).optional() }).optional(),
  /**
   * Before and after restores of a promotion into this environment: SQL files run on the database
   * (`"scrub.sql"` or `{ sql }`, relative to the config) or shell commands (`{ run }`).
   */
  hooks: hooksSchema.optional(),
  /**
   * Plugins this environment needs, with semver ranges (`{ "@strata/plugin-s3": "^0.1.0" }`):
   * every command for it refuses to run, naming the install command, when one is missing or
   * outside its range.
   */
  plugins: z.record(z.string().min(1), z.string().min(1)).optional(),
  /**
   * Client-side encryption (age): `recipients` (`age1…`, or `{ key, name }`) or `passphrase`
   * (`${VAR}`) seal new snapshots; `identities` (`${VAR}` or an identity file) opens them.
   */
  encryption: encryptionConfigSchema.optional(),
  notify: z
    .array(z.looseObject({ type: z.string().min(1), on: z.array(z.enum(['succeeded', 'failed'])).min(1).optional() }))
    .optional(),
  /**
   * What `strata prune` keeps when no `--keep-*` flag is given: the flags' names in camelCase
   * (`keepWithin: '30d'` is `--keep-within 30d`). Any flag on the command line replaces this
   * section as a whole.
   */
  retention: z
    .strictObject({
      keepLast: z.int().min(1).optional(),
      keepWithin: z.string().regex(RETENTION_SPAN, 'must be a number and a unit: 12h, 30d, 2w, 6m (months) or 1y').optional(),
      keepDaily: z.int().min(1).optional(),
      keepWeekly: z.int().min(1).optional(),
      keepMonthly: z.int().min(1).optional(),
      keepYearly: z.int().min(1).optional(),
    })
    .optional(),
});

/**
 * The whole config file. Unknown top-level keys are kept (later features and plugins read their
 * own sections), but the keys core knows are validated strictly.
 */
export const strataConfigSchema = z.looseObject({
  /** Project name, used in database names and storage paths. */
  project: z
    .string()
    .regex(/^[a-z][a-z0-9_]*$/, 'must be lower-case letters, digits and underscores, starting with a letter'),
  modules: z.record(z.string().regex(identifier), moduleConfigSchema).refine((m) => Object.keys(m).length > 0, {
    message: 'must name at least one module',
  }),
  environments: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), environmentConfigSchema),
  /** Tables never captured: `table` (schema public) or `schema.table`. */
  exclude: z.array(z.string().min(1)).default([]),
  /** Compression of every environment's snapshots, unless the environment sets its own. */
  compression: compressionConfigSchema.optional(),
  /** Named tenant scopes for `snapshot --scope NAME=VALUE`. */
  scopes: z.record(z.string().regex(identifier), scopeConfigSchema).optional(),
});

export type ModuleConfig = z.input<typeof moduleConfigSchema>;
export type ScopeConfig = z.output<typeof scopeConfigSchema>;
export type EnvironmentConfig = z.input<typeof environmentConfigSchema>;
/** One environment's section after validation (compression parsed, hooks checked). */
export type ParsedEnvironmentConfig = z.output<typeof environmentConfigSchema>;
/** The config as a user writes it (what `defineConfig` accepts). */
export type StrataConfig = z.input<typeof strataConfigSchema>;
/** The config after validation and defaults. */
export type ParsedStrataConfig = z.output<typeof strataConfigSchema>;

/** Identity function that gives a TypeScript config its types: `export default defineConfig({…})`. */
export function defineConfig(config: StrataConfig): StrataConfig {
  return config;
}
