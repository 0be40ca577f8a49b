import { createHmac, hash } from 'node:crypto';

/**
 * Everything a masker draws comes from a keyed digest of its input: `sha256(prefix ‖ value)`, where
 * the 32-hex-character prefix is an HMAC of the salt-derived key over the transformer's identity
 * (name, output-relevant options, locale). One one-shot `crypto.hash` per value (≈0.4 µs) instead
 * of an HMAC (≈2.9 µs): the prefix is secret and fixed-length, and no output reveals a whole digest,
 * so the digest cannot be length-extended or recomputed without the salt.
 *
 * Digests are handled as 32-character `latin1` strings (one character per byte): reading words
 * from them with `charCodeAt` costs a few nanoseconds, where `hex` + `parseInt(slice)` cost ~0.1 µs
 * per word and a Buffer ~0.5 µs per value.
 */

/** The salt-derived master key (hex). The salt itself is never stored anywhere else. */
export function deriveMasterKey(salt: string): string {
  return createHmac('sha256', salt).update('strata-anonymize/v1').digest('hex');
}

/**
 * A fixed-length secret prefix for one transformer identity: 128 bits as 32 hex characters, so
 * that prefix and a short value fit SHA-256's single 55-byte block (≈20% faster than 64).
 */
export function derivePrefix(masterKey: string, identity: string): string {
  return createHmac('sha256', masterKey).update(identity).digest('hex').slice(0, 32);
}

/** sha256(prefix ‖ value) as a 32-character binary (`latin1`) string. */
export function digest(prefix: string, value: string): string {
  // `latin1` works at run time (any Buffer encoding does); @types/node only lists hex/base64/base64url.
  return hash('sha256', prefix + value, 'latin1' as 'hex');
}

/** The big-endian 32-bit word `index` (0–7) of a digest. */
export function word(d: string, index: number): number {
  const i = index * 4;
  return ((d.charCodeAt(i) << 24) | (d.charCodeAt(i + 1) << 16) | (d.charCodeAt(i + 2) << 8) | d.charCodeAt(i + 3)) >>> 0;
}

const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** The first `bytes` bytes of a digest as lower-case hex. */
export function hexOf(d: string, bytes = 32): string {
  let out = '';
  for (let i = 0; i < bytes; i++) out += HEX_BYTES[d.charCodeAt(i)]!;
  return out;
}

/**
 * sfc32, a small fast PRNG (Chris Doty-Humphrey's PractRand suite), seeded from four words of a
 * digest. One instance is reused by a masker and reseeded per value: no allocation per value.
 */
export class Sfc32 {
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 1;

  /**
   * Seeds from digest words 4–7 (words 0–3 are left for tokens). No warm-up rounds: the state is
   * already 128 uniformly random bits.
   */
  seed(digest: string): this {
    this.a = word(digest, 4);
    this.b = word(digest, 5);
    this.c = word(digest, 6);
    this.d = word(digest, 7);
    return this;
  }

  /** Seeds from plain numbers (faker's `Randomizer.seed`). */
  seedNumbers(seed: number | number[]): void {
    const s = Array.isArray(seed) ? seed : [seed];
    this.a = (s[0] ?? 0) >>> 0;
    this.b = (s[1] ?? 0x9e3779b9) >>> 0;
    this.c = (s[2] ?? 0x243f6a88) >>> 0;
    this.d = (s[3] ?? 1) >>> 0;
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

const BASE32 = '0123456789abcdefghjkmnpqrstvwxyz';

/** Characters in a uniqueness token. */
export const TOKEN_LENGTH = 16;

/**
 * The uniqueness token: 80 bits (digest bytes 0–9) as 16 lowercase base32 characters (Crockford's
 * alphabet, no i/l/o/u). Two distinct inputs share a token with probability 2^-80.
 */
export function token(d: string): string {
  // Bytes 0–9 = 80 bits = 16 base32 characters of 5 bits each, taken 8 bits at a time.
  let out = '';
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < 10; i++) {
    acc = (acc << 8) | d.charCodeAt(i);
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}
