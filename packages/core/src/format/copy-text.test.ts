import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';

import { CopyRowTransform, decodeField, decodeRow, encodeField, encodeRow } from './copy-text.js';

describe('COPY text fields', () => {
  it.each([
    ['plain', 'plain'],
    ['tab\there', 'tab\\there'],
    ['line\nbreak\r', 'line\\nbreak\\r'],
    ['back\\slash', 'back\\\\slash'],
    ['\\N as text', '\\\\N as text'],
    ['', ''],
    ['ünïcødé ✓', 'ünïcødé ✓'],
  ])('%j round-trips as %j', (value, field) => {
    expect(encodeField(value)).toBe(field);
    expect(decodeField(field)).toBe(value);
  });

  it('\\N is NULL, and the escapes PostgreSQL accepts on input decode', () => {
    expect(decodeField('\\N')).toBeNull();
    expect(encodeField(null)).toBe('\\N');
    expect(decodeField('a\\bb\\fc\\vd')).toBe('a\bb\fc\vd');
    expect(decodeField('\\101\\x42')).toBe('AB');
  });

  it('rows split on tabs only between fields', () => {
    expect(decodeRow('1\tA\\tB\t\\N')).toEqual(['1', 'A\tB', null]);
    expect(encodeRow(['1', 'A\tB', null])).toBe('1\tA\\tB\t\\N');
  });
});

describe('CopyRowTransform', () => {
  const rows = ['1\tanna@example.com\tAnna\\tSmith', '2\t\\N\tbjörn', '3\tc@example.com\tline\\nbreak'];
  const data = Buffer.from(`${rows.join('\n')}\n`);

  /** Feeds `data` in chunks of `size` bytes (splitting lines and multi-byte characters). */
  async function run(transform: ConstructorParameters<typeof CopyRowTransform>[0], size: number): Promise<string> {
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
    return (await buffer(Readable.from(chunks).pipe(new CopyRowTransform(transform, 3, 'public.person')))).toString('utf8');
  }

  it.each([1, 2, 7, 1024])('hands decoded values to the transform and re-encodes them (chunks of %i bytes)', async (size) => {
    const seen: Array<Array<string | null>> = [];
    const out = await run(
      {
        kind: 'rows',
        transformRow: (values) => {
          seen.push([...values]);
          return [values[0]!, values[1] === null ? null : 'x@example.org', values[2]!.toUpperCase()];
        },
      },
      size,
    );
    expect(seen).toEqual([
      ['1', 'anna@example.com', 'Anna\tSmith'],
      ['2', null, 'björn'],
      ['3', 'c@example.com', 'line\nbreak'],
    ]);
    expect(out).toBe('1\tx@example.org\tANNA\\tSMITH\n2\t\\N\tBJÖRN\n3\tx@example.org\tLINE\\nBREAK\n');
  });

  it.each([1, 3, 4096])('with columns, hands over only those and keeps the others as they were (chunks of %i bytes)', async (size) => {
    const seen: Array<Array<string | null>> = [];
    const out = await run(
      {
        kind: 'rows',
        columns: [1],
        transformRow: (values) => {
          seen.push([...values]);
          values[1] = values[1] === null ? 'was\tnull' : null;
          return values;
        },
      },
      size,
    );
    // Only column 1 is handed over; the others keep the row's own text (escapes included).
    expect(seen).toEqual([
      [undefined, 'anna@example.com', undefined],
      [undefined, null, undefined],
      [undefined, 'c@example.com', undefined],
    ]);
    expect(out).toBe('1\t\\N\tAnna\\tSmith\n2\twas\\tnull\tbjörn\n3\t\\N\tline\\nbreak\n');
  });

  it('truncate lets no row through', async () => {
    expect(await run({ kind: 'truncate' }, 5)).toBe('');
  });

  it.each([1, 2, 5])('with columns, decodes multi-byte text split across chunks (chunks of %i bytes)', async (size) => {
    const out = await run({ kind: 'rows', columns: [2], transformRow: (values) => ((values[2] = values[2]!.toUpperCase()), values) }, size);
    expect(out).toBe('1\tanna@example.com\tANNA\\tSMITH\n2\t\\N\tBJÖRN\n3\tc@example.com\tLINE\\nBREAK\n');
  });

  it('with columns, checks the width of rows and the columns asked for', async () => {
    await expect(run({ kind: 'rows', columns: [5], transformRow: (values) => values }, 64)).rejects.toThrow(/asked for columns 5/);
    const narrow = Buffer.from('1\ta\n2\n');
    const stream = Readable.from([narrow]).pipe(new CopyRowTransform({ kind: 'rows', columns: [1], transformRow: (v) => v }, 2, 't'));
    await expect(buffer(stream)).rejects.toThrow(/has 1 columns where 2 were expected/);
  });

  it('fails on a transform that changes the number of values', async () => {
    await expect(run({ kind: 'rows', transformRow: (values) => values.slice(1) }, 64)).rejects.toThrow(/returned 2 values.*expected 3/);
  });
});
