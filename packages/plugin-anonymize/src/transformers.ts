import { z } from 'zod';

import { AnonymizeError } from './anonymize-error.js';
import type { ColumnType } from './column-type.js';
import { createFormatPreserving } from './format-preserving.js';
import { digest, hexOf, Sfc32, token, TOKEN_LENGTH, word } from './keyed-digest.js';
import type { LocaleData } from './locale-data.js';
import { shiftDate } from './mask-date.js';
import { addNoise } from './mask-number.js';

/** What a masker is built for: one rule on one column (or one JSON path of it). */
export interface MaskerContext {
  /** Secret prefix of this transformer identity (empty for unsalted transformers). */
  prefix: string;
  /** Three more secret prefixes, for the format-preserving rounds of `phone` and `scramble`. */
  roundPrefixes: readonly string[];
  locale: LocaleData;
  /** The column's type; `undefined` for a leaf inside a JSON document. */
  type: ColumnType | undefined;
  /** Outputs must not collide (unique/primary-key column, or a `key: true` rule). */
  unique: boolean;
  /** `schema.table.column[.path]`, for errors about a value (the value itself is never shown). */
  where: string;
}

/** Masks one non-NULL value (text representation) to text or NULL. */
export type Masker = (value: string) => string | null;

/**
 * How a transformer keeps a unique column unique: `inherent` outputs never collide (a bijection,
 * or ≥80 bits of the keyed digest in every output); `token` appends a token of 80 digest bits only
 * when the column is unique; `none` cannot, so a rule on a unique column is refused.
 */
export type Uniqueness = 'inherent' | 'token' | 'none';

/** One transformer: its options, what it accepts, and how it builds a masker. */
export interface TransformerSpec {
  readonly name: string;
  /** Validates the options object (`{ email: { key: true } }` → `{ key: true }`). */
  readonly options: z.ZodType<Record<string, unknown>>;
  /** Needs the salt (its output depends on a keyed digest). */
  readonly salted: boolean;
  readonly uniqueness: Uniqueness;
  /** Column type families it can write, in words for the error message. */
  readonly accepts: readonly ColumnType['kind'][];
  /** NULL input gives this output instead of NULL (only `fixed`, unless `keepNull`). */
  nullOutput?(options: Record<string, unknown>): string | null;
  /** Shortest `character varying(n)` it can fill while keeping its guarantees. */
  minLength?(options: Record<string, unknown>, unique: boolean): number;
  /** Builds the masker for one column. */
  create(ctx: MaskerContext, options: Record<string, unknown>): Masker;
}

const keyOption = { key: z.boolean().optional() };
const baseOptions = z.strictObject({ ...keyOption });
const nameOptions = z.strictObject({ ...keyOption, unique: z.boolean().optional() });

const TEXT: ColumnType['kind'][] = ['text'];
const EXAMPLE_DOMAINS = ['example.com', 'example.net', 'example.org'] as const;
const TOKEN_TAIL = TOKEN_LENGTH + 1;

/** Appends ` <token>` on unique columns and cuts the base so that the token survives the cut. */
function withToken(ctx: MaskerContext, base: string, dg: string): string {
  if (!ctx.unique) return fit(ctx, base);
  const tail = ` ${token(dg)}`;
  const max = ctx.type?.maxLength;
  return (max === undefined ? base : cut(base, max - tail.length).trimEnd()) + tail;
}

function fit(ctx: MaskerContext, value: string): string {
  const max = ctx.type?.maxLength;
  return max === undefined ? value : cut(value, max);
}

function cut(value: string, n: number): string {
  if (value.length <= n) return value;
  const chars = Array.from(value);
  return chars.length <= n ? value : chars.slice(0, Math.max(0, n)).join('');
}

/** A masker drawing from a seeded PRNG after one digest of the value. */
function picking(ctx: MaskerContext, draw: (rng: Sfc32, dg: string, value: string) => string): Masker {
  const rng = new Sfc32();
  return (value) => {
    const dg = digest(ctx.prefix, value);
    return draw(rng.seed(dg), dg, value);
  };
}

