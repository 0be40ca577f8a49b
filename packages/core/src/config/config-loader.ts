import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { ConfigError } from '../errors.js';
import { DEFAULT_COMPRESSION, type Codec, type Compression } from '../format/compression.js';
import { strataConfigSchema, type ParsedEnvironmentConfig, type ParsedStrataConfig } from './config-schema.js';
import { resolveEncryption, type EnvironmentEncryption } from './encryption-config.js';
import type { PromotionHooks } from './hooks-config.js';
import type { RetentionConfig } from './retention-config.js';

/** File names looked for, in this order, when no `--config` is given. */
export const CONFIG_FILE_NAMES = [
  'strata.config.ts',
  'strata.config.mts',
  'strata.config.js',
  'strata.config.mjs',
  'strata.config.cjs',
  'strata.config.json',
] as const;

/** A validated config, with the file it came from. Migration folders are absolute. */
export interface LoadedConfig extends ParsedStrataConfig {
  /** Absolute path of the config file. */
  configPath: string;
  /** Directory of the config file; relative paths in the config resolve against it. */
  baseDir: string;
}

/** One environment with `${VAR}` references replaced from the process environment. */
export interface ResolvedEnvironment {
  name: string;
  /** PostgreSQL URL (may hold a password: never print it, use `redactUrl`). */
  databaseUrl: string;
  storageUrl: string;
  /** Driver options when the config gave `storage` as an object (without `url`). */
  storageOptions: Record<string, unknown>;
  /**
   * How this environment's snapshots are encrypted and opened (`resolveEnvironment` always sets
   * it). Without an `encryption` section new snapshots are plain, and keys come from
   * STRATA_AGE_KEY & co.; an environment built by hand without it reads those variables too.
   */
  encryption?: EnvironmentEncryption;
  /** Only anonymized data may be restored here (`requireAnonymized: true`). */
  requireAnonymized?: boolean;
  /** This environment's own compression, parsed; `compressionOf` falls back to the top level. */
  compression?: Compression;
  /** How restores into this environment behave: `exclude` lists tables left empty. */
  restore?: ParsedEnvironmentConfig['restore'];
  /** Steps run before and after restores of a promotion into this environment, parsed. */
  hooks?: PromotionHooks;
  /** Plugins this environment needs, with semver ranges. */
  plugins?: Record<string, string>;
  /** Notification targets as written: `${VAR}` is read when a notification is sent. */
  notify?: ParsedEnvironmentConfig['notify'];
  /** What `strata prune` keeps when no `--keep-*` flag is given. */
  retention?: RetentionConfig;
}

/** Finds the config file: `configPath` if given, else the first of CONFIG_FILE_NAMES in `cwd`. */
export function findConfigFile(options: { configPath?: string; cwd?: string } = {}): string {
  const cwd = options.cwd ?? process.cwd();
  if (options.configPath) {
    const file = path.resolve(cwd, options.configPath);
    if (!existsSync(file)) {
      throw new ConfigError(`The config file ${file} does not exist.`, {
        code: 'config-not-found',
        hint: 'Check the --config path, or run `strata init` to write a starter config.',
      });
    }
    return file;
  }
  for (const name of CONFIG_FILE_NAMES) {
    const file = path.join(cwd, name);
    if (existsSync(file)) return file;
  }
  throw new ConfigError(`No strata config found in ${cwd}.`, {
    code: 'config-not-found',
    hint: 'Run `strata init` to write a starter strata.config.ts, or pass --config PATH.',
  });
}

/**
 * Loads and validates the config. TypeScript configs load without a build step (through tsx).
 * Relative migration folders are resolved against the config's directory.
 */
export async function loadConfig(options: { configPath?: string; cwd?: string } = {}): Promise<LoadedConfig> {
  const configPath = findConfigFile(options);
  const raw = await importConfigFile(configPath);
  const parsed = strataConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'the config';
    throw new ConfigError(`The config ${path.basename(configPath)} is invalid: ${where} ${issue?.message ?? ''}.`.replace(/\.\.$/, '.'), {
      code: 'config-invalid',
      hint: `Fix ${configPath}; \`strata init\` prints a commented example of every key.`,
    });
  }
  const baseDir = path.dirname(configPath);
  const modules = Object.fromEntries(
    Object.entries(parsed.data.modules).map(([name, mod]) => [
      name,
      { ...mod, migrations: path.resolve(baseDir, mod.migrations) },
    ]),
  );
  return { ...parsed.data, modules, configPath, baseDir };
}

