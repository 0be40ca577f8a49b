/**
 * A project name the config schema accepts (`^[a-z][a-z0-9_]*$`), derived from a directory name:
 * `My-App 2` → `my_app_2`, `2fa` → `app_2fa`.
 */
export function projectNameFrom(directoryName: string): string {
  let name = directoryName
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .replace(/_+/g, '_');
  if (name === '') return 'app';
  if (!/^[a-z]/.test(name)) name = `app_${name}`;
  return name;
}

/** The starter `strata.config.ts` that `strata init` writes: every key commented. */
export function renderInitConfig(project: string): string {
  return `// strata configuration. Docs: every key below is optional unless marked "required".
import { defineConfig } from '@strata/core';

export default defineConfig({
  // Required. Lower-case letters, digits and underscores: used in database names
  // (\`<project>_<env>_<YYYYMMDD>\`) and in storage paths (\`<storage>/<project>/<env>/<id>\`).
  project: '${project}',

  // Required. Each module has its own folder of knex migrations and its own history table
  // (default \`knex_migrations_<module>\`; set \`tableName: 'knex_migrations'\` to adopt an
  // existing knex app). Paths are relative to this file.
  modules: {
    example: { migrations: './migrations/example' },
  },

  // Required. Where each environment's database and snapshots are. \`\${VAR}\` is read from the
  // process environment when strata runs, so secrets stay out of this file.
  environments: {
    dev: {
      database: process.env.DATABASE_URL ? '\${DATABASE_URL}' : 'postgres://localhost/${project}_dev',
      // file:// keeps snapshots in a directory (relative to this file); s3://bucket/prefix keeps
      // them in S3 or any S3-compatible store (MinIO, R2), with credentials from the AWS chain.
      storage: 'file://./.strata/snapshots',
    },
    // prod: {
    //   database: '\${PROD_DATABASE_URL}',
    //   storage: { url: 's3://my-bucket/strata', region: 'eu-west-1' },   // endpoint, forcePathStyle,
    //   // credentials: { accessKeyId: '\${PROD_S3_KEY}', secretAccessKey: '\${PROD_S3_SECRET}' }, sse: 'aws:kms', kmsKeyId…
    // },
  },

  // Tables never captured: \`table\` (schema public) or \`schema.table\`.
  exclude: ['example_sessions'],

  // How data files are compressed: 'zstd' (the default, level 1), 'gzip' or 'none', or
  // { codec: 'zstd', level: 3 } (gzip 1-9, zstd 1-19). An environment may set its own.
  // compression: 'zstd',
});
`;
}
