import { describe, expect, it } from 'vitest';

import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['60s', 60_000],
    ['60', 60_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['500ms', 500],
    ['1.5s', 1_500],
    [' 3 S ', 3_000],
  ])('%j is %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 's', '-1s', '1d', '1 minute', '1e3'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
