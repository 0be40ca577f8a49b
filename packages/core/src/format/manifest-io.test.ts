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

  it('refuses a newer minor whose readerVersion is newer than this format, with the newer-format sentence; reads one whose readerVersion it knows', () => {
    let caught: unknown;
    try {
      parseManifest({ ...validManifest(), formatVersion: '1.5.0', readerVersion: '1.5.0', tables: [] }, 'file:///s/shop/dev/01J/');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(IntegrityError);
    expect(caught).toMatchObject({ code: 'manifest-format-unsupported', hint: expect.stringMatching(/^Upgrade strata/) });
    expect((caught as Error).message).toMatch(/has format 1\.5\.0, which this strata \(format 1\.\d+\.\d+\) cannot read\.$/);
    expect(parseManifest({ ...validManifest(), formatVersion: '1.5.0', readerVersion: '1.0.0' }, 'x').formatVersion).toBe('1.5.0');
    // An older minor never carried it: there it means the manifest was not written by strata.
    expect(codeOf(() => parseManifest({ ...validManifest(), formatVersion: '1.3.0', readerVersion: '1.0.0' }, 'x'))).toBe('manifest-invalid');
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

describe('parseManifest refuses what a hostile folder could hold', () => {
  function withTable(change: (t: Manifest['tables'][number]) => void): Manifest {
    const manifest = validManifest();
    change(manifest.tables[0]!);
    return manifest;
  }
  function messageOf(fn: () => unknown): string {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(IntegrityError);
      return (error as Error).message;
    }
    return '';
  }

  it('a data file name that is not the one derived from the table\'s names', () => {
    for (const file of ['../../../etc/passwd', '/etc/passwd', 'data/public.other.copy.gz', 'data/../manifest.json', 'data/public.customer.copy.gz\0']) {
      expect(messageOf(() => parseManifest(withTable((t) => (t.file = file)), 'x'))).toMatch(/tables\.0\.file must be data\/public\.customer\.copy\.gz/);
    }
  });

  it('names with NUL or longer than 63 bytes; quotes, slashes and SQL stay names, in a file inside data/', () => {
    expect(messageOf(() => parseManifest(withTable((t) => ((t.name = 'a\0b'), (t.file = dataFileName('public', 'a\0b', 'gzip')))), 'x'))).toMatch(/tables\.0\.name must not contain a NUL/);
    expect(messageOf(() => parseManifest(withTable((t) => ((t.name = 'é'.repeat(32)), (t.file = dataFileName('public', 'é'.repeat(32), 'gzip')))), 'x'))).toMatch(/at most 63 bytes/);
    expect(messageOf(() => parseManifest(withTable((t) => (t.columns = [{ name: '', type: 'text' }])), 'x'))).toMatch(/tables\.0\.columns\.0\.name/);
    const odd = `x"; DROP TABLE customer; --/../'`;
    const manifest = parseManifest(withTable((t) => ((t.schema = '..'), (t.name = odd), (t.file = dataFileName('..', odd, 'gzip')))), 'x');
    expect(manifest.tables[0]!.name).toBe(odd);
    expect(manifest.tables[0]!.file).toMatch(/^data\/[^/]+$/);
    expect(manifest.tables[0]!.file).not.toContain('..');
  });

  it('a table or a column listed twice', () => {
    const twice = validManifest();
    twice.tables.push({ ...twice.tables[0]! });
    expect(messageOf(() => parseManifest(twice, 'x'))).toMatch(/tables\.1 lists table public\.customer a second time/);
    expect(messageOf(() => parseManifest(withTable((t) => t.columns.push({ name: 'id', type: 'text' })), 'x'))).toMatch(/tables\.0\.columns\.1\.name repeats column id/);
  });

  it('an id that is not a folder name, and a sequence value that is not an integer', () => {
    expect(messageOf(() => parseManifest({ ...validManifest(), id: '../01JOTHER' }, 'x'))).toMatch(/^The manifest at x is invalid: id /);
    const sequence = validManifest();
    sequence.sequences[0]!.lastValue = '1); DROP TABLE customer; --';
    expect(messageOf(() => parseManifest(sequence, 'x'))).toMatch(/sequences\.0\.lastValue must be an integer/);
  });

  it('reads 1.0, 1.1 and 1.2 manifests, which have no rawBytes, and 1.3 ones that have it', () => {
    for (const formatVersion of ['1.0.0', '1.1.0', '1.2.0']) {
      const old = { ...validManifest(), formatVersion, transformers: [] };
      expect(parseManifest(old, 'x').tables[0]).not.toHaveProperty('rawBytes');
    }
    expect(parseManifest(withTable((t) => (t.rawBytes = 120)), 'x').tables[0]!.rawBytes).toBe(120);
    expect(codeOf(() => parseManifest(withTable((t) => (t.rawBytes = -1)), 'x'))).toBe('manifest-invalid');
  });
});

describe('compression in the manifest (1.4)', () => {
  function withCompression(data: Partial<Manifest['data']>, formatVersion = FORMAT_VERSION): Manifest {
    const manifest = { ...validManifest(), formatVersion, data: { ...validManifest().data, ...data } };
    for (const t of manifest.tables) t.file = dataFileName(t.schema, t.name, manifest.data.compression);
    return manifest;
  }
  function messageOf(fn: () => unknown): string {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(IntegrityError);
      return (error as Error).message;
    }
    return '';
  }

  it('this build writes 1.4.0', () => {
    expect(FORMAT_VERSION).toBe('1.4.0');
  });

  it('reads zstd, gzip and uncompressed data, each with its own file suffix', () => {
    expect(parseManifest(withCompression({ compression: 'zstd', level: 3 }), 'x')).toMatchObject({
      data: { compression: 'zstd', level: 3 },
      tables: [{ file: 'data/public.customer.copy.zst' }],
    });
    expect(parseManifest(withCompression({ compression: 'gzip', level: 1 }), 'x').tables[0]!.file).toBe('data/public.customer.copy.gz');
    expect(parseManifest(withCompression({ compression: 'none' }), 'x').tables[0]!.file).toBe('data/public.customer.copy');
  });

  it('the file name must be the one of the manifest\'s codec', () => {
    const zstdWithGz = withCompression({ compression: 'zstd' });
    zstdWithGz.tables[0]!.file = 'data/public.customer.copy.gz';
    expect(messageOf(() => parseManifest(zstdWithGz, 'x'))).toMatch(/tables\.0\.file must be data\/public\.customer\.copy\.zst, the file name of table public\.customer/);
    const gzipWithZst = withCompression({ compression: 'gzip' });
    gzipWithZst.tables[0]!.file = 'data/public.customer.copy.zst';
    expect(messageOf(() => parseManifest(gzipWithZst, 'x'))).toMatch(/tables\.0\.file must be data\/public\.customer\.copy\.gz/);
  });

  it('a manifest older than 1.4 holds gzip only, and no level', () => {
    for (const version of ['1.0.0', '1.2.0', '1.3.0']) {
      expect(parseManifest(withCompression({ compression: 'gzip' }, version), 'x').data).toEqual({ format: 'postgresql-copy-text', compression: 'gzip', encoding: 'UTF8' });
    }
    expect(messageOf(() => parseManifest(withCompression({ compression: 'zstd' }, '1.3.0'), 'x')))
      .toBe('The manifest at x is invalid: data.compression must be gzip in a format 1.3.0 manifest (zstd came in 1.4.0).');
    expect(messageOf(() => parseManifest(withCompression({ compression: 'none' }, '1.2.0'), 'x'))).toMatch(/data\.compression must be gzip in a format 1\.2\.0 manifest/);
    expect(messageOf(() => parseManifest(withCompression({ compression: 'gzip', level: 1 }, '1.3.0'), 'x'))).toMatch(/data\.level is not part of format 1\.3\.0/);
  });

  it('refuses an unknown codec (also in a newer minor: its files cannot be read), a level for none, and a bad level', () => {
    expect(codeOf(() => parseManifest({ ...validManifest(), data: { ...validManifest().data, compression: 'lz4' } }, 'x'))).toBe('manifest-invalid');
    expect(messageOf(() => parseManifest({ ...validManifest(), formatVersion: '1.9.0', data: { ...validManifest().data, compression: 'lz4' } }, 'x'))).toMatch(/data\.compression/);
    expect(messageOf(() => parseManifest(withCompression({ compression: 'none', level: 1 }), 'x'))).toMatch(/data\.level cannot be set when compression is none/);
    expect(codeOf(() => parseManifest(withCompression({ compression: 'zstd', level: 0 }), 'x'))).toBe('manifest-invalid');
  });
});

describe('dataFileName', () => {
  it('keeps distinct tables in distinct files even when names contain dots', () => {
    expect(dataFileName('a.b', 'c', 'zstd')).not.toBe(dataFileName('a', 'b.c', 'zstd'));
    expect(dataFileName('public', 'order', 'gzip')).toBe('data/public.order.copy.gz');
    expect(dataFileName('public', 'we/ird', 'zstd')).toBe('data/public.we%2Fird.copy.zst');
    expect(dataFileName('public', 'order', 'none')).toBe('data/public.order.copy');
  });
});
