import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import type { PGlite, Results } from '@electric-sql/pglite';
import type { CopyInStream, DbSession, QueryResult } from './driver.js';
import { release, SESSION_SETTINGS, type PgliteInstance } from './pglite-instances.js';
import { dataRowToCopyText, runRaw, runRawOrThrow, transactionStatus } from './pglite-protocol.js';

/** Tuning of the PGlite session's COPY paths (tests make them small to cross chunk edges). */
export interface PgliteCopyOptions {
  /** Bytes of COPY text buffered before one `COPY … FROM '/dev/blob'` (cut at a row end). */
  copyInChunkBytes: number;
  /** Heap pages per `COPY (SELECT … WHERE ctid …) TO STDOUT` when streaming a table out. */
  copyOutPages: number;
  /** Rows per FETCH when streaming a query out. */
  copyOutFetchRows: number;
}

export const DEFAULT_COPY_OPTIONS: PgliteCopyOptions = { copyInChunkBytes: 16 << 20, copyOutPages: 1000, copyOutFetchRows: 2000 };

const IDENT = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
/** `COPY [schema.]table [(columns)] TO STDOUT` with no options. */
const TABLE_OUT = new RegExp(String.raw`^\s*COPY\s+(${IDENT}(?:\s*\.\s*${IDENT})?)\s*(?:\(([^)]*)\))?\s*TO\s+STDOUT\s*;?\s*$`, 'i');
/** `COPY (query) TO STDOUT` with no options. */
const QUERY_OUT = /^\s*COPY\s*\(([\s\S]*)\)\s*TO\s+STDOUT\s*;?\s*$/i;
/** `COPY … FROM STDIN [options]`: the part before and after STDIN. */
const COPY_IN = /^(\s*COPY\s[\s\S]*?\sFROM\s+)STDIN\b([\s\S]*)$/i;

function lastResult<R>(results: Results<R>[]): QueryResult<R> {
  const last = results.at(-1);
  if (!last) return { rows: [], rowCount: null };
  return { rows: last.rows, rowCount: last.fields.length > 0 ? last.rows.length : (last.affectedRows ?? null) };
}

/**
 * Rewrites `COPY … FROM STDIN [WITH (…)]` into PGlite's `COPY … FROM '/dev/blob' [WITH (…)]`.
 * Options are kept: PGlite takes them as a server does (FREEZE included, which, as on a server,
 * needs the table created or truncated in the same transaction).
 */
export function toBlobCopy(sql: string): string {
  const match = COPY_IN.exec(sql);
  if (!match) throw new Error(`Not a COPY … FROM STDIN statement: ${sql.slice(0, 80)}`);
  return `${match[1]}'/dev/blob'${match[2]}`;
}

/** A session on a shared PGlite instance (one backend: sessions on it share its transaction). */
export class PgliteSession implements DbSession {
  private closed = false;
  private readonly pg: PGlite;

  constructor(
    private readonly instance: PgliteInstance,
    private readonly options: PgliteCopyOptions = DEFAULT_COPY_OPTIONS,
  ) {
    this.pg = instance.pg;
  }

  /** Re-applies strata's session settings (another user of the instance may have changed them). */
  async init(): Promise<void> {
    await this.pg.exec(SESSION_SETTINGS);
  }

  private check(): void {
    if (this.closed) throw new Error('The PGlite session is closed.');
  }

