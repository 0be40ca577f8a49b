import { Duplex, PassThrough, type Transform } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { ConfigError } from '../errors.js';

/** How a data file's COPY text is compressed; the manifest's `data.compression`. */
export const CODECS = ['gzip', 'zstd', 'none'] as const;
export type Codec = (typeof CODECS)[number];

/** A codec and, for gzip and zstd, its level (see `COMPRESSION_LEVELS`). */
export interface Compression {
  codec: Codec;
  level?: number;
}

/**
 * Levels each codec accepts, and the one used when none is given. Level 1 for both: on the bench
 * data zstd-1 stores 20% less than gzip-1 in 60% of its time, and higher levels cost capture time
 * on a CPU-bound pipeline for a few percent (docs/design/encryption.md §2). zstd stops at 19:
 * 20–22 need a window of up to 128 MiB on every reader.
 */
export const COMPRESSION_LEVELS = {
  gzip: { min: 1, max: 9, default: 1 },
  zstd: { min: 1, max: 19, default: 1 },
} as const satisfies Record<Exclude<Codec, 'none'>, { min: number; max: number; default: number }>;

/** What a snapshot is written with when neither the config nor the caller says otherwise. */
export const DEFAULT_COMPRESSION: Compression = { codec: 'zstd', level: COMPRESSION_LEVELS.zstd.default };

/**
 * Frames may not ask for a window larger than 2^23 bytes (8 MiB), what level 19 uses: a data file
 * is input from outside, and a frame header may otherwise make every reader allocate 128 MiB.
 */
const ZSTD_WINDOW_LOG_MAX = 23;

/** Why `c` is not a usable compression (completes "compression …"), or undefined. */
export function compressionProblem(c: Compression): string | undefined {
  if (!(CODECS as readonly string[]).includes(c.codec)) return `codec must be one of ${CODECS.join(', ')}, not ${JSON.stringify(c.codec)}`;
  if (c.level === undefined) return undefined;
  if (c.codec === 'none') return 'level cannot be set when the codec is none';
  const { min, max } = COMPRESSION_LEVELS[c.codec];
  if (!Number.isInteger(c.level) || c.level < min || c.level > max) return `level for ${c.codec} must be a whole number from ${min} to ${max}, not ${c.level}`;
  return undefined;
}

/**
 * `value` (a codec name, or a codec and a level) checked, with the codec's default level filled in
 * (no level for `none`): what the manifest records. A bad one is a ConfigError (the config schema refuses it earlier; this guards the API).
 */
export function resolveCompression(value: Codec | Compression): Compression {
  const c = typeof value === 'string' ? { codec: value } : value;
  const problem = compressionProblem(c);
  if (problem) {
    throw new ConfigError(`The compression ${JSON.stringify(c)} is invalid: ${problem}.`, {
      code: 'config-invalid',
      hint: "Use 'gzip', 'zstd' or 'none', or { codec, level } with gzip 1–9 or zstd 1–19.",
    });
  }
  return c.codec === 'none' ? { codec: 'none' } : { codec: c.codec, level: c.level ?? COMPRESSION_LEVELS[c.codec].default };
}

/** What follows `.copy` in a data file's name: `.gz`, `.zst`, or nothing for uncompressed text. */
export function fileSuffix(codec: Codec): string {
  return codec === 'gzip' ? '.gz' : codec === 'zstd' ? '.zst' : '';
}

/** A stream that compresses with `c` (checked, default level filled in). */
export async function compressor(c: Compression): Promise<Transform> {
  const { codec, level } = resolveCompression(c);
  if (codec === 'gzip') return createGzip({ level: level! });
  if (codec === 'none') return new PassThrough();
  const { zstd } = await loadZstd();
  // The checksum makes damage an error of the decompressor itself, as gzip's CRC does, and lets
  // `zstd -d` check a file by hand.
  return new zstd.CompressStream({ compressionLevel: level!, checksumFlag: true });
}

/**
 * A stream that decompresses `codec`. A truncated or damaged stream fails it with an error that
 * `isDecompressionFailure` recognises: zlib's carry a `Z_…` code, zstd's are `DecompressionFailed`.
 */
export async function decompressor(codec: Codec): Promise<Duplex> {
  if (codec === 'gzip') return createGunzip();
  if (codec === 'none') return new PassThrough();
  const { binding } = await loadZstd();
  return new ZstdDecompress(binding);
}

/**
 * A zstd stream that could not be decompressed. zstd-napi throws plain `Error`s ("Restored data
 * doesn't match checksum", "Unknown frame descriptor"…) that carry no code, so strata's stream
 * wraps them in this.
 */
export class DecompressionFailed extends Error {
  constructor(cause: unknown) {
    super(`zstd: ${(cause as Error | undefined)?.message ?? String(cause)}`, { cause });
    this.name = 'DecompressionFailed';
  }
}

/**
 * Whether `error` says the compressed stream itself is truncated or corrupt (as opposed to the
 * storage, the COPY text or the server): a zlib error (`Z_BUF_ERROR` for a truncated gzip file,
 * `Z_DATA_ERROR` for damage) or a `DecompressionFailed`.
 */
