import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { CompressStream } from 'zstd-napi';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../errors.js';
import {
  compressionProblem,
  compressor,
  decompressor,
  DEFAULT_COMPRESSION,
  fileSuffix,
  isDecompressionFailure,
  resolveCompression,
  type Codec,
  type Compression,
} from './compression.js';

/** COPY-like text, ~350 KB: several zstd blocks and gzip windows. */
const TEXT = Buffer.from(Array.from({ length: 20_000 }, (_, i) => `${i}\tcustomer ${i * 7}\t2024-01-${(i % 28) + 1}\n`).join(''));

async function collect(source: Buffer, ...stages: NodeJS.ReadWriteStream[]): Promise<Buffer> {
  const out: Buffer[] = [];
  // Chunks of 16 KiB, as a storage read hands them over.
  const chunks = Array.from({ length: Math.ceil(source.length / 16384) }, (_, i) => source.subarray(i * 16384, (i + 1) * 16384));
  await pipeline([Readable.from(chunks), ...stages, new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) })]);
  return Buffer.concat(out);
}

const compress = async (c: Compression, text = TEXT): Promise<Buffer> => collect(text, await compressor(c));
const decompress = async (codec: Codec, bytes: Buffer): Promise<Buffer> => collect(bytes, await decompressor(codec));

/** The error decompressing `bytes` ends in (fails the test if it decompresses). */
async function failure(codec: Codec, bytes: Buffer): Promise<unknown> {
  const error = await decompress(codec, bytes).then(
    (out) => new Error(`decompressed to ${out.length} bytes`),
    (e: unknown) => e,
  );
  expect(isDecompressionFailure(error), String(error)).toBe(true);
  return error;
}

describe('compressor and decompressor', () => {
  for (const c of [{ codec: 'gzip' }, { codec: 'gzip', level: 9 }, { codec: 'zstd' }, { codec: 'zstd', level: 3 }, { codec: 'zstd', level: 19 }, { codec: 'none' }] as Compression[]) {
    it(`round-trips ${JSON.stringify(c)}`, async () => {
      const stored = await compress(c);
      if (c.codec === 'none') expect(stored.equals(TEXT)).toBe(true);
      else expect(stored.length).toBeLessThan(TEXT.length / 3);
      expect((await decompress(c.codec, stored)).equals(TEXT)).toBe(true);
    });
  }

  it('round-trips an empty table (the compressed file is not empty, so a 0-byte file is truncated)', async () => {
    for (const codec of ['gzip', 'zstd'] as const) {
      const stored = await compress({ codec }, Buffer.alloc(0));
      expect(stored.length).toBeGreaterThan(0);
      expect((await decompress(codec, stored)).length).toBe(0);
    }
  });

  it('writes what the zstd and gzip tools read: magic numbers, and a zstd frame with a checksum', async () => {
    expect((await compress({ codec: 'gzip' })).subarray(0, 2).toString('hex')).toBe('1f8b');
    const zst = await compress({ codec: 'zstd' });
    expect(zst.subarray(0, 4).toString('hex')).toBe('28b52ffd');
    // Frame header descriptor: bit 2 is the content-checksum flag.
    expect(zst[4]! & 0b100).toBe(0b100);
  });

  it('a higher zstd level stores less', async () => {
    expect((await compress({ codec: 'zstd', level: 19 })).length).toBeLessThan((await compress({ codec: 'zstd', level: 1 })).length);
  });
});

