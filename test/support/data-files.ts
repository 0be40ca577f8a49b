// Data files of a snapshot as tests read and write them by hand: through core's own codecs, so a
// test says which codec it means and never assumes gzip.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compressor, decompressor, type Codec, type Compression } from '../../packages/core/src/format/compression.js';

/** `bytes` (a whole data file) decompressed with `codec`. */
export async function decompressBytes(bytes: Buffer, codec: Codec): Promise<Buffer> {
  return through(bytes, await decompressor(codec));
}

/** `text` compressed as strata would write it with `compression` (a codec name: its default level). */
export async function compressBytes(text: Buffer, compression: Codec | Compression): Promise<Buffer> {
  return through(text, await compressor(typeof compression === 'string' ? { codec: compression } : compression));
}

async function through(bytes: Buffer, stage: NodeJS.ReadWriteStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(Readable.from([bytes]), stage, async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) chunks.push(chunk);
  });
  return Buffer.concat(chunks);
}
