import { createHook } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inspect } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, DecryptionFailed } from '../errors.js';
import { decryptStream, encryptStream } from './age-streams.js';
import { generateSnapshotKey } from './keys.js';

const CHUNK = 64 * 1024;
let key: { identity: string; recipient: string };
let otherKey: { identity: string; recipient: string };

beforeAll(async () => {
  key = await generateSnapshotKey();
  otherKey = await generateSnapshotKey();
});

/** Feeds `bytes` in pieces of `piece` bytes, so chunking inside age does not line up with writes. */
function source(bytes: Buffer, piece = 10_000): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += piece) pieces.push(bytes.subarray(at, at + piece));
  return Readable.from(pieces, { objectMode: false });
}

function collector(): { sink: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { sink, bytes: () => Buffer.concat(chunks) };
}

async function encrypt(plain: Buffer, recipient = key.recipient): Promise<Buffer> {
  const out = collector();
  await pipeline(source(plain), encryptStream(recipient), out.sink);
  return out.bytes();
}

async function decrypt(cipher: Buffer, identity = key.identity): Promise<Buffer> {
  const out = collector();
  await pipeline(source(cipher, 7_777), decryptStream(identity), out.sink);
  return out.bytes();
}

/** Bytes of the age header, through the MAC line: `age-encryption.org/v1`, stanzas, `--- <mac>`. */
function headerLength(cipher: Buffer): number {
  const macLine = cipher.indexOf('\n--- ');
  return cipher.indexOf('\n', macLine + 1) + 1;
}

async function decryptFailure(cipher: Buffer, identity = key.identity): Promise<DecryptionFailed> {
  const error = await decrypt(cipher, identity).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(DecryptionFailed);
  return error as DecryptionFailed;
}

