import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';

import type { RowValues, TableTransform } from '../contracts/transformer.js';

/**
 * PostgreSQL COPY text format, one row per line: columns separated by tabs, `\N` for NULL, and
 * backslash escapes for backslash, newline, carriage return, tab and a few others
 * (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.2).
 */

const NULL_FIELD = '\\N';
const SIMPLE_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** Decodes one field of a COPY text line into its value (`null` for `\N`). */
export function decodeField(field: string): string | null {
  if (field === NULL_FIELD) return null;
  if (!field.includes('\\')) return field;
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_match, code: string) => {
    if (code.length > 1 || /[0-7]/.test(code)) {
      // \xHH and \ooo give a byte; in a UTF8 database PostgreSQL accepts only ASCII this way here.
      const byte = code[0] === 'x' ? parseInt(code.slice(1), 16) : parseInt(code, 8);
      return String.fromCharCode(byte);
    }
    return SIMPLE_ESCAPES[code] ?? code;
  });
}

/** Encodes a value as one field of a COPY text line. */
export function encodeField(value: string | null): string {
  if (value === null) return NULL_FIELD;
  if (!/[\\\n\r\t]/.test(value)) return value;
  return value.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}

/** Decodes one COPY text line (without its newline) into values. */
export function decodeRow(line: string): RowValues {
  return line.split('\t').map(decodeField);
}

/** Encodes values as one COPY text line (without its newline). */
export function encodeRow(values: RowValues): string {
  return values.map(encodeField).join('\t');
}

/**
 * Applies a table transform to a stream of COPY text while it flows: `truncate` lets nothing
 * through; `rows` decodes each line, hands its values to the transform and encodes the result.
 * Memory stays at one chunk plus one partial line, whatever the table size.
 */
export class CopyRowTransform extends Transform {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(
    private readonly transform: TableTransform,
    /** Number of columns every row must have; a row with another count is a bug, not data. */
    private readonly columnCount: number,
    private readonly table: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.transform.kind === 'truncate') return callback();
    const text = this.partial + this.decoder.write(chunk);
    const end = text.lastIndexOf('\n');
    if (end === -1) {
      this.partial = text;
      return callback();
    }
    this.partial = text.slice(end + 1);
    try {
      callback(null, Buffer.from(this.transformLines(text.slice(0, end))));
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.transform.kind === 'truncate') return callback();
    const rest = this.partial + this.decoder.end();
    if (rest !== '') return callback(new Error(`The data of ${this.table} ends in the middle of a row.`));
    callback();
  }

  /** Transforms complete lines (joined by newlines, without the last one's newline). */
  private transformLines(block: string): string {
    if (this.transform.kind !== 'rows') return '';
    const { transformRow, columns } = this.transform;
    const lines = block.split('\n');
    const count = this.columnCount;
    const out: string[] = new Array<string>(lines.length + 1);
    for (let l = 0; l < lines.length; l++) {
      const line = lines[l]!;
      if (columns && l > 0) {
        out[l] = this.transformColumns(line, columns, transformRow);
        continue;
      }
      // Whole rows are split; with `columns`, only each block's first row is, to check its width.
      const raw = line.split('\t');
      if (raw.length !== count) {
        throw new Error(`A row of ${this.table} has ${raw.length} columns where ${count} were expected.`);
      }
      if (columns) {
        out[l] = this.transformColumns(line, columns, transformRow);
        continue;
      }
      const values: RowValues = new Array<string | null>(count);
      for (let i = 0; i < count; i++) values[i] = decodeField(raw[i]!);
      // The transform may change the array in place: keep what it was handed, to re-use the raw
      // text of every value it left alone instead of encoding it again.
      const before = values.slice();
      const result = transformRow(values);
      this.checkWidth(result);
      for (let i = 0; i < count; i++) {
        const value = result[i] ?? null;
        if (value !== before[i]) raw[i] = encodeField(value);
      }
      out[l] = raw.join('\t');
    }
    out[lines.length] = '';
    return out.join('\n');
  }

  /**
   * One row, touching only `columns`: their fields are found with indexOf, decoded, transformed,
   * encoded, and spliced back between the untouched stretches of the line.
   */
  private transformColumns(line: string, columns: readonly number[], transformRow: (values: RowValues) => RowValues): string {
    const sorted = this.sortedColumns(columns);
    const values: RowValues = new Array<string | null>(this.columnCount);
    const starts: number[] = [];
    const ends: number[] = [];
    let column = 0;
    let at = 0;
    for (const wanted of sorted) {
      while (column < wanted) {
        const tab = line.indexOf('\t', at);
        if (tab === -1) throw new Error(`A row of ${this.table} has ${column + 1} columns where ${this.columnCount} were expected.`);
        at = tab + 1;
        column++;
      }
      const tab = line.indexOf('\t', at);
      const end = tab === -1 ? line.length : tab;
      starts.push(at);
      ends.push(end);
      values[wanted] = decodeField(line.slice(at, end));
    }
    const result = transformRow(values);
    this.checkWidth(result);
    let out = '';
    let from = 0;
    for (let k = 0; k < sorted.length; k++) {
      out += line.slice(from, starts[k]) + encodeField(result[sorted[k]!] ?? null);
      from = ends[k]!;
    }
    return out + line.slice(from);
  }

  private sortedCache: { of: readonly number[]; sorted: number[] } | undefined;

  private sortedColumns(columns: readonly number[]): number[] {
    if (this.sortedCache?.of !== columns) {
      const sorted = [...new Set(columns)].sort((a, b) => a - b);
      if (sorted.some((c) => !Number.isInteger(c) || c < 0 || c >= this.columnCount)) {
        throw new Error(`The transformer asked for columns ${columns.join(', ')} of ${this.table}, which has ${this.columnCount}.`);
      }
      this.sortedCache = { of: columns, sorted };
    }
    return this.sortedCache.sorted;
  }

  private checkWidth(result: RowValues): void {
    if (!Array.isArray(result) || result.length !== this.columnCount) {
      throw new Error(`The transformer returned ${Array.isArray(result) ? result.length : 'no'} values for a row of ${this.table}, expected ${this.columnCount}.`);
    }
  }
}
