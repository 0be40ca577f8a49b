import { describe, expect, it } from 'vitest';

import { parseAnonymizeConfig } from './anonymize-config.js';
import { maskValue } from './mask-value.js';
import { TRANSFORMERS } from './transformers.js';

const config = (salt = 'a-long-test-salt-0123456789', locale?: string) => parseAnonymizeConfig({ salt, ...(locale ? { locale } : {}), tables: {} });
const A = config();
const A2 = config();
const B = config('another-long-salt-9876543210');

const REALISTIC = ['email', 'firstName', 'lastName', 'fullName', 'phone', 'address', 'city', 'company', 'username', 'iban', 'creditCard', 'scramble', 'hash', 'uuid'];
const INPUTS = ['anna.smith@gmail.com', 'Anna Smith', '+44 20 7946 0958', 'x', 'Zoë Müller-Lüdenscheidt'];

describe('maskValue: determinism and keys', () => {
  it.each(REALISTIC)('%s: same input, same output; across config instances too; another salt differs', (name) => {
    const changed: boolean[] = [];
    for (const input of INPUTS) {
      const first = maskValue(A, name, input);
      expect(maskValue(A, name, input)).toBe(first);
      expect(maskValue(A2, name, input)).toBe(first);
      changed.push(maskValue(B, name, input) !== first);
      expect(first).not.toBe(input);
    }
    // Single characters have few possible outputs; across all inputs another salt must show.
    expect(changed.filter(Boolean).length).toBeGreaterThanOrEqual(INPUTS.length - 1);
  });

  it('keeps NULL for every transformer except fixed, which writes its value unless keepNull', () => {
    for (const name of TRANSFORMERS.keys()) {
      if (name === 'fixed') continue;
      expect(maskValue(A, name, null, { type: name === 'date' ? 'date' : name === 'number' ? 'integer' : 'text' })).toBeNull();
    }
    expect(maskValue(A, { fixed: 'x' }, null)).toBe('x');
    expect(maskValue(A, { fixed: { value: 'x', keepNull: true } }, null)).toBeNull();
  });

  it('calls a function rule for NULL too, with the row', () => {
    expect(maskValue(A, (v: string | null, row: Record<string, string | null>) => (v === null ? `was null (${Object.keys(row).length})` : v), null)).toBe('was null (1)');
  });
});

