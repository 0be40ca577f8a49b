import { describe, expect, it } from 'vitest';
import { compressionOf } from './config-loader.js';
import { strataConfigSchema } from './config-schema.js';

const base = {
  project: 'shop',
  modules: { app: { migrations: './migrations' } },
  environments: { dev: { database: 'postgres://localhost/shop', storage: 'file://./snapshots' } },
};

function parse(config: Record<string, unknown>) {
  return strataConfigSchema.safeParse({ ...base, ...config });
}

/** The first issue of a config the schema refuses, as loadConfig words it (`path message`). */
function refusal(config: Record<string, unknown>): string {
  const parsed = parse(config);
  expect(parsed.success).toBe(false);
  const issue = parsed.error!.issues[0]!;
  return `${issue.path.join('.')} ${issue.message}`;
}

describe('compression in the config', () => {
  it('accepts a codec name or { codec, level }, at the top level and per environment', () => {
    const parsed = parse({
      compression: 'gzip',
      environments: {
        dev: { database: 'x', storage: 'file://./a' },
        prod: { database: 'x', storage: 'file://./b', compression: { codec: 'zstd', level: 3 } },
        raw: { database: 'x', storage: 'file://./c', compression: 'none' },
      },
    });
    expect(parsed.success).toBe(true);
    expect(parsed.data!.compression).toEqual({ codec: 'gzip' });
    expect(parsed.data!.environments.prod!.compression).toEqual({ codec: 'zstd', level: 3 });
  });

  it('the environment wins over the top level, which wins over the default (zstd level 1)', () => {
    const config = parse({
      compression: { codec: 'gzip', level: 6 },
      environments: {
        dev: { database: 'x', storage: 'file://./a' },
        prod: { database: 'x', storage: 'file://./b', compression: 'none' },
      },
    }).data!;
    // What resolveEnvironment hands on as `compression`: the environment's parsed key.
    const env = (name: string) => ({ compression: config.environments[name]!.compression });
    expect(compressionOf(config, env('prod'))).toEqual({ codec: 'none' });
    expect(compressionOf(config, env('dev'))).toEqual({ codec: 'gzip', level: 6 });
    expect(compressionOf(parse({}).data!, {})).toEqual({ codec: 'zstd', level: 1 });
  });

  it('refuses an unknown codec, a level out of range, a level for none and unknown keys', () => {
    expect(refusal({ compression: 'lz4' })).toMatch(/^compression /);
    expect(refusal({ compression: { codec: 'zstd', level: 22 } })).toBe('compression level for zstd must be a whole number from 1 to 19, not 22');
    expect(refusal({ compression: { codec: 'gzip', level: 0 } })).toBe('compression level for gzip must be a whole number from 1 to 9, not 0');
    expect(refusal({ compression: { codec: 'none', level: 3 } })).toBe('compression level cannot be set when the codec is none');
    expect(refusal({ environments: { dev: { database: 'x', storage: 'file://./a', compression: { codec: 'gzip', level: 12 } } } }))
      .toBe('environments.dev.compression level for gzip must be a whole number from 1 to 9, not 12');
    expect(refusal({ compression: { codec: 'zstd', lvl: 3 } })).toMatch(/^compression /);
  });
});
