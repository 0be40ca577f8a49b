import { Readable } from 'node:stream';

/** One GetObject response, as much of it as the resumable stream needs. */
export interface ObjectResponse {
  body: Readable;
  /** The object's ETag, pinned with If-Match on every resumption so a replaced object is noticed. */
  etag?: string;
  /** Length of the whole object, when known (Content-Length of a full GET, total of a Content-Range). */
  totalLength?: number;
  /** First byte of this response within the object: 0 for a full GET, the range start otherwise. */
  start: number;
}

/** Opens the object again from byte `start` (Range), pinned to `etag` (If-Match). */
export type Reopen = (start: number, etag: string | undefined) => Promise<ObjectResponse>;

export interface ResumeOptions {
  /** Resumptions in a row without a single new byte before the stream fails. */
  maxResumes: number;
  /** First backoff delay; doubled per failure in a row, with full jitter, capped at 10 s. */
  baseDelayMs?: number;
  signal?: AbortSignal;
  /** Maps an error that ends the stream (no more resumptions) to what the reader sees. */
  mapError: (error: unknown) => Error;
}

const MAX_DELAY_MS = 10_000;

/**
 * A readable over an S3 object that survives connections dropped mid-body. The AWS SDK retries a
 * request until the response headers arrive, but a GetObject body is handed to the caller as a
 * live socket stream: a reset after that is outside the SDK's retry loop, and neither the SDK nor
 * lib-storage has a resuming download (lib-storage only uploads). So this stream re-requests the
 * rest with `Range: bytes=<delivered>-` and `If-Match: <etag>`, after a jittered backoff, a bounded
 * number of times in a row; any progress resets the count, so a long download over a flaky link
 * keeps going while a server that keeps failing at the same byte does not loop forever.
 */
export class ResumableObjectStream extends Readable {
  private body: Readable | undefined;
  private delivered = 0;
  private failuresInARow = 0;
  /** Bytes still to drop from the current body: a server that ignored Range sent the whole object. */
  private skip = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly etag: string | undefined;
  private readonly totalLength: number | undefined;
  private readonly onAbort = (): void => {
    this.destroy(this.options.signal?.reason as Error);
  };

  constructor(
    first: ObjectResponse,
    private readonly reopen: Reopen,
    private readonly options: ResumeOptions,
  ) {
    super();
    this.etag = first.etag;
    this.totalLength = first.totalLength;
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.attach(first);
  }

  /** Bytes handed to the reader so far. */
  get bytesDelivered(): number {
    return this.delivered;
  }

  override _read(): void {
    this.body?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.detach()?.destroy();
    callback(error);
  }

  private attach(response: ObjectResponse): void {
    const body = response.body;
    this.body = body;
    this.skip = this.delivered - response.start;
    body.on('data', (chunk: Buffer) => {
      if (this.body !== body || this.destroyed) return;
      let data = chunk;
      if (this.skip > 0) {
        const dropped = Math.min(this.skip, data.length);
        this.skip -= dropped;
        data = data.subarray(dropped);
        if (data.length === 0) return;
      }
      this.delivered += data.length;
      this.failuresInARow = 0;
      if (!this.push(data)) body.pause();
    });
    body.once('end', () => {
      if (this.body !== body || this.destroyed) return;
      if (this.totalLength !== undefined && this.delivered < this.totalLength) {
        this.interrupted(new Error(`the response ended after ${this.delivered} of ${this.totalLength} bytes`));
        return;
      }
      this.detach();
      this.push(null);
    });
    body.once('error', (error) => {
      if (this.body !== body || this.destroyed) return;
      this.interrupted(error);
    });
    // A socket closed without 'end' or 'error' is a cut too.
    body.once('close', () => {
      if (this.body !== body || this.destroyed || body.readableEnded) return;
      this.interrupted(new Error('the connection closed before the response ended'));
    });
  }

  private detach(): Readable | undefined {
    const body = this.body;
    this.body = undefined;
    return body;
  }

  /** The current body failed mid-way: resume from the next undelivered byte, or give up. */
  private interrupted(error: unknown): void {
    this.detach()?.destroy();
    if (this.options.signal?.aborted) {
      this.destroy(this.options.signal.reason as Error);
      return;
    }
    if (this.totalLength !== undefined && this.delivered >= this.totalLength) {
      this.push(null);
      return;
    }
    if (this.failuresInARow >= this.options.maxResumes) {
      this.destroy(this.options.mapError(error));
      return;
    }
    const base = this.options.baseDelayMs ?? 200;
    const delay = Math.random() * Math.min(MAX_DELAY_MS, base * 2 ** this.failuresInARow);
    this.failuresInARow += 1;
    this.timer = setTimeout(() => {
      this.reopen(this.delivered, this.etag).then(
        (response) => {
          if (this.destroyed) {
            response.body.destroy();
            return;
          }
          if (response.start > this.delivered) {
            response.body.destroy();
            this.destroy(this.options.mapError(new Error(`the server resumed at byte ${response.start} instead of ${this.delivered}`)));
            return;
          }
          this.attach(response);
        },
        (reopenError: unknown) => {
          if (!this.destroyed) this.destroy(this.options.signal?.aborted ? (this.options.signal.reason as Error) : this.options.mapError(reopenError));
        },
      );
    }, delay);
  }
}