  /** With parameters, one statement (extended protocol); without, one or more (simple protocol). */
  async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
    this.check();
    if (params !== undefined && params.length > 0) {
      const result = await this.pg.query<R>(sql, params);
      return { rows: result.rows, rowCount: result.fields.length > 0 ? result.rows.length : (result.affectedRows ?? null) };
    }
    return lastResult(await this.pg.exec(sql) as Results<R>[]);
  }

  /**
   * PGlite hands COPY data over synchronously, for the whole statement, so one `COPY … TO STDOUT`
   * cannot be paused. To keep memory bounded the output is cut into pieces that are each small:
   * a table is read in ranges of heap pages (`WHERE ctid >= … AND ctid < …`, the same physical
   * order as a plain COPY), and a query through a cursor, FETCH by FETCH, each row printed as COPY
   * text here (the column texts are PostgreSQL's own output; only the COPY escaping is ours). Both
   * run in one REPEATABLE READ snapshot: the caller's transaction, or one opened for the stream.
   * Any other COPY (with options) runs as one statement and is buffered whole.
   */
  copyOut(sql: string): Readable {
    this.check();
    const table = TABLE_OUT.exec(sql);
    const query = table ? undefined : QUERY_OUT.exec(sql);
    const generate = table
      ? this.tableOut(table[1]!, table[2])
      : query
        ? this.queryOut(query[1]!)
        : this.wholeOut(sql);
    return Readable.from(generate, { objectMode: false });
  }

  private async *inSnapshot(body: () => AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
    this.check(); // a stream only starts on its first read, maybe after a close
    const status = await transactionStatus(this.pg);
    const own = status === 'I';
    if (own) await runRawOrThrow(this.pg, 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    let ok = false;
    try {
      yield* body();
      ok = true;
    } finally {
      if (own) await runRaw(this.pg, ok ? 'COMMIT' : 'ROLLBACK');
    }
  }

  private tableOut(name: string, columnList: string | undefined): AsyncGenerator<Buffer> {
    const pg = this.pg;
    const { copyOutPages } = this.options;
    const check = () => this.check();
    return this.inSnapshot(async function* () {
      let columns = columnList?.trim();
      if (!columns) {
        // COPY without a column list leaves generated columns out; SELECT * would not.
        const { rows } = await pg.query<{ list: string | null }>(
          `SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS list FROM pg_attribute
           WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''`,
          [name],
        );
        columns = rows[0]?.list ?? '';
      }
      const { rows } = await pg.query<{ pages: number }>(
        `SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int)::int AS pages`,
        [name],
      );
      const pages = rows[0]?.pages ?? 0;
      for (let page = 0; page < pages; page += copyOutPages) {
        check();
        const parts: Buffer[] = [];
        await runRawOrThrow(
          pg,
          `COPY (SELECT ${columns} FROM ${name} WHERE ctid >= '(${page},0)'::tid AND ctid < '(${page + copyOutPages},0)'::tid) TO STDOUT`,
          (type, payload) => {
            if (type === 0x64 /* CopyData */) parts.push(Buffer.from(payload));
          },
        );
        if (parts.length > 0) yield Buffer.concat(parts);
      }
    });
  }

  private queryOut(select: string): AsyncGenerator<Buffer> {
    const pg = this.pg;
    const { copyOutFetchRows } = this.options;
    const check = () => this.check();
    const cursor = `strata_copy_${randomBytes(6).toString('hex')}`;
    return this.inSnapshot(async function* () {
      await runRawOrThrow(pg, `DECLARE ${cursor} NO SCROLL CURSOR FOR ${select}`);
      try {
        for (;;) {
          check();
          const lines: Buffer[] = [];
          await runRawOrThrow(pg, `FETCH ${copyOutFetchRows} FROM ${cursor}`, (type, payload) => {
            if (type === 0x44 /* DataRow */) lines.push(dataRowToCopyText(payload));
          });
          if (lines.length === 0) break;
          yield Buffer.concat(lines);
        }
      } finally {
        // Fails harmlessly when the transaction is already aborted; its end closes the cursor anyway.
        await runRaw(pg, `CLOSE ${cursor}`);
      }
    });
  }

  private async *wholeOut(sql: string): AsyncGenerator<Buffer> {
    const parts: Buffer[] = [];
    await runRawOrThrow(this.pg, sql, (type, payload) => {
      if (type === 0x64) parts.push(Buffer.from(payload));
    });
    if (parts.length > 0) yield Buffer.concat(parts);
  }

  /**
   * PGlite cannot take COPY data over several protocol calls (the backend exits), so the text is
   * buffered up to `copyInChunkBytes`, cut after the last raw newline (in COPY text every literal
   * 0x0A ends a row) and loaded with `COPY … FROM '/dev/blob'` and that chunk as the blob. A
   * `/dev/blob` COPY without a blob breaks the instance, so an empty chunk is never sent.
   */
  copyIn(sql: string): CopyInStream {
    this.check();
    const blobSql = toBlobCopy(sql);
    const pg = this.pg;
    const chunkBytes = this.options.copyInChunkBytes;
    const check = () => this.check();
    let parts: Buffer[] = [];
    let buffered = 0;
    const load = async (chunk: Buffer): Promise<void> => {
      if (chunk.length === 0) return;
      check();
      const result = await pg.query(blobSql, [], { blob: new Blob([chunk as Uint8Array<ArrayBuffer>]) });
      stream.rowCount += result.affectedRows ?? 0;
    };
    const stream = new (class extends Writable implements CopyInStream {
      rowCount = 0;
    })({
      write(chunk: Buffer, _encoding, callback) {
        parts.push(chunk);
        buffered += chunk.length;
        if (buffered < chunkBytes) return callback();
        const all = Buffer.concat(parts);
        const cut = all.lastIndexOf(0x0a) + 1;
        if (cut === 0) {
          parts = [all];
          return callback();
        }
        parts = cut < all.length ? [all.subarray(cut)] : [];
        buffered = all.length - cut;
        load(all.subarray(0, cut)).then(() => callback(), callback);
      },
      final(callback) {
        const rest = Buffer.concat(parts);
        parts = [];
        buffered = 0;
        load(rest).then(() => callback(), callback);
      },
    });
    return stream;
  }

  /**
   * Ends the session. The backend is shared, so a transaction left open (a forced close in the
   * middle of work) is rolled back rather than handed to the next user; the instance stays usable.
   * PGlite cannot interrupt a running statement: force stops COPY streams between chunks.
   */
  async close(_options?: { force?: boolean }): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      // A dropped or promoted database's instance is already closed: nothing to roll back.
      if (!this.pg.closed && (await transactionStatus(this.pg)) !== 'I') await runRaw(this.pg, 'ROLLBACK');
    } catch {
      // The session is going away either way; its instance stays with its other users.
    } finally {
      await release(this.instance);
    }
  }
}