describe('truncated and damaged files are errors, never a short read', () => {
  for (const codec of ['gzip', 'zstd'] as const) {
    it(`${codec}: cut anywhere`, async () => {
      const stored = await compress({ codec });
      for (const keep of [0, 3, Math.floor(stored.length / 2), stored.length - 5, stored.length - 1]) {
        await failure(codec, stored.subarray(0, keep));
      }
    });

    it(`${codec}: a flipped byte in the middle, or in the trailing checksum`, async () => {
      const stored = await compress({ codec });
      for (const at of [Math.floor(stored.length / 2), stored.length - 2]) {
        const damaged = Buffer.from(stored);
        damaged[at]! ^= 0x01;
        await failure(codec, damaged);
      }
    });

    it(`${codec}: random bytes, and the other codec's file`, async () => {
      await failure(codec, randomBytes(4096));
      await failure(codec, await compress({ codec: codec === 'gzip' ? 'zstd' : 'gzip' }));
    });
  }

  it('zstd: garbage after a complete frame', async () => {
    await failure('zstd', Buffer.concat([await compress({ codec: 'zstd' }), Buffer.from('trailing')]));
  });

  it('zstd: the message says what zstd found', async () => {
    const stored = await compress({ codec: 'zstd' });
    expect(String(await failure('zstd', stored.subarray(0, stored.length - 1)))).toMatch(/zstd: Stream ended in middle of compressed data frame/);
  });

  it('zstd: a frame asking for a window past 8 MiB is refused, not allocated', async () => {
    const big = await collect(TEXT, new CompressStream({ compressionLevel: 3, windowLog: 27 }));
    expect(String(await failure('zstd', big))).toMatch(/zstd: Frame requires too much memory/);
    // The same text at level 19 (window 2^23) is fine.
    expect((await decompress('zstd', await compress({ codec: 'zstd', level: 19 }))).equals(TEXT)).toBe(true);
  });

  it('concatenated frames and members decompress whole (what a bomb is made of; CopyGuard stops it)', async () => {
    const member = gzipSync(TEXT);
    expect((await decompress('gzip', Buffer.concat([member, member]))).length).toBe(2 * TEXT.length);
    const frame = await compress({ codec: 'zstd' });
    expect((await decompress('zstd', Buffer.concat([frame, frame]))).length).toBe(2 * TEXT.length);
  });

  it('zstd waits for its reader: a bomb is not decoded ahead into memory', async () => {
    // 49 bytes per 1 MiB frame: 1024 of them are 1 GiB from 50 KB.
    const frame = await compress({ codec: 'zstd', level: 19 }, Buffer.alloc(1024 * 1024, 'x'));
    const bomb = Buffer.concat(Array.from({ length: 1024 }, () => frame));
    const inflate = await decompressor('zstd');
    let passed = 0;
    let buffered = 0;
    const refuseAfter4KiB = new Writable({
      write(chunk: Buffer, _e, cb) {
        passed += chunk.length;
        buffered = Math.max(buffered, inflate.readableLength);
        cb(passed > 4096 ? new Error('past rawBytes') : null);
      },
    });
    await expect(pipeline(Readable.from([bomb]), inflate, refuseAfter4KiB)).rejects.toThrow('past rawBytes');
    // zstd-napi's own DecompressStream held the whole GiB here (readableLength 1073610752).
    expect(Math.max(buffered, inflate.readableLength)).toBeLessThan(1024 * 1024);
  });

  it('zstd under backpressure (a slow reader, a small buffer) still yields every byte in order', async () => {
    const frames = await compress({ codec: 'zstd' });
    const inflate = await decompressor('zstd');
    const out: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write: (chunk: Buffer, _e, cb) => void setImmediate(() => (out.push(chunk), cb())),
    });
    // One input chunk holding the whole file: every output buffer past the first waits for _read.
    await pipeline(Readable.from([Buffer.concat([frames, frames])]), inflate, slow);
    expect(Buffer.concat(out).equals(Buffer.concat([TEXT, TEXT]))).toBe(true);
  });

  it('zstd through a pipeline like a restore\'s (64 KiB reads, a guard, a slow sink) neither stalls nor loses a byte', async () => {
    // ~7 MB of rows: many reads, and output buffers decoded while the sink is full. A Transform
    // version of the decompressor stalled here for good after 512 KiB.
    const rows = Buffer.from(Array.from({ length: 100_000 }, (_, i) => `${i}\text-${(i * 7919) % 100_003}\tuser${i}@example.com\tName ${i}\tt\n`).join(''));
    const stored = await compress({ codec: 'zstd' }, rows);
    const chunks = Array.from({ length: Math.ceil(stored.length / 65536) }, (_, i) => stored.subarray(i * 65536, (i + 1) * 65536));
    let got = 0;
    const hash = createHash('sha256');
    const slow = new Writable({
      highWaterMark: 16384,
      write: (chunk: Buffer, _e, cb) => void setImmediate(() => ((got += chunk.length), hash.update(chunk), cb())),
    });
    const run = pipeline([Readable.from(chunks), new PassThrough(), await decompressor('zstd'), new PassThrough(), slow]);
    const stalled = new Promise((_, reject) => setTimeout(() => reject(new Error(`stalled after ${got} of ${rows.length} bytes`)), 20_000).unref());
    await Promise.race([run, stalled]);
    expect(got).toBe(rows.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(rows).digest('hex'));
  });

  it('other errors are not decompression failures', () => {
    expect(isDecompressionFailure(new Error('connection reset'))).toBe(false);
    expect(isDecompressionFailure(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBe(false);
    expect(isDecompressionFailure(undefined)).toBe(false);
  });
});

