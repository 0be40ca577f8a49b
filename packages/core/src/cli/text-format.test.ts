import { describe, expect, it } from 'vitest';

import { formatEta, formatRate, formatTimestamp, renderTable, visibleText } from './text-format.js';

describe('text formatters', () => {
  it('formats rates', () => {
    expect(formatRate(950.4)).toBe('950');
    expect(formatRate(1234)).toBe('1.2k');
    expect(formatRate(45_600)).toBe('46k');
    expect(formatRate(2_500_000)).toBe('2.5M');
  });

  it('formats ETAs', () => {
    expect(formatEta(7)).toBe('0:07');
    expect(formatEta(750)).toBe('12:30');
    expect(formatEta(3723)).toBe('1:02:03');
    expect(formatEta(-3)).toBe('0:00');
  });

  it('formats timestamps in UTC', () => {
    expect(formatTimestamp('2024-05-01T13:45:12.345+02:00')).toBe('2024-05-01 11:45');
    expect(formatTimestamp('yesterday')).toBe('yesterday');
  });

  it('aligns table columns without trailing spaces', () => {
    const out = renderTable(
      [{ header: 'TABLE' }, { header: 'ROWS', align: 'right' }, { header: 'NOTE' }],
      [
        ['public.users', '1,200', ''],
        ['public.order_lines', '7', 'ok'],
      ],
    );
    expect(out.split('\n')).toEqual([
      'TABLE                ROWS  NOTE',
      'public.users        1,200',
      'public.order_lines      7  ok',
    ]);
  });
});

describe('visibleText', () => {
  it('shows terminal control characters as escapes, keeps newlines, tabs and other text', () => {
    // ESC [2J clears the screen; a hostile manifest's description must not do that to a terminal.
    expect(visibleText('before\u001b[2J\u0007after\r')).toBe('before\\u001b[2J\\u0007after\\u000d');
    expect(visibleText('line one\nline\ttwo ✓ é')).toBe('line one\nline\ttwo ✓ é');
    expect(visibleText('\u009b31m')).toBe('\\u009b31m');
  });
});
