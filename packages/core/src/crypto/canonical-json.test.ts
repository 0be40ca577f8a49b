import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x y' } })).toBe('{"a":{"c":"x y","d":[3,{"y":null,"z":true}]},"b":1}');
  });

  it('gives one text whatever order the keys were set in', () => {
    const one = { id: '01J', tables: [{ name: 'orders', rows: 3 }], encryption: { mode: 'recipients' } };
    const other = { encryption: { mode: 'recipients' }, tables: [{ rows: 3, name: 'orders' }], id: '01J' };
    expect(canonicalJson(one)).toBe(canonicalJson(other));
    expect(JSON.parse(canonicalJson(one))).toEqual(one);
  });

  it('orders keys by UTF-16 code units as RFC 8785 does, integer-like keys included', () => {
    // The key set of RFC 8785 §3.2.3, in the order the RFC gives.
    const keys = ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'];
    const value = Object.fromEntries(keys.map((key, index) => [key, index]).reverse());
    expect(canonicalJson(value)).toBe(`{${keys.map((key, index) => `${JSON.stringify(key)}:${index}`).join(',')}}`);
    // A plain object would list "9" before "10"; the canonical form must not depend on that.
    expect(canonicalJson({ 9: 'a', 10: 'b' })).toBe('{"10":"b","9":"a"}');
  });

  it('writes numbers and strings as JSON.stringify does, and follows its rules for undefined and toJSON', () => {
    expect(canonicalJson([1e21, -0, 0.1, 'é\n"'])).toBe('[1e+21,0,0.1,"é\\n\\""]');
    expect(canonicalJson({ a: undefined, b: [undefined], c: new Date('2026-12-03T00:00:00.000Z') })).toBe('{"b":[null],"c":"2026-12-03T00:00:00.000Z"}');
  });

  it('refuses values JSON would silently change or drop', () => {
    expect(() => canonicalJson({ size: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson([Number.POSITIVE_INFINITY])).toThrow(TypeError);
    expect(() => canonicalJson(10n)).toThrow(TypeError);
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });
});
