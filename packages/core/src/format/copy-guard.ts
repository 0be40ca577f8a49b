import { isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Limits for COPY text read from a snapshot, which is input from outside: anyone who can write
 * the bucket. Mutable so a test can lower them; nothing in strata changes them.
 */
export const copyGuardLimits = {
  /**
   * The longest line (one row) passed on: PostgreSQL's own limit for a field, and past it the
   * server would buffer the line only to refuse it. Manifests since 1.3 also bound the whole
   * file by its `rawBytes`; older ones only by this and by `rows`.
   */
  maxLineBytes: 1024 * 1024 * 1024,
};

/**
 * A data file refused while it streamed. `reason` completes "The data file of table … in snapshot
 * …" (it starts with a verb: "holds …", "is …"), so restore and verify can word it their way.
 */
export class DataFileRefused extends Error {
  constructor(readonly reason: string) {
    super(`the data file ${reason}`);
    this.name = 'DataFileRefused';
  }
}

/** What a data file's manifest entry promises; the guard refuses the first byte that breaks it. */
export interface CopyGuardOptions {
  /** Rows the manifest records: the row after them is refused at once. */
  rows: number;
  /** Uncompressed size the manifest records (1.3+): the byte after it is refused at once. */
  rawBytes?: number;
  /**
   * When set, every row must have this many fields (tabs + 1). It costs a scan of the tabs, so
   * `verify` checks it and a restore leaves it to the server.
   */
  columns?: number;
  /** Called with the running row count, at most every `intervalMs`. */
  onRows?: (rows: number) => void;
  intervalMs?: number;
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const TAB = 0x09;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const END_MARKER = Buffer.from('\\.');

/**
 * A pass-through for the decompressed COPY text of one data file, shared by restore and verify
 * so that `verify` refuses what a restore would. It stops the stream (a `DataFileRefused` error)
 * at the first of: more rows than the manifest's `rows`, more bytes than its `rawBytes`, a line
 * longer than `copyGuardLimits.maxLineBytes`, a NUL byte or a raw carriage return (COPY TO never
 * writes one: the server would end a row there), bytes that are not UTF-8, an
 * end-of-data marker `\.` (which would make the server stop reading and drop the rest of the
 * file without an error), and at the end a last row with no newline. COPY data never runs SQL,
 * so after `\.` nothing could execute either; the marker is refused because it would lose rows
 * silently. Every check is a native scan of the chunk (`isUtf8`, `Buffer.indexOf`): the restore
 * path stays as fast as the server can load.
 */
export class CopyGuard extends Transform {
  /** Complete rows seen (newline bytes). */
  rows = 0;
  /** Bytes seen. */
  bytes = 0;
  private lineBytes = 0;
  private lineFields = 1;
  private lastByte = -1;
  /** Length of the run of backslashes that ended the previous chunk. */
  private backslashRun = 0;
  /** An incomplete UTF-8 sequence at the end of the previous chunk (at most 3 bytes). */
  private utf8Carry: Buffer | undefined;
  private lastReport = 0;

  constructor(private readonly options: CopyGuardOptions) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const problem = this.check(chunk);
    if (problem) return callback(new DataFileRefused(problem));
    if (this.options.onRows) {
      const now = Date.now();
      if (now - this.lastReport >= (this.options.intervalMs ?? 200)) {
        this.lastReport = now;
        this.options.onRows(this.rows);
      }
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.utf8Carry) return callback(new DataFileRefused(`ends inside a UTF-8 character (row ${this.rows + 1})`));
    if (this.bytes > 0 && this.lastByte !== NEWLINE) return callback(new DataFileRefused(`ends in the middle of row ${this.rows + 1} (its last line has no newline)`));
    callback();
  }

  /** The first problem in `chunk`, as a `DataFileRefused` reason, or undefined. */
  private check(chunk: Buffer): string | undefined {
    if (chunk.length === 0) return undefined;
    this.bytes += chunk.length;
    const { rawBytes } = this.options;
    if (rawBytes !== undefined && this.bytes > rawBytes) return `inflates past the ${rawBytes} bytes the manifest records`;
    const nul = chunk.indexOf(0);
    if (nul !== -1) return `holds a NUL byte in row ${this.rowAt(chunk, nul)}, which PostgreSQL text cannot hold`;
    // COPY TO writes a carriage return in a value as `\r`; a raw one would end a row on the server.
    const cr = chunk.indexOf(CARRIAGE_RETURN);
    if (cr !== -1) return `holds a raw carriage return in row ${this.rowAt(chunk, cr)}, which would split the row`;
    if (!this.validUtf8(chunk)) return `is not valid UTF-8 (in or after row ${this.rows + 1})`;
    const marker = this.endMarker(chunk);
    if (marker !== -1) return `holds an end-of-data marker (\\.) in row ${this.rowAt(chunk, marker)}, which would end the load early`;
    const problem = this.scanRows(chunk);
    this.lastByte = chunk[chunk.length - 1]!;
    return problem;
  }

  /** Counts rows and checks each line's length (and field count, when asked). */
  private scanRows(chunk: Buffer): string | undefined {
    const max = this.options.rows;
    const { maxLineBytes } = copyGuardLimits;
    const columns = this.options.columns;
    let start = 0;
    for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, start)) {
      if (this.lineBytes + (at - start) > maxLineBytes) return `has a row longer than ${describeBytes(maxLineBytes)} (row ${this.rows + 1})`;
      if (columns !== undefined) {
        const fields = this.lineFields + countByte(chunk, TAB, start, at);
        if (fields !== columns) return `has ${fields} field${fields === 1 ? '' : 's'} in row ${this.rows + 1}, and the table ${columns} column${columns === 1 ? '' : 's'}`;
      }
      this.rows++;
      if (this.rows > max) return `holds more rows than the ${max} the manifest records`;
      this.lineBytes = 0;
      this.lineFields = 1;
      start = at + 1;
    }
    this.lineBytes += chunk.length - start;
    if (this.lineBytes > maxLineBytes) return `has a row longer than ${describeBytes(maxLineBytes)} (row ${this.rows + 1})`;
    if (columns !== undefined) this.lineFields += countByte(chunk, TAB, start, chunk.length);
    return undefined;
  }

  /**
   * Where an unescaped `\.` starts in `chunk`, or -1. In COPY text a backslash escapes the next
   * byte, so `\.` is the marker only after an even run of backslashes (`\\.` is a backslash and
   * a dot); the run may have begun in the previous chunk.
   */
  private endMarker(chunk: Buffer): number {
    if (chunk[0] === DOT && this.backslashRun % 2 === 1) return 0;
    for (let at = chunk.indexOf(END_MARKER); at !== -1; at = chunk.indexOf(END_MARKER, at + 1)) {
      let run = 1;
      while (at - run >= 0 && chunk[at - run] === BACKSLASH) run++;
      if (at - run < 0) run += this.backslashRun;
      if (run % 2 === 1) return at;
    }
    let trailing = 0;
    while (trailing < chunk.length && chunk[chunk.length - 1 - trailing] === BACKSLASH) trailing++;
    this.backslashRun = trailing === chunk.length ? this.backslashRun + trailing : trailing;
    return -1;
  }

  /** Whether `chunk` continues valid UTF-8; a sequence cut by the chunk's end is carried over. */
  private validUtf8(chunk: Buffer): boolean {
    let start = 0;
    if (this.utf8Carry) {
      const carry = this.utf8Carry;
      const need = sequenceLength(carry[0]!) - carry.length;
      const take = Math.min(need, chunk.length);
      for (let i = 0; i < take; i++) if ((chunk[i]! & 0xc0) !== 0x80) return false;
      const joined = Buffer.concat([carry, chunk.subarray(0, take)]);
      if (take < need) {
        this.utf8Carry = joined;
        return true;
      }
      if (!isUtf8(joined)) return false;
      this.utf8Carry = undefined;
      start = take;
    }
    const end = completeEnd(chunk, start);
    if (!isUtf8(chunk.subarray(start, end))) return false;
    if (end < chunk.length) this.utf8Carry = Buffer.from(chunk.subarray(end));
    return true;
  }

  /** The 1-based row that byte `at` of `chunk` is in (only computed for a refusal). */
  private rowAt(chunk: Buffer, at: number): number {
    return this.rows + countByte(chunk, NEWLINE, 0, at) + 1;
  }
}

/** Bytes of a UTF-8 sequence by its lead byte (invalid leads are left to `isUtf8`). */
function sequenceLength(lead: number): number {
  return lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

/** Where the complete UTF-8 sequences of `chunk[start…]` end: before a lead byte whose sequence the chunk cuts. */
function completeEnd(chunk: Buffer, start: number): number {
  const end = chunk.length;
  for (let i = end - 1; i >= Math.max(start, end - 3); i--) {
    const byte = chunk[i]!;
    if ((byte & 0xc0) === 0x80) continue;
    return end - i < sequenceLength(byte) ? i : end;
  }
  return end;
}

function countByte(chunk: Buffer, byte: number, from: number, to: number): number {
  let n = 0;
  for (let at = chunk.indexOf(byte, from); at !== -1 && at < to; at = chunk.indexOf(byte, at + 1)) n++;
  return n;
}

function describeBytes(n: number): string {
  if (n >= 1024 * 1024 * 1024 && n % (1024 * 1024 * 1024) === 0) return `${n / 1024 / 1024 / 1024} GiB`;
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / 1024 / 1024} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
