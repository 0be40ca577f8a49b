// A scripted promotion with strata's API instead of its CLI: what a CI job would run to refresh
// staging from production every night, with its own checks around it.
//
//   npx tsx examples/shop/scripts/promote.ts --from prod --to staging [--config strata.config.ts] [--fresh] [--database NAME]
//
// The storages come from the same plugins the CLI bundles (file:// and s3://), and the result is
// typed: the script decides what to print, what to check and when to fail.
import { parseArgs } from 'node:util';

import {
  interpolate,
  loadConfig,
  promote,
  resolveEnvironment,
  type LoadedConfig,
  type OperationContext,
  type ResolvedEnvironment,
  type StorageDriver,
  type Transformer,
} from '@strata/core';
import { transformerHook } from '@strata/plugin-anonymize';
import { storageHook as fileStorage } from '@strata/plugin-local';
import { storageHook as s3Storage } from '@strata/plugin-s3';

const { values } = parseArgs({
  options: {
    from: { type: 'string', default: 'prod' },
    to: { type: 'string', default: 'staging' },
    config: { type: 'string' },
    fresh: { type: 'boolean', default: false },
    database: { type: 'string' },
  },
});

/** The environment's storage, from whichever bundled plugin handles its URL. */
async function storageOf(config: LoadedConfig, env: ResolvedEnvironment): Promise<StorageDriver> {
  for (const hook of [fileStorage, s3Storage]) {
    const driver = await hook({ url: env.storageUrl, baseDir: config.baseDir, options: env.storageOptions });
    if (driver) return driver;
  }
  throw new Error(`no storage plugin handles ${env.storageUrl}`);
}

async function contextOf(config: LoadedConfig, name: string): Promise<OperationContext> {
  const env = resolveEnvironment(config, name);
  return { config, env, storage: await storageOf(config, env), log: (level, message) => console.error(`${level}: ${message}`) };
}

/** The config's masking rules, when the target accepts only anonymized data. */
async function maskingFor(config: LoadedConfig, env: ResolvedEnvironment): Promise<Transformer | undefined> {
  if (env.requireAnonymized !== true) return undefined;
  return transformerHook({ strataConfig: config as unknown as Record<string, unknown>, environment: env.name, baseDir: config.baseDir, interpolate });
}

const config = await loadConfig(values.config ? { configPath: values.config } : {});
const from = await contextOf(config, values.from);
const to = await contextOf(config, values.to);
try {
  const transformer = await maskingFor(config, to.env);
  const result = await promote({
    from,
    to,
    fresh: values.fresh,
    ...(transformer ? { transformer } : {}),
    ...(values.database ? { database: values.database } : {}),
  });
  const report = result.restore!;
  const rows = report.tables.reduce((n, t) => n + t.rows, 0);
  // A check of the script's own: a promotion that loads nothing is not worth keeping quiet about.
  if (rows === 0) throw new Error(`snapshot ${result.snapshotId} restored no rows into ${report.database}`);
  console.log(JSON.stringify({ snapshot: result.snapshotId, database: report.database, tables: report.tables.length, rows, copy: result.copy }));
} finally {
  await from.storage.close?.();
  await to.storage.close?.();
}
