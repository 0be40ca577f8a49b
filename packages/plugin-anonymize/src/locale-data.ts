import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import type { Faker, LocaleDefinition, Randomizer } from '@faker-js/faker';

import { Sfc32 } from './keyed-digest.js';

/**
 * Per-locale data the maskers draw from: name pools read once from faker's locale definitions
 * (picking from an array with our own PRNG is ~10× faster than `faker.person.fullName()`), and a
 * `Faker` whose randomizer is an sfc32 the maskers reseed from each value's digest, for the
 * transformers whose formats are worth faker's machinery (address, company, city, iban, card).
 */
export interface LocaleData {
  locale: string;
  faker: Faker;
  /** The randomizer behind `faker`: reseed it (`seed`) right before each faker call. */
  rng: Sfc32;
  firstNames: readonly string[];
  lastNames: readonly string[];
  /** ASCII slugs of the names (for e-mail and usernames); English names when the locale has none. */
  asciiFirstNames: readonly string[];
  asciiLastNames: readonly string[];
  /** True when the locale writes the family name first (hu, ja, ko, zh, …). */
  lastNameFirst: boolean;
}

// Each locale is loaded on its own (`@faker-js/faker/locale/<name>`): faker's main entry loads
// all of them, about 35 MB of memory for one locale's names.
const require = createRequire(import.meta.url);
const LOCALE_DIR = path.dirname(require.resolve('@faker-js/faker/locale/en'));

/** Locale names faker knows (`en`, `de`, `fr_CA`, …). */
export const LOCALES: readonly string[] = readdirSync(LOCALE_DIR)
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.slice(0, -3))
  .filter((l) => l !== 'base')
  .sort();

/** The locale's prebuilt Faker (its definitions merged with en and base fallbacks, as faker does). */
function localeFaker(locale: string): Faker {
  return (require(`@faker-js/faker/locale/${locale}`) as { faker: Faker }).faker;
}

const cache = new Map<string, LocaleData>();

/** The data for one locale (built once per process). Throws for an unknown locale. */
export function localeData(locale: string): LocaleData {
  const cached = cache.get(locale);
  if (cached) return cached;
  if (!LOCALES.includes(locale)) throw new Error(`unknown locale ${locale}`);
  const prebuilt = localeFaker(locale);
  const chain = [prebuilt.rawDefinitions];
  const rng = new Sfc32();
  const randomizer: Randomizer = { next: () => rng.next(), seed: (seed) => rng.seedNumbers(seed) };
  const FakerClass = prebuilt.constructor as new (options: { locale: LocaleDefinition; randomizer: Randomizer }) => Faker;
  const faker = new FakerClass({ locale: prebuilt.rawDefinitions, randomizer });
  const firstNames = namePool(chain, 'first_name');
  const lastNames = namePool(chain, 'last_name');
  let asciiFirstNames = unique(firstNames.map(slug).filter((s) => s.length > 0));
  let asciiLastNames = unique(lastNames.map(slug).filter((s) => s.length > 0));
  if (asciiFirstNames.length < 20 || asciiLastNames.length < 20) {
    const english = [localeFaker('en').rawDefinitions];
    asciiFirstNames = unique(namePool(english, 'first_name').map(slug));
    asciiLastNames = unique(namePool(english, 'last_name').map(slug));
  }
  const data: LocaleData = {
    locale,
    faker,
    rng,
    firstNames,
    lastNames,
    asciiFirstNames,
    asciiLastNames,
    lastNameFirst: familyNameFirst(chain),
  };
  cache.set(locale, data);
  return data;
}

type PersonKey = 'first_name' | 'last_name';

function namePool(chain: readonly LocaleDefinition[], key: PersonKey): string[] {
  for (const definitions of chain) {
    const entry = definitions.person?.[key];
    if (!entry) continue;
    const names = Array.isArray(entry) ? (entry as string[]) : Object.values(entry).flat();
    const pool = unique(names.filter((n): n is string => typeof n === 'string' && n.length > 0));
    if (pool.length > 0) return pool;
  }
  throw new Error(`no ${key} in locale`);
}

function familyNameFirst(chain: readonly LocaleDefinition[]): boolean {
  for (const definitions of chain) {
    const patterns = definitions.person?.name;
    if (!patterns || patterns.length === 0) continue;
    const top = [...patterns].sort((a, b) => b.weight - a.weight)[0]!.value;
    const first = top.indexOf('firstName');
    const last = top.indexOf('lastName');
    return first >= 0 && last >= 0 && last < first;
  }
  return false;
}

/** Lower-case ASCII letters and digits of a name: `Zoë-Ann` → `zoeann`. */
export function slug(name: string): string {
  return name
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}
