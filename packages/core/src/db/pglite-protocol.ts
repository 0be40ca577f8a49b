import type { PGlite } from '@electric-sql/pglite';

/**
 * The few PostgreSQL wire-protocol pieces the PGlite driver needs for what PGlite's own `query`
 * and `exec` cannot do: read `COPY … TO STDOUT` data (PGlite's `query` discards it), and read the
 * transaction status of the one backend.
 */

/** An error PostgreSQL reported in an ErrorResponse, shaped like PGlite's own errors (`code`, `message`). */
export class PgliteServerError extends Error {
  readonly code: string | undefined;
  readonly severity: string | undefined;
  readonly detail: string | undefined;

  constructor(fields: Record<string, string>) {
    super(fields.M ?? 'PGlite reported an error');
    this.name = 'PgliteServerError';
    this.code = fields.C;
    this.severity = fields.S;
    this.detail = fields.D;
  }
}

/** What a simple query left behind: the first error and the transaction status (`I`, `T` or `E`). */
export interface RawOutcome {
  error: PgliteServerError | undefined;
  status: string | undefined;
}

function simpleQuery(sql: string): Uint8Array {
  const body = Buffer.from(`${sql}\0`, 'utf8');
  const message = Buffer.alloc(5 + body.length);
  message[0] = 0x51; // 'Q'
  message.writeInt32BE(4 + body.length, 1);
  body.copy(message, 5);
  return new Uint8Array(message.buffer, message.byteOffset, message.length);
}

function errorFields(payload: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  let position = 0;
  while (position < payload.length && payload[position] !== 0) {
    const end = payload.indexOf(0, position + 1);
    fields[String.fromCharCode(payload[position]!)] = payload.toString('utf8', position + 1, end);
    position = end + 1;
  }
  return fields;
}

/**
 * Sends `sql` as one simple-query message under PGlite's mutex and hands every backend message to
 * `onMessage` (type byte, payload). PGlite calls back synchronously while the statement runs, so
 * `onMessage` must only keep what it needs; the payload is a view that is reused afterwards.
 */
export async function runRaw(pg: PGlite, sql: string, onMessage: (type: number, payload: Buffer) => void = () => {}): Promise<RawOutcome> {
  const outcome: RawOutcome = { error: undefined, status: undefined };
  let pending: Buffer | undefined;
  const feed = (chunk: Uint8Array): void => {
    const incoming = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const buffer = pending ? Buffer.concat([pending, incoming]) : incoming;
    let offset = 0;
    while (buffer.length - offset >= 5) {
      const type = buffer[offset]!;
      const length = buffer.readInt32BE(offset + 1);
      if (buffer.length - offset < 1 + length) break;
      const payload = buffer.subarray(offset + 5, offset + 1 + length);
      if (type === 0x45 /* E */) outcome.error ??= new PgliteServerError(errorFields(payload));
      else if (type === 0x5a /* Z */) outcome.status = String.fromCharCode(payload[0]!);
      else onMessage(type, payload);
      offset += 1 + length;
    }
    // Chunks can be views into wasm memory that PGlite reuses: keep a copy of the remainder.
    pending = offset < buffer.length ? Buffer.from(buffer.subarray(offset)) : undefined;
  };
  await pg.runExclusive(() => pg.execProtocolRawStream(simpleQuery(sql), { onRawData: feed }));
  return outcome;
}

/** Like `runRaw`, but throws the server's error. */
export async function runRawOrThrow(pg: PGlite, sql: string, onMessage?: (type: number, payload: Buffer) => void): Promise<RawOutcome> {
  const outcome = await runRaw(pg, sql, onMessage);
  if (outcome.error) throw outcome.error;
  return outcome;
}

/** The transaction status of the backend: `I` idle, `T` in a transaction, `E` in a failed one. */
export async function transactionStatus(pg: PGlite): Promise<string> {
  return (await runRaw(pg, '')).status ?? 'I';
}

const BACKSLASH = 0x5c;
/** COPY text escapes for the control characters PostgreSQL's CopyAttributeOutText escapes. */
const ESCAPES = new Map<number, number>([
  [0x08, 0x62], // \b
  [0x0c, 0x66], // \f
  [0x0a, 0x6e], // \n
  [0x0d, 0x72], // \r
  [0x09, 0x74], // \t
  [0x0b, 0x76], // \v
  [BACKSLASH, BACKSLASH],
]);

/**
 * Turns one DataRow message (text format) into a line of COPY text, escaping exactly as
 * PostgreSQL's COPY TO does (tab delimiter, `\N` for NULL), so the bytes match the server's.
 */
export function dataRowToCopyText(payload: Buffer): Buffer {
  const columns = payload.readInt16BE(0);
  // Worst case every byte is escaped: two bytes each, plus delimiters and the newline.
  const out = Buffer.allocUnsafe(payload.length * 2 + columns * 2 + 1);
  let length = 0;
  let offset = 2;
  for (let column = 0; column < columns; column++) {
    if (column > 0) out[length++] = 0x09;
    const size = payload.readInt32BE(offset);
    offset += 4;
    if (size < 0) {
      out[length++] = BACKSLASH;
      out[length++] = 0x4e; // NULL is written \N
      continue;
    }
    for (let index = offset; index < offset + size; index++) {
      const byte = payload[index]!;
      const escaped = byte < 0x20 || byte === BACKSLASH ? ESCAPES.get(byte) : undefined;
      if (escaped === undefined) out[length++] = byte;
      else {
        out[length++] = BACKSLASH;
        out[length++] = escaped;
      }
    }
    offset += size;
  }
  out[length++] = 0x0a;
  return Buffer.from(out.subarray(0, length));
}