describe('maskValue: values keep their type and shape', () => {
  it('email: reserved domains only, a valid address, the token survives a varchar cut', () => {
    for (let i = 0; i < 200; i++) {
      const out = maskValue(A, 'email', `person${i}@corp.example`)!;
      expect(out).toMatch(/^[a-z0-9]+(\.[a-z0-9]+)*@example\.(com|net|org)$/);
    }
    const long = maskValue(A, 'email', 'someone@x.org')!;
    const cut = maskValue(A, 'email', 'someone@x.org', { type: 'character varying(32)' })!;
    expect(cut.length).toBeLessThanOrEqual(32);
    expect(cut).toMatch(/^[a-z0-9]+(\.[a-z0-9]+)*@example\.(com|net|org)$/);
    expect(cut.slice(-29)).toBe(long.slice(-29));
  });

  it('realistic names come from the locale', () => {
    const de = config('a-long-test-salt-0123456789', 'de');
    const names = new Set(Array.from({ length: 50 }, (_, i) => maskValue(de, 'fullName', `n${i}`)));
    expect(names.size).toBeGreaterThan(40);
    for (const n of names) expect(n).toMatch(/^\S+ \S+/);
  });

  it('scramble keeps length, case, digits and punctuation', () => {
    const input = 'Ab-12 cD_x9!';
    const out = maskValue(A, 'scramble', input)!;
    expect(out).toHaveLength(input.length);
    for (let i = 0; i < input.length; i++) {
      const [a, b] = [input[i]!, out[i]!];
      if (/[a-z]/.test(a)) expect(b).toMatch(/[a-z]/);
      else if (/[A-Z]/.test(a)) expect(b).toMatch(/[A-Z]/);
      else if (/\d/.test(a)) expect(b).toMatch(/\d/);
      else expect(b).toBe(a);
    }
  });

  it('phone keeps the shape and changes only digits', () => {
    const input = '+44 (20) 7946-0958';
    const out = maskValue(A, 'phone', input)!;
    expect(out.replace(/\d/g, '#')).toBe(input.replace(/\d/g, '#'));
    expect(out).not.toBe(input);
  });

  it('date shifts date, timestamp and timestamptz within the window, keeping their form', () => {
    const cases: Array<[string, string]> = [
      ['date', '2024-02-29'],
      ['timestamp without time zone', '2024-01-31 13:45:12.123456'],
      ['timestamp with time zone', '2024-01-31 23:59:59+05:30'],
      ['date', '0044-03-15 BC'],
    ];
    for (const [type, input] of cases) {
      const out = maskValue(A, { date: { days: 10 } }, input, { type })!;
      expect(out).not.toBe(input);
      expect(out.slice(10)).toBe(input.slice(10));
      const [y, m, d] = out.slice(0, 10).split('-').map(Number) as [number, number, number];
      const dt = new Date(Date.UTC(2000, m - 1, d));
      expect(dt.getUTCMonth() + 1).toBe(m);
      if (!input.endsWith('BC')) {
        const shift = (Date.UTC(y, m - 1, d) - Date.UTC(...(input.slice(0, 10).split('-').map(Number) as [number, number, number]).map((v, i) => (i === 1 ? v - 1 : v)) as [number, number, number])) / 86_400_000;
        expect(Math.abs(shift)).toBeGreaterThanOrEqual(1);
        expect(Math.abs(shift)).toBeLessThanOrEqual(10);
      }
    }
    expect(maskValue(A, 'date', 'infinity', { type: 'date' })).toBe('infinity');
  });

  it('number stays within ±percent, integral for integers, at the scale of numeric(p,s), inside the type', () => {
    for (let i = 1; i <= 100; i++) {
      const int = maskValue(A, { number: { percent: 20 } }, String(i * 1000), { type: 'integer' })!;
      expect(int).toMatch(/^-?\d+$/);
      expect(Math.abs(Number(int) - i * 1000)).toBeLessThanOrEqual(i * 200);
      const money = maskValue(A, 'number', `${i}.50`, { type: 'numeric(6,2)' })!;
      expect(money).toMatch(/^-?\d+\.\d{2}$/);
      expect(Math.abs(Number(money) - (i + 0.5))).toBeLessThanOrEqual((i + 0.5) * 0.1 + 0.005);
    }
    expect(maskValue(A, 'number', '32767', { type: 'smallint' })).toMatch(/^\d+$/);
    expect(Number(maskValue(A, { number: { percent: 50 } }, '32767', { type: 'smallint' }))).toBeLessThanOrEqual(32767);
    const big = maskValue(A, 'number', '9007199254740993123', { type: 'numeric' })!;
    expect(big).toMatch(/^\d+$/);
  });

  it('uuid, hash, ip, partial, fixed, null, keep', () => {
    expect(maskValue(A, 'uuid', '7d444840-9dc0-11d1-b245-5ffdce74fad2', { type: 'uuid' })).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(maskValue(A, { hash: { length: 24 } }, 'x')).toMatch(/^[0-9a-f]{24}$/);
    expect(maskValue(A, 'ip', '192.168.1.20/24', { type: 'inet' })).toMatch(/^\d+\.\d+\.\d+\.\d+\/24$/);
    expect(maskValue(A, 'ip', '2001:4860::8888', { type: 'inet' })).toMatch(/^2001:db8:/);
    expect(maskValue(A, { partial: { keepLast: 4 } }, 'DE89370400440532013000')).toBe(`${'*'.repeat(18)}3000`);
    expect(maskValue(A, { partial: { keepFirst: 2, keepLast: 2, mask: '#' } }, 'abc')).toBe('###');
    expect(maskValue(A, { fixed: 'pbkdf2' }, 'secret')).toBe('pbkdf2');
    expect(maskValue(A, 'null', 'x')).toBeNull();
    expect(maskValue(A, 'keep', 'x')).toBe('x');
  });

  it('a JSON path masks only the addressed leaves and keeps the document', () => {
    const doc = '{"contact": {"email": "anna@corp.com", "phone": "555-0100"}, "id": 12345678901234567890, "ratio": 1.0, "list": [{"email": "b@x.org"}, {"email": null}, {"other": 1}]}';
    const one = maskValue(A, 'email', doc, { path: 'contact.email' })!;
    const parsedIn = JSON.parse(doc) as Record<string, unknown>;
    const parsedOut = JSON.parse(one) as { contact: { email: string; phone: string } };
    expect(Object.keys(parsedOut)).toEqual(Object.keys(parsedIn));
    expect(parsedOut.contact.email).toMatch(/@example\.(com|net|org)$/);
    expect(parsedOut.contact.phone).toBe('555-0100');
    expect(one).toContain('12345678901234567890');
    expect(one).toContain('"ratio": 1.0');
    const each = JSON.parse(maskValue(A, 'email', doc, { path: 'list[].email' })!) as { list: Array<{ email?: string | null; other?: number }> };
    expect(each.list[0]!.email).toMatch(/@example\./);
    expect(each.list[1]!.email).toBeNull();
    expect(each.list[2]).toEqual({ other: 1 });
    expect(maskValue(A, 'email', doc, { path: 'missing.path' })).toBe(doc);
    expect(maskValue(A, 'email', doc, { path: 'contact.email' })).toBe(one);
  });
});