/** A masker over faker's own generators, its randomizer reseeded from the value's digest. */
function viaFaker(ctx: MaskerContext, generate: (faker: LocaleData['faker']) => string): Masker {
  const { rng, faker } = ctx.locale;
  return (value) => {
    const dg = digest(ctx.prefix, value);
    rng.seed(dg);
    return withToken(ctx, generate(faker), dg);
  };
}

function badValue(ctx: MaskerContext, what: string): AnonymizeError {
  return new AnonymizeError(`A value of ${ctx.where} is not ${what}, so it cannot be masked.`, {
    code: 'anonymize-bad-value',
    hint: `Check the rule for ${ctx.where} in the anonymize section, or use a function rule for this column.`,
  });
}

function fullName(locale: LocaleData, rng: Sfc32): string {
  const first = rng.pick(locale.firstNames);
  const last = rng.pick(locale.lastNames);
  return locale.lastNameFirst ? `${last} ${first}` : `${first} ${last}`;
}

const specs: TransformerSpec[] = [
  {
    name: 'email',
    options: baseOptions,
    salted: true,
    uniqueness: 'inherent',
    accepts: TEXT,
    minLength: () => 1 + 1 + TOKEN_LENGTH + 1 + 'example.com'.length,
    create: (ctx) =>
      picking(ctx, (rng, dg) => {
        const local = `${rng.pick(ctx.locale.asciiFirstNames)}.${rng.pick(ctx.locale.asciiLastNames)}`;
        const tail = `.${token(dg)}@${EXAMPLE_DOMAINS[word(dg, 3) % 3]}`;
        const max = ctx.type?.maxLength;
        return (max === undefined ? local : local.slice(0, max - tail.length).replace(/\.+$/, '')) + tail;
      }),
  },
  {
    name: 'username',
    options: baseOptions,
    salted: true,
    uniqueness: 'inherent',
    accepts: TEXT,
    minLength: () => 1 + TOKEN_TAIL,
    create: (ctx) =>
      picking(ctx, (rng, dg) => {
        const separator = rng.pick(['.', '_', '']);
        const name = `${rng.pick(ctx.locale.asciiFirstNames)}${separator}${rng.pick(ctx.locale.asciiLastNames)}`;
        const tail = `_${token(dg)}`;
        const max = ctx.type?.maxLength;
        return (max === undefined ? name : name.slice(0, max - tail.length)) + tail;
      }),
  },
  {
    name: 'firstName',
    options: nameOptions,
    salted: true,
    uniqueness: 'token',
    accepts: TEXT,
    minLength: (_o, unique) => (unique ? 1 + TOKEN_TAIL : 1),
    create: (ctx) => picking(ctx, (rng, dg) => withToken(ctx, rng.pick(ctx.locale.firstNames), dg)),
  },
  {
    name: 'lastName',
    options: nameOptions,
    salted: true,
    uniqueness: 'token',
    accepts: TEXT,
    minLength: (_o, unique) => (unique ? 1 + TOKEN_TAIL : 1),
    create: (ctx) => picking(ctx, (rng, dg) => withToken(ctx, rng.pick(ctx.locale.lastNames), dg)),
  },
  {
    name: 'fullName',
    options: nameOptions,
    salted: true,
    uniqueness: 'token',
    accepts: TEXT,
    minLength: (_o, unique) => (unique ? 1 + TOKEN_TAIL : 1),
    create: (ctx) => picking(ctx, (rng, dg) => withToken(ctx, fullName(ctx.locale, rng), dg)),
  },
  {
    name: 'address',
    options: nameOptions,
    salted: true,
    uniqueness: 'token',
    accepts: TEXT,
    minLength: (_o, unique) => (unique ? 1 + TOKEN_TAIL : 1),
    create: (ctx) => viaFaker(ctx, (f) => f.location.streetAddress()),
  },
  {
    name: 'city',
    options: nameOptions,
    salted: true,
    uniqueness: 'token',
    accepts: TEXT,
    minLength: (_o, unique) => (unique ? 1 + TOKEN_TAIL : 1),
    create: (ctx) => viaFaker(ctx, (f) => f.location.city()),
  },
  {
    name: 'company',
    options: nameOptions,
    salted: true,
    uniqueness: 'token',
    accepts: TEXT,
    minLength: (_o, unique) => (unique ? 1 + TOKEN_TAIL : 1),
    create: (ctx) => viaFaker(ctx, (f) => f.company.name()),
  },
  {
    name: 'phone',
    options: baseOptions,
    salted: true,
    uniqueness: 'inherent',
    accepts: TEXT,
    create: (ctx) => {
      const digits = createFormatPreserving(ctx.roundPrefixes, 'digits');
      const alphanumeric = createFormatPreserving(ctx.roundPrefixes, 'alphanumeric');
      // Free text in a phone column ("ask reception", "ext. 12") must not survive: below 4 digits
      // letters change too. The digit count picks the mode and is kept, so it stays a bijection.
      return (value) => {
        let count = 0;
        for (let i = 0; i < value.length && count < 4; i++) {
          const c = value.charCodeAt(i);
          if (c >= 48 && c <= 57) count++;
        }
        return count >= 4 ? digits(value) : alphanumeric(value);
      };
    },
  },
  {
    name: 'scramble',
    options: baseOptions,
    salted: true,
    uniqueness: 'inherent',
    accepts: TEXT,
    create: (ctx) => createFormatPreserving(ctx.roundPrefixes, 'alphanumeric'),
  },
  {
    name: 'uuid',
    options: baseOptions,
    salted: true,
    uniqueness: 'inherent',
    accepts: ['uuid', 'text'],
    minLength: () => 36,
    create: (ctx) => (value) => {
      const h = hexOf(digest(ctx.prefix, value), 16);
      const variant = '89ab'[parseInt(h[16]!, 16) & 3]!;
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    },
  },
  {
    name: 'ip',
    options: baseOptions,
    salted: true,
    uniqueness: 'none',
    accepts: ['inet', 'text'],
    create: (ctx) =>
      picking(ctx, (rng, _dg, value) => {
        // Keeps the family and an inet's netmask; IPv6 lands in the documentation prefix 2001:db8::/32.
        const slash = value.indexOf('/');
        const netmask = slash >= 0 ? value.slice(slash) : '';
        if (value.includes(':')) {
          const groups: string[] = [];
          for (let i = 0; i < 6; i++) groups.push((rng.nextU32() & 0xffff).toString(16));
          return fit(ctx, `2001:db8:${groups.join(':')}${netmask}`);
        }
        let first = 11 + rng.below(212);
        if (first === 127) first = 128;
        return fit(ctx, `${first}.${rng.below(256)}.${rng.below(256)}.${1 + rng.below(254)}${netmask}`);
      }),
  },
  {
    name: 'iban',
    options: baseOptions,
    salted: true,
    uniqueness: 'none',
    accepts: TEXT,
    create: (ctx) => viaFaker(ctx, (f) => f.finance.iban()),
  },
  {
    name: 'creditCard',
    options: baseOptions,
    salted: true,
    uniqueness: 'none',
    accepts: TEXT,
    create: (ctx) => viaFaker(ctx, (f) => f.finance.creditCardNumber()),
  },
  {
    name: 'date',
    options: z.strictObject({ ...keyOption, days: z.int().min(1).max(36500).optional() }),
    salted: true,
    uniqueness: 'none',
    accepts: ['date', 'timestamp', 'timestamptz'],
    create: (ctx, o) => {
      const days = (o.days as number | undefined) ?? 30;
      return (value) => {
        if (value === 'infinity' || value === '-infinity') return value;
        const dg = digest(ctx.prefix, value);
        const offset = (1 + (word(dg, 0) % days)) * (word(dg, 1) & 1 ? -1 : 1);
        const shifted = shiftDate(value, offset);
        if (shifted === undefined) throw badValue(ctx, 'a date');
        return shifted;
      };
    },
  },
  {
    name: 'number',
    options: z.strictObject({ ...keyOption, percent: z.number().gt(0).max(100).optional() }),
    salted: true,
    uniqueness: 'none',
    accepts: ['integer', 'numeric', 'float'],
    create: (ctx, o) => {
      const percent = (o.percent as number | undefined) ?? 10;
      return (value) => {
        const dg = digest(ctx.prefix, value);
        // A uniform factor in [1 − p, 1 + p], from 32 digest bits.
        const factor = 1 + ((word(dg, 0) / 4294967295) * 2 - 1) * (percent / 100);
        const noisy = addNoise(value, factor, ctx.type);
        if (noisy === undefined) throw badValue(ctx, 'a number');
        return noisy;
      };
    },
  },
  {
    name: 'hash',
    options: z.strictObject({ ...keyOption, length: z.int().min(8).max(64).optional() }),
    salted: true,
    uniqueness: 'inherent',
    accepts: TEXT,
    minLength: (o, unique) => (unique ? 20 : Math.min(8, (o.length as number | undefined) ?? 64)),
    create: (ctx, o) => {
      const length = (o.length as number | undefined) ?? 64;
      return (value) => fit(ctx, hexOf(digest(ctx.prefix, value), Math.ceil(length / 2)).slice(0, length));
    },
  },
  {
    name: 'partial',
    options: z.strictObject({
      ...keyOption,
      keepFirst: z.int().min(0).optional(),
      keepLast: z.int().min(0).optional(),
      mask: z.string().length(1).optional(),
    }),
    salted: false,
    uniqueness: 'none',
    accepts: TEXT,
    create: (_ctx, o) => {
      const keepFirst = (o.keepFirst as number | undefined) ?? 0;
      const keepLast = (o.keepLast as number | undefined) ?? 0;
      const mask = (o.mask as string | undefined) ?? '*';
      return (value) => {
        const chars = Array.from(value);
        // A value no longer than what would be kept is masked whole: keeping it would keep it all.
        if (chars.length <= keepFirst + keepLast) return mask.repeat(chars.length);
        return chars.slice(0, keepFirst).join('') + mask.repeat(chars.length - keepFirst - keepLast) + chars.slice(chars.length - keepLast).join('');
      };
    },
  },
  {
    name: 'fixed',
    options: z.strictObject({ ...keyOption, value: z.union([z.string(), z.number()]).transform(String), keepNull: z.boolean().optional() }),
    salted: false,
    uniqueness: 'none',
    accepts: ['text', 'integer', 'numeric', 'float', 'date', 'timestamp', 'timestamptz', 'json', 'uuid', 'inet', 'boolean', 'array', 'other'],
    nullOutput: (o) => (o.keepNull === true ? null : (o.value as string)),
    create: (_ctx, o) => () => o.value as string,
  },
  {
    name: 'null',
    options: baseOptions,
    salted: false,
    uniqueness: 'none',
    accepts: ['text', 'integer', 'numeric', 'float', 'date', 'timestamp', 'timestamptz', 'json', 'uuid', 'inet', 'boolean', 'array', 'other'],
    create: () => () => null,
  },
  {
    name: 'keep',
    options: baseOptions,
    salted: false,
    uniqueness: 'inherent',
    accepts: ['text', 'integer', 'numeric', 'float', 'date', 'timestamp', 'timestamptz', 'json', 'uuid', 'inet', 'boolean', 'array', 'other'],
    create: () => (value) => value,
  },
];

/** Every built-in transformer by name. */
export const TRANSFORMERS: ReadonlyMap<string, TransformerSpec> = new Map(specs.map((s) => [s.name, s]));