async function importConfigFile(file: string): Promise<unknown> {
  try {
    if (file.endsWith('.json')) return JSON.parse(await readFile(file, 'utf8'));
    const mod = await importModule(file);
    // A TS config in a CommonJS package comes back as { default: { default: config } }.
    let value: unknown = mod;
    for (let i = 0; i < 2 && value && typeof value === 'object' && 'default' in value; i++) {
      value = (value as { default: unknown }).default;
    }
    return value;
  } catch (error) {
    throw new ConfigError(`The config ${path.basename(file)} could not be loaded: ${firstLine(error)}.`, {
      code: 'config-unreadable',
      hint: `Fix ${file} so that it loads with node and exports the config as its default export.`,
      cause: error,
    });
  }
}

/**
 * Imports a JS or TS file. TypeScript goes through tsx's loader so configs and migrations need no
 * build step, in plain node as well as under a test runner.
 */
export async function importModule(file: string): Promise<Record<string, unknown>> {
  if (/\.(c|m)?ts$/.test(file)) {
    const { tsImport } = await import('tsx/esm/api');
    return (await tsImport(pathToFileURL(file).href, import.meta.url)) as Record<string, unknown>;
  }
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? message).replace(/\.$/, '');
}

/** Replaces `${VAR}` with the process environment's value; a missing variable is an error. */
export function interpolate(value: string, where: string, env: NodeJS.ProcessEnv = process.env): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const found = env[name];
    if (found === undefined) {
      throw new ConfigError(`${where} uses \${${name}}, which is not set.`, {
        code: 'config-variable-missing',
        hint: `Export ${name} in the environment before running strata.`,
      });
    }
    return found;
  });
}

/**
 * Picks an environment: `name`, else `STRATA_ENV`, else `dev`, and interpolates its URLs.
 */
export function resolveEnvironment(config: LoadedConfig, name?: string): ResolvedEnvironment {
  const envName = name ?? process.env.STRATA_ENV ?? 'dev';
  const env = config.environments[envName];
  if (!env) {
    const known = Object.keys(config.environments);
    throw new ConfigError(`The environment "${envName}" is not defined in ${path.basename(config.configPath)}.`, {
      code: 'environment-unknown',
      hint: known.length > 0 ? `Use --env with one of: ${known.join(', ')}.` : 'Add it under `environments` in the config.',
    });
  }
  const storage = typeof env.storage === 'string' ? { url: env.storage } : env.storage;
  const { url: storageUrl, ...storageOptions } = storage;
  return {
    name: envName,
    databaseUrl: interpolate(env.database, `environments.${envName}.database`),
    storageUrl: interpolate(storageUrl, `environments.${envName}.storage`),
    storageOptions: interpolateDeep(storageOptions, `environments.${envName}.storage`) as Record<string, unknown>,
    encryption: resolveEncryption(env.encryption, `environments.${envName}.encryption`, config.baseDir),
    // The sections the schema parsed, handed on typed: nothing downstream reads the section itself.
    ...(env.requireAnonymized !== undefined ? { requireAnonymized: env.requireAnonymized } : {}),
    ...(env.compression !== undefined ? { compression: env.compression } : {}),
    ...(env.restore !== undefined ? { restore: env.restore } : {}),
    ...(env.hooks !== undefined ? { hooks: env.hooks } : {}),
    ...(env.plugins !== undefined ? { plugins: env.plugins } : {}),
    ...(env.notify !== undefined ? { notify: env.notify } : {}),
    ...(env.retention !== undefined ? { retention: env.retention } : {}),
  };
}

/**
 * The compression snapshots of `env` are written with: the environment's own `compression`, else
 * the config's top-level one, else `DEFAULT_COMPRESSION` (zstd level 1). Checked by the caller
 * (`resolveCompression`).
 */
export function compressionOf(config: Pick<ParsedStrataConfig, 'compression'>, env: Pick<ResolvedEnvironment, 'compression'>): Codec | Compression {
  return env.compression ?? config.compression ?? DEFAULT_COMPRESSION;
}

/** Interpolates `${VAR}` in every string of a value (objects and arrays included). */
export function interpolateDeep(value: unknown, where: string): unknown {
  if (typeof value === 'string') return interpolate(value, where);
  if (Array.isArray(value)) return value.map((v) => interpolateDeep(v, where));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v, `${where}.${k}`)]));
  }
  return value;
}

