import { describe, expect, it } from 'vitest';

import type { ProgressEvent } from '../operation-context.js';
import { PlainProgress, TtyProgress, etaSeconds, formatRunningLine, rowsPerSecond } from './progress.js';

/** A clock the test moves by hand. */
function fakeClock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('rate and ETA math', () => {
  it('computes rows per second once enough time has passed', () => {
    expect(rowsPerSecond(5000, 2000)).toBe(2500);
    expect(rowsPerSecond(10, 100)).toBeUndefined(); // too short to mean anything
    expect(rowsPerSecond(0, 5000)).toBeUndefined();
  });

  it('computes the ETA from the total and the rate', () => {
    expect(etaSeconds(2500, 10_000, 2500)).toBe(3);
    expect(etaSeconds(12_000, 10_000, 2500)).toBe(0); // estimates can be low; never negative
    expect(etaSeconds(100, undefined, 2500)).toBeUndefined();
    expect(etaSeconds(100, 1000, undefined)).toBeUndefined();
  });

  it('measures the rate from the first event seen, not from zero', () => {
    const line = formatRunningLine({ phase: 'load', item: 'public.t', firstAt: 0, firstRows: 0, lastAt: 4000, rows: 20_000, totalRows: 100_000 });
    expect(line).toBe('load public.t  20,000 / 100,000 rows  5.0k rows/s  ETA 0:16');
    const overall = formatRunningLine({ phase: 'capture', item: 'public.t', firstAt: 0, firstRows: 0, lastAt: 100, rows: 5, overallRows: 450, overallTotalRows: 1000 });
    expect(overall).toBe('[45%] capture public.t  5 rows');
  });
});

describe('PlainProgress (not a terminal)', () => {
  it('prints one line per finished item and nothing for short running items', () => {
    const clock = fakeClock();
    const lines: string[] = [];
    const progress = new PlainProgress((l) => lines.push(l), { now: clock.now });
    progress.update({ phase: 'capture', item: 'public.users', rows: 0, totalRows: 3000 });
    clock.advance(1000);
    progress.update({ phase: 'capture', item: 'public.users', rows: 1500, totalRows: 3000 });
    clock.advance(1000);
    progress.update({ phase: 'capture', item: 'public.users', rows: 3000, totalRows: 3000, done: true });
    progress.update({ phase: 'migrate', item: '20240101_init', rows: 0, done: true });
    progress.update({ phase: 'migrate', item: '20240102_backfill', rows: 0 });
    clock.advance(1500);
    progress.update({ phase: 'migrate', item: '20240102_backfill', rows: 0, done: true });
    // Migrations and index rebuilds count steps in `rows`; a quick one is not worth a line, a slow one is.
    progress.update({ phase: 'index', item: 'users_pkey', rows: 1, done: true });
    progress.update({ phase: 'index', item: 'orders_pkey', rows: 2 });
    clock.advance(3000);
    progress.update({ phase: 'index', item: 'orders_pkey', rows: 2, done: true });
    expect(lines).toEqual([
      'capture public.users: 3,000 rows in 2.0 s (1.5k rows/s)',
      'migrate 20240102_backfill: done in 1.5 s',
      'index orders_pkey: done in 3.0 s',
    ]);
  });

  it('reports a long item at most once per interval, with rate and ETA', () => {
    const clock = fakeClock();
    const lines: string[] = [];
    const progress = new PlainProgress((l) => lines.push(l), { now: clock.now, intervalMs: 5000 });
    const event = (rows: number, done = false): ProgressEvent => ({ phase: 'load', item: 'public.orders', rows, totalRows: 100_000, ...(done ? { done } : {}) });
    progress.update(event(0));
    for (let i = 1; i <= 60; i++) {
      clock.advance(200); // an event every 200 ms for 12 s
      progress.update(event(i * 1000));
    }
    clock.advance(200);
    progress.update(event(61_000, true));
    expect(lines).toEqual([
      'load public.orders  25,000 / 100,000 rows  5.0k rows/s  ETA 0:15',
      'load public.orders  50,000 / 100,000 rows  5.0k rows/s  ETA 0:10',
      'load public.orders: 61,000 rows in 12.2 s (5.0k rows/s)',
    ]);
    expect(lines.join('\n')).not.toMatch(/\x1b/);
  });

  it('prints warnings as they come', () => {
    const lines: string[] = [];
    const progress = new PlainProgress((l) => lines.push(l));
    progress.print('Warning: something');
    progress.finish();
    expect(lines).toEqual(['Warning: something']);
  });
});

describe('TtyProgress (terminal)', () => {
  it('rewrites one line in place, throttled, and clears it at the end', () => {
    const clock = fakeClock();
    let out = '';
    const progress = new TtyProgress({ write: (s: string) => (out += s), columns: 200 }, { now: clock.now, redrawMs: 100 });
    progress.update({ phase: 'load', item: 'public.a', rows: 0, totalRows: 10 });
    clock.advance(10);
    progress.update({ phase: 'load', item: 'public.a', rows: 5, totalRows: 10 }); // within 100 ms: skipped
    clock.advance(500);
    progress.update({ phase: 'load', item: 'public.a', rows: 10, totalRows: 10, done: true });
    progress.print('Warning: w');
    progress.finish();
    expect(out.split('\r\x1b[K').filter(Boolean)).toEqual([
      'load public.a  0 / 10 rows',
      'load public.a: 10 rows in 510 ms (20 rows/s)',
      // The warning takes a line of its own and the progress line is drawn again below it.
      'Warning: w\nload public.a: 10 rows in 510 ms (20 rows/s)',
    ]);
    expect(out.endsWith('\r\x1b[K')).toBe(true);
  });
});
