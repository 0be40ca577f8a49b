import { digest, Sfc32 } from './keyed-digest.js';

/**
 * Rounds of the Feistel network; each costs one digest of half the value. Three keyed rounds are
 * Luby–Rackoff's pseudorandom permutation: no relation between the halves of two inputs shows in
 * their outputs (two rounds would leak the difference of left halves that share a right half).
 * A fourth round only adds strength against someone who can query the inverse, which a reader
 * of masked data cannot, for a third more time on every value.
 */
const ROUNDS = 3;

/**
 * Which characters a format-preserving permutation changes: digits only (`phone`), or digits and
 * ASCII letters within their case (`scramble`). Everything else stays where it is.
 */
export type CharClasses = 'digits' | 'alphanumeric';

/**
 * A keyed, format-preserving permutation of strings: each changed character stays in its class
 * (digit → digit, lower → lower, upper → upper), length and every other character are kept.
 *
 * It is a Feistel network over the changeable positions, split in two halves; each round adds
 * (per position, modulo 10 or 26) a stream drawn from the keyed digest of the other half. Every
 * round is invertible, so the whole map is a bijection on strings of the same shape: distinct
 * inputs always give distinct outputs (zero collision probability), which is what keeps a unique
 * column unique without a token. Not a vetted cipher (FF1/FF3 are); it masks, it does not encrypt.
 */
export function createFormatPreserving(roundPrefixes: readonly string[], classes: CharClasses): (value: string) => string {
  if (roundPrefixes.length < ROUNDS) throw new Error(`format-preserving permutation needs ${ROUNDS} round keys`);
  const prng = new Sfc32();
  const alpha = classes === 'alphanumeric';
  let codes: number[] = [];
  let positions: number[] = [];
  return (value: string): string => {
    const n = value.length;
    if (codes.length < n) {
      codes = new Array<number>(n).fill(0);
      positions = new Array<number>(n).fill(0);
    }
    let k = 0;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      codes[i] = c;
      if ((c >= 48 && c <= 57) || (alpha && ((c >= 65 && c <= 90) || (c >= 97 && c <= 122)))) positions[k++] = i;
    }
    if (k === 0) return value;
    const half = k >> 1;
    // The count of changeable positions prefixes every hashed half, so shapes of different sizes
    // do not share streams. Round 0 hashes the right half as read; every later round hashes the
    // half the previous round wrote, which that round collects as it writes it.
    let source = `${k}:`;
    for (let p = half; p < k; p++) source += String.fromCharCode(codes[positions[p]!]!);
    for (let round = 0; round < ROUNDS; round++) {
      // Even rounds change the left half from the right one, odd rounds the reverse.
      prng.seed(digest(roundPrefixes[round]!, source));
      const even = round % 2 === 0;
      const toEnd = even ? half : k;
      source = `${k}:`;
      for (let p = even ? 0 : half; p < toEnd; p++) {
        const i = positions[p]!;
        const c = shift(codes[i]!, prng.nextU32());
        codes[i] = c;
        source += String.fromCharCode(c);
      }
    }
    return fromCodes(codes, n);
  };
}

function shift(c: number, r: number): number {
  if (c <= 57) return 48 + ((c - 48 + (r % 10)) % 10);
  if (c <= 90) return 65 + ((c - 65 + (r % 26)) % 26);
  return 97 + ((c - 97 + (r % 26)) % 26);
}

function fromCodes(codes: number[], n: number): string {
  if (n <= 4096) return String.fromCharCode.apply(null, codes.slice(0, n));
  let out = '';
  for (let i = 0; i < n; i += 4096) out += String.fromCharCode.apply(null, codes.slice(i, Math.min(n, i + 4096)));
  return out;
}
