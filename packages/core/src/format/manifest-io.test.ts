import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../errors.js';
import { dataFileName, parseManifest } from './manifest-io.js';
import { FORMAT_VERSION, type Manifest } from './manifest-schema.js';

function validManifest(): Manifest {
  return {
    formatVersion: FORMAT_VERSION,
    id: '01JTEST',
    project: 'shop',
    environment: 'dev',
    createdAt: '2026-11-21T17:00:00.000Z',
    tags: ['nightly'],
    createdBy: 'ci@runner',
    strataVersion: '0.1.0',
    source: { database: 'shop_dev', serverVersion: '15.19' },
    data: { format: 'postgresql-copy-text', compression: 'gzip', encoding: 'UTF8' },
    modules: { accounts: { tableName: 'knex_migrations_accounts', last: '20240101_a.ts', applied: ['20240101_a.ts'] } },
    tables: [
      {
        schema: 'public',
        name: 'customer',
        file: 'data/public.customer.copy.gz',
        columns: [{ name: 'id', type: 'bigint' }],
        rows: 3,
        bytes: 40,
        sha256: 'a'.repeat(64),
      },
    ],
    sequences: [{ schema: 'public', name: 'customer_id_seq', lastValue: '3', isCalled: true }],
    excluded: [],
    transformers: [],
    scope: null,
  };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(IntegrityError);
    return (error as IntegrityError).code;
  }
  return undefined;
}

describe('parseManifest', () => {
  it('accepts a valid manifest and returns it unchanged', () => {
    const manifest = validManifest();
    expect(parseManifest(structuredClone(manifest), 'x')).toEqual(manifest);
  });

  it('accepts a newer minor of the same major', () => {
    const manifest = { ...validManifest(), formatVersion: '1.7.2' };
    expect(parseManifest(manifest, 'x').formatVersion).toBe('1.7.2');
  });

  it('ignores keys a newer minor added, and refuses unknown keys in this minor or older', () => {
    const newer = { ...validManifest(), formatVersion: '1.9.0', retention: { keepUntil: '2030-01-01' } };
    newer.tables = newer.tables.map((t) => ({ ...t, compressionLevel: 1 }));
    const parsed = parseManifest(newer, 'x');
    expect(parsed).not.toHaveProperty('retention');
    expect(parsed.tables[0]).not.toHaveProperty('compressionLevel');
    expect(codeOf(() => parseManifest({ ...validManifest(), retention: {} }, 'x'))).toBe('manifest-invalid');
    expect(codeOf(() => parseManifest({ ...validManifest(), formatVersion: '1.0.0', retention: {} }, 'x'))).toBe('manifest-invalid');
  });

  it('reads a 1.0.0 manifest, whose transformer entries have no rules', () => {
    const old = { ...validManifest(), formatVersion: '1.0.0', transformers: [{ name: 't', rulesHash: 'h', version: '1' }] };
    expect(parseManifest(old, 'x').transformers).toEqual([{ name: 't', rulesHash: 'h', version: '1' }]);
  });

  it('refuses another major with a format error and an upgrade hint', () => {
    let caught: unknown;
    try {
      parseManifest({ ...validManifest(), formatVersion: '2.0.0' }, 'file:///s/shop/dev/01J/');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(IntegrityError);
    expect((caught as IntegrityError).code).toBe('manifest-format-unsupported');
    expect((caught as IntegrityError).hint).toMatch(/Upgrade strata/);
  });

  it('names the offending field of a malformed manifest', () => {
    const bad = validManifest() as unknown as { tables: { rows: unknown }[] };
    bad.tables[0]!.rows = -1;
    let message = '';
    try {
      parseManifest(bad, 'x');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/tables\.0\.rows/);
  });

  it('rejects unknown keys, a bad checksum and a missing formatVersion', () => {
    expect(codeOf(() => parseManifest({ ...validManifest(), password: 'x' }, 'x'))).toBe('manifest-invalid');
    const badSha = validManifest();
    badSha.tables[0]!.sha256 = 'xyz';
    expect(codeOf(() => parseManifest(badSha, 'x'))).toBe('manifest-invalid');
    const { formatVersion: _omit, ...noVersion } = validManifest();
    expect(codeOf(() => parseManifest(noVersion, 'x'))).toBe('manifest-invalid');
    expect(codeOf(() => parseManifest(null, 'x'))).toBe('manifest-invalid');
  });
});

describe('dataFileName', () => {
  it('keeps distinct tables in distinct files even when names contain dots', () => {
    expect(dataFileName('a.b', 'c')).not.toBe(dataFileName('a', 'b.c'));
    expect(dataFileName('public', 'order')).toBe('data/public.order.copy.gz');
    expect(dataFileName('public', 'we/ird')).toBe('data/public.we%2Fird.copy.gz');
  });
});