describe('levels and names', () => {
  it('refuses a level outside the codec\'s range, a fractional one, and one for none', async () => {
    expect(compressionProblem({ codec: 'gzip', level: 0 })).toBe('level for gzip must be a whole number from 1 to 9, not 0');
    expect(compressionProblem({ codec: 'gzip', level: 10 })).toBe('level for gzip must be a whole number from 1 to 9, not 10');
    expect(compressionProblem({ codec: 'zstd', level: 20 })).toBe('level for zstd must be a whole number from 1 to 19, not 20');
    expect(compressionProblem({ codec: 'zstd', level: 1.5 })).toBe('level for zstd must be a whole number from 1 to 19, not 1.5');
    expect(compressionProblem({ codec: 'none', level: 1 })).toBe('level cannot be set when the codec is none');
    expect(compressionProblem({ codec: 'lz4' as Codec })).toBe('codec must be one of gzip, zstd, none, not "lz4"');
    await expect(compressor({ codec: 'zstd', level: 22 })).rejects.toMatchObject({ code: 'config-invalid', exitCode: 2 });
    await expect(compressor({ codec: 'gzip', level: -1 })).rejects.toBeInstanceOf(ConfigError);
  });

  it('fills in each codec\'s default level, and the default is zstd level 1', () => {
    expect(DEFAULT_COMPRESSION).toEqual({ codec: 'zstd', level: 1 });
    expect(resolveCompression({ codec: 'zstd' })).toEqual({ codec: 'zstd', level: 1 });
    expect(resolveCompression({ codec: 'gzip' })).toEqual({ codec: 'gzip', level: 1 });
    expect(resolveCompression({ codec: 'zstd', level: 19 })).toEqual({ codec: 'zstd', level: 19 });
    expect(resolveCompression({ codec: 'none' })).toEqual({ codec: 'none' });
  });

  it('names files by codec', () => {
    expect([fileSuffix('gzip'), fileSuffix('zstd'), fileSuffix('none')]).toEqual(['.gz', '.zst', '']);
  });
});

describe('without the zstd-napi binding', () => {
  afterEach(() => {
    vi.doUnmock('zstd-napi');
    vi.resetModules();
  });

  it('zstd fails in one sentence with a hint; gzip and none still work', async () => {
    vi.resetModules();
    // What a machine where node-gyp could not build the binding sees on import.
    vi.doMock('zstd-napi', () => {
      throw new Error("Cannot find module './build/Release/binding.node'\nRequire stack: …");
    });
    const fresh = await import('./compression.js');
    const error = await fresh.compressor({ codec: 'zstd' }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'zstd-unavailable',
      exitCode: 2,
      hint: "Set `compression: 'gzip'` in the config, or reinstall strata where a C++ compiler is available.",
    });
    // vitest words the import's failure its own way; the sentence around it is strata's.
    expect((error as Error).message).toMatch(/^zstd compression needs the zstd-napi native module, which did not load: [^\n]+\.$/);
    expect(String(((error as Error).cause as Error).cause)).toMatch(/Cannot find module '\.\/build\/Release\/binding\.node'/);
    await expect(fresh.decompressor('zstd')).rejects.toMatchObject({ code: 'zstd-unavailable' });
    const gz = await collect(TEXT, await fresh.compressor({ codec: 'gzip' }));
    expect((await collect(gz, await fresh.decompressor('gzip'))).equals(TEXT)).toBe(true);
    expect((await collect(TEXT, await fresh.compressor({ codec: 'none' }))).equals(TEXT)).toBe(true);
  });
});
