import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { copyGuardLimits, CopyGuard, DataFileRefused, type CopyGuardOptions } from './copy-guard.js';

/** Streams `chunks` through a guard; resolves to its counts, or to the refusal's reason. */
async function guard(chunks: Array<string | Buffer>, options: Partial<CopyGuardOptions> = {}): Promise<{ rows: number; bytes: number; passed: number } | string> {
  const g = new CopyGuard({ rows: 1000, ...options });
  let passed = 0;
  try {
    await pipeline(
      Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))),
      g,
      new Writable({ write: (chunk: Buffer, _e, cb) => ((passed += chunk.length), cb()) }),
    );
  } catch (error) {
    if (error instanceof DataFileRefused) return error.reason;
    throw error;
  }
  return { rows: g.rows, bytes: g.bytes, passed };
}

/** Every way of cutting `text` into two chunks. */
function splits(text: Buffer): Buffer[][] {
  return Array.from({ length: text.length + 1 }, (_, i) => [text.subarray(0, i), text.subarray(i)]);
}

const saved = { ...copyGuardLimits };
afterEach(() => Object.assign(copyGuardLimits, saved));

describe('CopyGuard', () => {
  it('passes COPY text as it is and counts rows and bytes', async () => {
    const text = '1\tAda\t\\N\n2\tGrace \\\\ Hopper\t{"a":"\\\\."}\n3\tÉmilie 🧪\t\\\\\\\\.\n';
    for (const chunks of splits(Buffer.from(text))) {
      expect(await guard(chunks, { rows: 3, rawBytes: Buffer.byteLength(text), columns: 3 })).toEqual({ rows: 3, bytes: Buffer.byteLength(text), passed: Buffer.byteLength(text) });
    }
    expect(await guard([])).toEqual({ rows: 0, bytes: 0, passed: 0 });
  });

  it('refuses an end-of-data marker wherever the chunks are cut, but not an escaped backslash before a dot', async () => {
    for (const text of ['1\tx\n\\.\nDROP TABLE parent;\n', '1\tx\\.\n', '1\t\\\\\\.\n']) {
      for (const chunks of splits(Buffer.from(text))) {
        expect(await guard(chunks)).toMatch(/end-of-data marker \(\\\.\) in row [12]/);
      }
    }
    for (const chunks of splits(Buffer.from('1\t\\\\.\n2\t\\\\\\\\.\n'))) expect(await guard(chunks)).toMatchObject({ rows: 2 });
  });

  it('refuses the first row past the manifest\'s rows, and the first byte past its rawBytes', async () => {
    expect(await guard(['1\n2\n', '3\n4\n'], { rows: 2 })).toBe('holds more rows than the 2 the manifest records');
    expect(await guard(['1\n2\n', '3\n'], { rawBytes: 5 })).toBe('inflates past the 5 bytes the manifest records');
  });

  it('refuses a line longer than the limit, whether or not it ends in the chunk', async () => {
    copyGuardLimits.maxLineBytes = 8;
    expect(await guard(['12345678\n', '123', '45678\n'])).toMatchObject({ rows: 2 });
    expect(await guard(['123456789\n'])).toBe('has a row longer than 8 bytes (row 1)');
    expect(await guard(['1\n12345', '6789'])).toBe('has a row longer than 8 bytes (row 2)');
    copyGuardLimits.maxLineBytes = 1024 * 1024;
    expect(await guard(['x'.repeat(1024 * 1024 + 1)])).toBe('has a row longer than 1 MiB (row 1)');
  });

  it('refuses NUL bytes, raw carriage returns and a last row with no newline', async () => {
    expect(await guard(['1\tok\n2\tb\0d\n'])).toMatch(/NUL byte in row 2/);
    expect(await guard(['1\tok\r\n'])).toMatch(/raw carriage return in row 1/);
    expect(await guard(['1\tok\n2\tcut'])).toBe('ends in the middle of row 2 (its last line has no newline)');
  });

  it('refuses invalid UTF-8, and accepts valid UTF-8 cut anywhere by the chunks', async () => {
    const valid = Buffer.from('a\té\t€\t𝄞\n');
    for (const chunks of splits(valid)) expect(await guard(chunks)).toMatchObject({ rows: 1 });
    // One byte at a time: a sequence carried over more than one chunk.
    expect(await guard([...valid].map((b) => Buffer.from([b])))).toMatchObject({ rows: 1 });
    const invalid = [
      Buffer.from([0x61, 0xff, 0x0a]), // never valid
      Buffer.from([0xc3, 0x28, 0x0a]), // lead without its continuation
      Buffer.from([0xe0, 0x80, 0xaf, 0x0a]), // overlong
      Buffer.from([0xed, 0xa0, 0x80, 0x0a]), // a UTF-16 surrogate
      Buffer.from([0xf4, 0x90, 0x80, 0x80, 0x0a]), // past U+10FFFF
    ];
    for (const bytes of invalid) {
      for (const chunks of splits(bytes)) expect(await guard(chunks)).toMatch(/not valid UTF-8/);
    }
    expect(await guard([Buffer.from([0x61, 0x0a, 0xe2, 0x82])])).toMatch(/ends inside a UTF-8 character/);
  });

  it('checks the field count of every row when asked', async () => {
    expect(await guard(['1\ta\n2\tb\n'], { columns: 2 })).toMatchObject({ rows: 2 });
    expect(await guard(['1\ta\n2\t', 'b\tc\n'], { columns: 2 })).toBe('has 3 fields in row 2, and the table 2 columns');
    expect(await guard(['1\n'], { columns: 2 })).toBe('has 1 field in row 1, and the table 2 columns');
  });
});
