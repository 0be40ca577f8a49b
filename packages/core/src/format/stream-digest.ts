import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DataFileRefused } from './copy-guard.js';

/**
 * A pass-through that measures what flows: bytes and sha256 (hex, available after 'end'). With
 * `maxBytes` (a data file's size in its manifest) it stops with `DataFileRefused` at the first
 * byte past it, so a file larger than its manifest says is never read to its end.
 */
export class DigestStream extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');
  private hex: string | undefined;

  constructor(private readonly limits: { maxBytes?: number } = {}) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    const { maxBytes } = this.limits;
    if (maxBytes !== undefined && this.bytes > maxBytes) return callback(new DataFileRefused(`is larger than the ${maxBytes} bytes the manifest records`));
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.hex = this.hash.digest('hex');
    callback();
  }

  /** The sha256 of everything that passed; throws if the stream has not ended. */
  get sha256(): string {
    if (this.hex === undefined) throw new Error('DigestStream: sha256 read before the stream ended');
    return this.hex;
  }
}

/**
 * Counts rows of PostgreSQL COPY text data as it passes: every row ends with one raw newline
 * (newlines inside values are escaped as `\n`), so rows = newline bytes. Also counts the bytes
 * (a table entry's `rawBytes`, when it sits right before the compressor).
 */
export class CopyRowCounter extends Transform {
  rows = 0;
  bytes = 0;
  /** Called with the running count, at most every `intervalMs`. */
  constructor(private readonly onRows?: (rows: number) => void, private readonly intervalMs = 200) {
    super();
  }
  private last = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    let at = chunk.indexOf(10);
    while (at !== -1) {
      this.rows++;
      at = chunk.indexOf(10, at + 1);
    }
    if (this.onRows) {
      const now = Date.now();
      if (now - this.last >= this.intervalMs) {
        this.last = now;
        this.onRows(this.rows);
      }
    }
    callback(null, chunk);
  }
}