export function isDecompressionFailure(error: unknown): boolean {
  if (error instanceof DecompressionFailed) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/**
 * What the decompressor said, naming the codec: `gzip: unexpected end of file`, `zstd: Restored
 * data doesn't match checksum`. Completes "is truncated or corrupt (…)".
 */
export function describeDecompressionFailure(codec: Codec, error: unknown): string {
  const message = (error as Error | undefined)?.message ?? String(error);
  return message.startsWith(`${codec}: `) ? message : `${codec}: ${message}`;
}

type ZstdModule = typeof import('zstd-napi');
type ZstdBinding = typeof import('zstd-napi/binding.js');
let zstdModules: Promise<{ zstd: ZstdModule; binding: ZstdBinding }> | undefined;

/**
 * zstd-napi, loaded on first use: it is a native module built at install time, and a machine where
 * it did not build can still write and read gzip and uncompressed snapshots.
 */
async function loadZstd(): Promise<{ zstd: ZstdModule; binding: ZstdBinding }> {
  zstdModules ??= Promise.all([import('zstd-napi'), import('zstd-napi/binding.js')])
    .then(([zstd, binding]) => ({ zstd, binding: (binding as { default?: ZstdBinding }).default ?? binding }))
    .catch((error: unknown) => {
      zstdModules = undefined;
      const reason = ((error as Error | undefined)?.message ?? String(error)).split('\n')[0]!.replace(/\.$/, '');
      throw new ConfigError(`zstd compression needs the zstd-napi native module, which did not load: ${reason}.`, {
        code: 'zstd-unavailable',
        hint: "Set `compression: 'gzip'` in the config, or reinstall strata where a C++ compiler is available.",
        cause: error,
      });
    });
  return zstdModules;
}

/**
 * Streaming zstd decompression that waits for its reader. zstd-napi's own DecompressStream pushes
 * everything one input chunk holds before it returns, and 64 KiB of hostile frames hold a GiB or
 * more (an RLE block of 128 KiB takes 4 bytes): the whole of it would sit in memory before
 * CopyGuard could refuse the first byte past `rawBytes`. Here a chunk is decoded one output buffer
 * at a time, and decoding stops whenever the reader's buffer is full until it asks for more, as
 * zlib's streams do. Its errors are `DecompressionFailed`; a stream that ends inside a frame, or
 * before any frame, is one too.
 *
 * A Duplex, not a Transform: a Transform whose write callback is called from `_read` with its
 * buffer full keeps that callback until the next `_read`, which never comes when that `_read`
 * pushed nothing (the restore of the bench data hung there). Here the write callback is called as
 * soon as the chunk is decoded, and the only wait is for `_read` after a `push` that said stop.
 */
class ZstdDecompress extends Duplex {
  private readonly dctx: InstanceType<ZstdBinding['DCtx']>;
  private readonly outSize: number;
  /** Input not yet decoded, and the callback that asks for the next chunk once it is. */
  private input: Buffer = Buffer.alloc(0);
  private pending: ((error?: Error | null) => void) | undefined;
  private inFrame = false;
  private sawInput = false;
  private pumping = false;

  constructor(binding: ZstdBinding) {
    super({ allowHalfOpen: false });
    this.dctx = new binding.DCtx();
    this.dctx.setParameter(binding.DParameter.windowLogMax, ZSTD_WINDOW_LOG_MAX);
    this.outSize = binding.dStreamOutSize();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (chunk.length > 0) this.sawInput = true;
    this.input = chunk;
    this.pending = done;
    this.pump();
  }

  override _read(): void {
    this.pump();
  }

  override _final(done: (error?: Error | null) => void): void {
    if (!this.sawInput) return done(new DecompressionFailed(new Error('Stream ended before the first frame')));
    if (this.inFrame) return done(new DecompressionFailed(new Error('Stream ended in middle of compressed data frame')));
    this.push(null);
    done();
  }

  /** Decodes until the input is used up (then asks for more) or the reader's buffer is full. */
  private pump(): void {
    if (this.pumping || !this.pending) return;
    this.pumping = true;
    try {
      for (;;) {
        const out = Buffer.allocUnsafe(this.outSize);
        const [hint, produced, consumed] = this.dctx.decompressStream(out, this.input);
        this.input = this.input.subarray(consumed);
        // 0: a frame just ended; anything else: the frame goes on in the input still to come.
        this.inFrame = hint !== 0;
        const wanted = produced === 0 || this.push(out.subarray(0, produced));
        // A full output buffer may leave more decoded bytes inside zstd: ask again.
        if (this.input.length === 0 && (produced < out.length || hint === 0)) break;
        if (!wanted) return; // _read picks up from here.
      }
    } catch (error) {
      return this.finish(new DecompressionFailed(error));
    } finally {
      this.pumping = false;
    }
    this.finish();
  }

  private finish(error?: Error): void {
    const done = this.pending!;
    this.pending = undefined;
    done(error ?? null);
  }
}