describe('encryptStream and decryptStream', () => {
  it.each([
    ['empty input', 0],
    ['1 byte', 1],
    ['exactly one 64 KiB chunk', CHUNK],
    ['64 KiB + 1', CHUNK + 1],
    ['several MB of random bytes', 5 * 1024 * 1024 + 123],
  ])('round-trips %s, with the size age v1 gives', async (_name, size) => {
    const plain = randomBytes(size);
    const cipher = await encrypt(plain);
    const chunks = Math.max(1, Math.ceil(size / CHUNK));
    // age v1: header, 16-byte nonce, then each 64 KiB chunk plus its 16-byte Poly1305 tag.
    expect(cipher.length).toBe(headerLength(cipher) + 16 + size + 16 * chunks);
    expect(cipher.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    expect((await decrypt(cipher)).equals(plain)).toBe(true);
  });

  it('gives each file its own file key: the same input never encrypts to the same bytes', async () => {
    const plain = randomBytes(1000);
    expect((await encrypt(plain)).equals(await encrypt(plain))).toBe(false);
  });

  describe('refuses what it cannot open', () => {
    let plain: Buffer;
    let cipher: Buffer;
    beforeAll(async () => {
      plain = randomBytes(3 * CHUNK + 500);
      cipher = await encrypt(plain);
    });

    it('another identity: wrong-key, found in the header', async () => {
      const error = await decryptFailure(cipher, otherKey.identity);
      expect(error.reason).toBe('wrong-key');
      expect(error.code).toBe('decryption-failed');
    });

    it('cut short in the middle of a chunk', async () => {
      expect((await decryptFailure(cipher.subarray(0, cipher.length - 1000))).reason).toBe('damaged');
    });

    it('cut exactly at a 64 KiB chunk boundary (the last-chunk flag catches it)', async () => {
      const twoChunks = headerLength(cipher) + 16 + 2 * (CHUNK + 16);
      expect((await decryptFailure(cipher.subarray(0, twoChunks))).reason).toBe('damaged');
    });

    it('cut right after the nonce, or inside the header', async () => {
      expect((await decryptFailure(cipher.subarray(0, headerLength(cipher) + 16))).reason).toBe('damaged');
      expect((await decryptFailure(cipher.subarray(0, headerLength(cipher) - 10))).reason).toBe('damaged');
    });

    it('a flipped byte in the header MAC', async () => {
      const changed = Buffer.from(cipher);
      const mac = changed.indexOf('\n--- ') + 5;
      changed[mac] = changed[mac] === 0x41 ? 0x42 : 0x41; // another base64 letter: only the MAC changes
      expect((await decryptFailure(changed)).reason).toBe('damaged');
    });

    it('a flipped byte in the wrapped file key: age cannot tell it from another key', async () => {
      const changed = Buffer.from(cipher);
      const body = changed.indexOf('\n', changed.indexOf('-> X25519 ')) + 1;
      changed[body] = changed[body] === 0x41 ? 0x42 : 0x41;
      const error = await decryptFailure(changed);
      expect(error.reason).toBe('wrong-key');
      expect(error.message).toMatch(/header was changed/);
    });

    it('a flipped byte in the payload or the nonce', async () => {
      const payload = Buffer.from(cipher);
      payload[headerLength(cipher) + 16 + 2 * CHUNK]! ^= 0x01;
      expect((await decryptFailure(payload)).reason).toBe('damaged');
      const nonce = Buffer.from(cipher);
      nonce[headerLength(cipher) + 3]! ^= 0x80;
      expect((await decryptFailure(nonce)).reason).toBe('damaged');
    });

    it('garbage appended after the last chunk, also after a full last chunk', async () => {
      expect((await decryptFailure(Buffer.concat([cipher, randomBytes(10)]))).reason).toBe('damaged');
      const full = await encrypt(randomBytes(CHUNK));
      expect((await decryptFailure(Buffer.concat([full, randomBytes(CHUNK + 16)]))).reason).toBe('damaged');
    });

    it('bytes that are not age at all', async () => {
      expect((await decryptFailure(randomBytes(5000))).reason).toBe('damaged');
      expect((await decryptFailure(Buffer.alloc(0))).reason).toBe('damaged');
    });

    it('never puts the key in the error, its text, stack or cause', async () => {
      const failures = [
        await decryptFailure(cipher, otherKey.identity),
        await decryptFailure(cipher.subarray(0, cipher.length - 1)),
        await decryptFailure(randomBytes(100)),
      ];
      for (const error of failures) {
        const shown = [error.message, error.hint, String(error), error.stack, inspect(error, { depth: 10 }), JSON.stringify(error.toJSON())].join('\n');
        for (const secret of [key.identity, otherKey.identity]) {
          expect(shown).not.toContain(secret);
          expect(shown.toLowerCase()).not.toContain(secret.slice('AGE-SECRET-KEY-1'.length, 40).toLowerCase());
        }
      }
    });
  });

  it('refuses a key that is not one before any byte flows, without quoting it', () => {
    const bad = key.identity.slice(0, -2) + (key.identity.endsWith('QQ') ? 'PP' : 'QQ');
    for (const make of [() => decryptStream(bad), () => encryptStream('age1notarecipient'), () => decryptStream(key.recipient)]) {
      let thrown: unknown;
      try {
        make();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      expect((thrown as ConfigError).code).toBe('encryption-key-invalid');
      expect(inspect(thrown, { depth: 10 })).not.toContain(bad.slice(16, 40));
    }
  });
});

describe('inside a pipeline', () => {
  /**
   * A source of 64 KiB random chunks that counts what it produced: 64 MiB, more than any test
   * reads, and a bound so that a backpressure bug fails the assertion instead of eating memory.
   */
  function endless(): Readable & { produced: number } {
    const stream = new Readable({
      read() {
        if (stream.produced >= 64 * 1024 * 1024) return void this.push(null);
        stream.produced += CHUNK;
        this.push(randomBytes(CHUNK));
      },
    }) as Readable & { produced: number };
    stream.produced = 0;
    return stream;
  }

  function slowSink(onWrite: (total: number) => void): Writable {
    let total = 0;
    return new Writable({
      highWaterMark: CHUNK,
      write(chunk: Buffer, _encoding, callback) {
        total += chunk.length;
        onWrite(total);
        setTimeout(callback, 1);
      },
    });
  }

  it('holds backpressure: a slow consumer keeps the producer a few chunks ahead, not the whole stream', async () => {
    const input = endless();
    let maxAhead = 0;
    const controller = new AbortController();
    const run = pipeline(
      input,
      encryptStream(key.recipient),
      decryptStream(key.identity),
      slowSink((total) => {
        maxAhead = Math.max(maxAhead, input.produced - total);
        if (total >= 16 * 1024 * 1024) controller.abort();
      }),
      { signal: controller.signal },
    );
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    // Without backpressure the producer would run ahead by most of the 16 MiB.
    expect(maxAhead).toBeLessThan(2 * 1024 * 1024);
    expect(input.destroyed).toBe(true);
  });

  it('passes an upstream error through unchanged, through both directions', async () => {
    const cipher = await encrypt(randomBytes(3 * CHUNK));
    for (const [bytes, stage] of [
      [randomBytes(3 * CHUNK), encryptStream(key.recipient)],
      [cipher, decryptStream(key.identity)],
    ] as const) {
      const failure = new Error('the disk went away');
      const input = new Readable({
        read() {
          this.push(bytes.subarray(0, CHUNK + 100));
          this.destroy(failure);
        },
      });
      await expect(pipeline(input, stage, collector().sink)).rejects.toBe(failure);
      expect(stage.destroyed).toBe(true);
    }
  });

  it('passes a downstream error back unchanged and stops the source', async () => {
    for (const stages of [[encryptStream(key.recipient)], [encryptStream(key.recipient), decryptStream(key.identity)]]) {
      const failure = new Error('the bucket is full');
      const input = endless();
      const sink = new Writable({
        write(_chunk, _encoding, callback) {
          callback(failure);
        },
      });
      await expect(pipeline([input, ...stages, sink])).rejects.toBe(failure);
      expect(input.destroyed).toBe(true);
    }
  });

  it('a decryption failure stops the pipeline on both sides', async () => {
    const cipher = await encrypt(randomBytes(10 * CHUNK));
    cipher[headerLength(cipher) + 16 + 5]! ^= 1; // in the first chunk: fails before most is read
    const input = source(cipher);
    let received = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        callback();
      },
    });
    await expect(pipeline(input, decryptStream(key.identity), sink)).rejects.toBeInstanceOf(DecryptionFailed);
    expect(received).toBe(0);
    expect(input.destroyed).toBe(true);
  });

  /**
   * Destroyed while waiting (for the rest of a header, or mid-payload), the pipeline must settle
   * and nothing created by the age streams may stay pending. Promises are tracked with
   * async_hooks by where they were created.
   */
  it.each(['waiting for the header', 'in the payload'])('an aborted pipeline settles and leaves no pending promise (%s)', async (when) => {
    const pending = new Set<number>();
    let tracked = 0;
    const hook = createHook({
      init(id, type) {
        if (type !== 'PROMISE') return;
        if (/age-streams\.ts|age-encryption/.test(new Error().stack ?? '')) {
          tracked++;
          pending.add(id);
        }
      },
      promiseResolve(id) {
        pending.delete(id);
      },
    });
    const header = when === 'waiting for the header';
    const stage = header ? decryptStream(key.identity) : encryptStream(key.recipient);
    let sent = false;
    // One chunk, then silence: the stage is left waiting for input that never comes.
    const input = new Readable({
      read() {
        if (sent) return;
        sent = true;
        this.push(header ? Buffer.from('age-encryption.org/v1\n-> X25519 ') : randomBytes(3 * CHUNK));
      },
    });
    const controller = new AbortController();
    hook.enable();
    try {
      const run = pipeline(input, stage, collector().sink, { signal: controller.signal });
      await new Promise((resolve) => setTimeout(resolve, 50));
      controller.abort();
      await expect(run).rejects.toMatchObject({ name: 'AbortError' });
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      hook.disable();
    }
    expect(tracked).toBeGreaterThan(0); // the hook saw the streams' promises at all
    expect(pending.size).toBe(0);
    expect(stage.destroyed).toBe(true);
  });
});
