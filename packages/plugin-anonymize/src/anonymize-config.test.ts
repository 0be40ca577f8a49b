import { describe, expect, it } from 'vitest';

import { AnonymizeError } from './anonymize-error.js';
import { parseAnonymizeConfig } from './anonymize-config.js';
import { createAnonymizer } from './anonymizer.js';
import { listRules } from './mask-value.js';
import { rulesHash } from './rules-hash.js';

const SALT = 'a-long-test-salt-0123456789';

function configError(section: unknown, interpolate?: (v: string, w: string) => string): AnonymizeError {
  try {
    parseAnonymizeConfig(section, interpolate ? { interpolate } : {});
  } catch (error) {
    expect(error).toBeInstanceOf(AnonymizeError);
    return error as AnonymizeError;
  }
  throw new Error('expected the config to be refused');
}

describe('parseAnonymizeConfig', () => {
  it('refuses an unknown transformer, naming the config path and a close name', () => {
    const error = configError({ salt: SALT, tables: { person: { email: 'emial' } } });
    expect(error.exitCode).toBe(2);
    expect(error.code).toBe('anonymize-unknown-transformer');
    expect(error.message).toContain('anonymize.tables.person.email');
    expect(error.hint).toContain('"email"');
  });

  it('refuses bad and unknown options with their path', () => {
    const bad = configError({ salt: SALT, tables: { person: { born: { date: { days: -3 } } } } });
    expect(bad.code).toBe('anonymize-bad-options');
    expect(bad.message).toContain('anonymize.tables.person.born.date.days');
    const unknown = configError({ salt: SALT, tables: { person: { iban: { partial: { keepLastt: 4 } } } } });
    expect(unknown.message).toContain('anonymize.tables.person.iban.partial');
  });

  it('refuses a table rule that is neither truncate nor an object, and an unknown locale', () => {
    expect(configError({ salt: SALT, tables: { sessions: 'drop' } }).message).toContain('anonymize.tables.sessions');
    expect(configError({ salt: SALT, locale: 'en_XX', tables: {} }).code).toBe('anonymize-unknown-locale');
  });

  it('requires a salt for deterministic rules only, and a long one', () => {
    expect(configError({ tables: { person: { email: 'email' } } }).code).toBe('anonymize-salt-missing');
    expect(() => parseAnonymizeConfig({ tables: { person: { notes: 'null', password: { fixed: 'x' } }, sessions: 'truncate' } })).not.toThrow();
    expect(configError({ salt: 'short', tables: { person: { email: 'email' } } }).code).toBe('anonymize-salt-too-short');
  });

  it('interpolates the salt through core and never shows it', () => {
    const seen: string[] = [];
    const config = parseAnonymizeConfig({ salt: '${STRATA_ANON_SALT}', tables: { person: { email: 'email' } } }, {
      interpolate: (value, where) => {
        seen.push(`${value}@${where}`);
        return SALT;
      },
    });
    expect(seen).toEqual(['${STRATA_ANON_SALT}@anonymize.salt']);
    expect(JSON.stringify(config)).not.toContain(SALT);
    const anonymizer = createAnonymizer(config);
    expect(JSON.stringify({ rules: anonymizer.rules, hash: anonymizer.rulesHash })).not.toContain(SALT);
    const error = configError({ salt: '${S}', tables: { person: { email: 'email' } } }, () => 'tiny-secret');
    expect(`${error.message} ${error.hint}`).not.toContain('tiny-secret');
  });

  it('hashes equal rule sets equally, whatever their spelling or salt, and different ones differently', () => {
    const a = parseAnonymizeConfig({ salt: SALT, tables: { person: { email: 'email', iban: { partial: { keepLast: 4 } } } } });
    const b = parseAnonymizeConfig({ salt: `${SALT}-other`, tables: { 'public.person': { iban: { partial: { keepLast: 4 } }, email: { email: {} } } } });
    const c = parseAnonymizeConfig({ salt: SALT, tables: { person: { email: 'email', iban: { partial: { keepLast: 3 } } } } });
    expect(rulesHash(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(rulesHash(a)).toBe(rulesHash(b));
    expect(rulesHash(a)).not.toBe(rulesHash(c));
  });

  it('hashes function rules by their source text', () => {
    const f = parseAnonymizeConfig({ tables: { person: { notes: (v: string | null) => (v === null ? null : 'x') } } });
    const g = parseAnonymizeConfig({ tables: { person: { notes: (v: string | null) => (v === null ? null : 'y') } } });
    expect(rulesHash(f)).not.toBe(rulesHash(g));
  });

  it('lists the rules, paths apart, without option values', () => {
    const config = parseAnonymizeConfig({
      salt: SALT,
      tables: { person: { email: 'email', password: { fixed: 'secret-hash' }, 'prefs.contacts[].email': 'email', id: { uuid: { key: true } } }, 'audit.sessions': 'truncate' },
    });
    const listed = listRules(config);
    expect(listed).toContainEqual({ table: 'public.person', column: 'prefs', path: '.contacts[].email', rule: 'email', key: false });
    expect(listed).toContainEqual({ table: 'public.person', column: 'id', rule: 'uuid', key: true });
    expect(listed).toContainEqual({ table: 'audit.sessions', rule: 'truncate', key: false });
    expect(JSON.stringify(listed)).not.toContain('secret-hash');
  });
});
