import { Duplex } from 'node:stream';
import { Decrypter, Encrypter } from 'age-encryption';
import { decryptionFailed, invalidKey } from './crypto-errors.js';

/**
 * A Duplex that age-encrypts what is written to it for one X25519 recipient (`age1…`), for use
 * inside `stream.pipeline([...])`. Each call makes a new file (its own random file key). The
 * output is the age v1 binary format: `age -d -i key.txt` opens it.
 */
export function encryptStream(recipient: string): Duplex {
  const encrypter = new Encrypter();
  try {
    // Checked here, not when the first byte arrives, so a bad recipient fails before any work.
    encrypter.addRecipient(recipient);
  } catch {
    throw invalidKey('The recipient given to encrypt a data file is not an age recipient.');
  }
  return new WebTransformDuplex((input) => encrypter.encrypt(input), (error) => error);
}

/**
 * A Duplex that opens an age file written for `identity` (`AGE-SECRET-KEY-1…`) and passes on the
 * plain bytes. It fails with `DecryptionFailed` when the identity does not match the header
 * (`wrong-key`) or when the file was changed, cut short or extended (`damaged`). Bytes are passed
 * on as each 64 KiB chunk authenticates, so what went downstream before a failure was authentic
 * but the whole is incomplete: the caller must treat the stream's error as the outcome.
 */
export function decryptStream(identity: string): Duplex {
  const decrypter = new Decrypter();
  try {
    decrypter.addIdentity(identity);
  } catch {
    throw invalidKey('The key given to decrypt a data file is not an age secret key.');
  }
  return new WebTransformDuplex((input) => decrypter.decrypt(input), (error) => decryptionFailed(error));
}

/**
 * A Node Duplex around a web-stream transform (age's API is web streams). Not `Duplex.from(async
 * function* …)`: on Node 20 destroying such a Duplex neither aborts the signal it hands the
 * generator nor completes while the generator waits for input, so an aborted or failed pipeline
 * would never settle. Here every wait is on a web stream that `_destroy` errors or cancels.
 *
 * Backpressure: the input web stream has no queue (highWaterMark 0) and a write is acknowledged
 * only when age pulls for the next chunk; output is read only while Node's readable buffer has
 * room. So at most a few 64 KiB chunks are in flight whatever the stream's length.
 */
class WebTransformDuplex extends Duplex {
  #input!: ReadableStreamDefaultController<Uint8Array>;
  /** The callback of the last write, held until age asks for more. */
  #written: (() => void) | undefined;
  readonly #output: Promise<ReadableStreamDefaultReader<Uint8Array>>;
  #reading = false;

  constructor(
    transform: (input: ReadableStream<Uint8Array>) => Promise<ReadableStream<Uint8Array>>,
    private readonly mapError: (error: unknown) => unknown,
  ) {
    super();
    const input = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#input = controller;
        },
        pull: () => {
          const written = this.#written;
          this.#written = undefined;
          written?.();
        },
        // age stopped reading its input: it failed, and says why here before the output does.
        cancel: (reason) => {
          if (!this.destroyed) this.destroy(this.mapError(reason) as Error);
        },
      },
      { highWaterMark: 0 },
    );
    this.#output = transform(input).then((output) => output.getReader());
    // A failure before the first read (a bad header) is reported by #pump, not as unhandled.
    this.#output.catch(() => undefined);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    try {
      this.#input.enqueue(chunk);
    } catch (error) {
      return callback(error as Error); // the input was already errored or cancelled
    }
    this.#written = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    try {
      this.#input.close();
    } catch (error) {
      return callback(error as Error);
    }
    callback();
  }

  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    void this.#pump();
  }

  /** Moves age's output to Node's buffer until Node says it is full. */
  async #pump(): Promise<void> {
    try {
      const reader = await this.#output;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          this.push(null);
          return;
        }
        // A Buffer view (no copy): Node consumers expect Buffers, age yields Uint8Arrays.
        if (!this.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength))) return;
      }
    } catch (error) {
      // After a destroy the stream already holds the error that stopped it.
      if (!this.destroyed) this.destroy(this.mapError(error) as Error);
    } finally {
      this.#reading = false;
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#written = undefined;
    const reason = error ?? new Error('age stream destroyed');
    // Erroring the input rejects whatever in age waits for it (a header read, a chunk); cancelling
    // the output rejects a pending read of ours. Neither throws on a stream that already ended.
    this.#input.error(reason);
    this.#output.then((reader) => reader.cancel(reason)).catch(() => undefined);
    callback(error);
  }
}
