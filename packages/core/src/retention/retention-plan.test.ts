// planRetention: every expected value below is worked out from the rules (and a calendar), not
// taken from the function's output.
import { describe, expect, it } from 'vitest';

import { ConfigError } from '../errors.js';
import { isoWeek, planRetention, type RetentionCandidate } from './retention-plan.js';
import type { RetentionPolicy } from './retention-policy.js';

const DAY = 86_400_000;

function snap(id: string, createdAt: string, tags: string[] = []): RetentionCandidate {
  return { id, createdAt, tags };
}

/** Snapshots named after their own createdAt, for readable expectations. */
function at(...times: string[]): RetentionCandidate[] {
  return times.map((t) => snap(t, t));
}

function kept(snapshots: RetentionCandidate[], policy: RetentionPolicy, now: string): string[] {
  return planRetention(snapshots, policy, new Date(now)).keep.map((k) => k.id);
}

function reasonsOf(snapshots: RetentionCandidate[], policy: RetentionPolicy, now: string): Record<string, string[]> {
  return Object.fromEntries(planRetention(snapshots, policy, new Date(now)).keep.map((k) => [k.id, k.reasons]));
}

/** A nightly job at 02:00 UTC from 2024-11-21 to 2026-11-20: 730 snapshots, id = the date. */
function nightly(): RetentionCandidate[] {
  const start = Date.UTC(2024, 10, 21, 2);
  return Array.from({ length: 730 }, (_, i) => {
    const createdAt = new Date(start + i * DAY).toISOString();
    return snap(createdAt.slice(0, 10), createdAt);
  });
}

// Friday 2026-11-20, noon UTC: ISO week 2026-W47 (Monday 16 to Sunday 22 November).
const NOW = '2026-11-20T12:00:00.000Z';

describe('planRetention: the issue example over two years of nightly snapshots', () => {
  const history = nightly();

  it('--keep-within 30d --keep-weekly 12 --keep-monthly 12 keeps 47 of 730', () => {
    const plan = planRetention(history, { within: '30d', weekly: 12, monthly: 12 }, new Date(NOW));
    // within 30d: younger than 2026-10-21T12:00Z, so the nights of 22 Oct … 20 Nov (10 + 20 = 30).
    const within = [
      ...Array.from({ length: 20 }, (_, i) => `2026-11-${String(20 - i).padStart(2, '0')}`),
      ...Array.from({ length: 10 }, (_, i) => `2026-10-${String(31 - i).padStart(2, '0')}`),
    ];
    // weekly 12: W47 … W36; the newest of W47 is today, of the others their Sunday. The Sundays
    // 15, 8, 1 Nov and 25 Oct are already within 30 days; these seven are not.
    const weeklyOnly = ['2026-10-18', '2026-10-11', '2026-10-04', '2026-09-27', '2026-09-20', '2026-09-13', '2026-09-06'];
    // monthly 12: Nov 2026 … Dec 2025, each month's last night; November (today) and October (the
    // 31st) are within 30 days. 30 Sep 2026 is a Wednesday, so no weekly pick.
    const monthlyOnly = ['2026-09-30', '2026-08-31', '2026-07-31', '2026-06-30', '2026-05-31', '2026-04-30', '2026-03-31', '2026-02-28', '2026-01-31', '2025-12-31'];

    expect(plan.keep.map((k) => k.id)).toEqual([...within, ...weeklyOnly, ...monthlyOnly].sort().reverse());
    expect(plan.keep).toHaveLength(47);
    expect(plan.remove).toHaveLength(730 - 47);
    expect(new Set([...plan.remove, ...plan.keep.map((k) => k.id)]).size).toBe(730);
    // Newest first.
    expect(plan.remove[0]).toBe('2026-10-21');
    expect(plan.remove.at(-1)).toBe('2024-11-21');

    const reasons = Object.fromEntries(plan.keep.map((k) => [k.id, k.reasons]));
    expect(reasons['2026-11-20']).toEqual(['within 30d', 'weekly 2026-W47', 'monthly 2026-11']);
    expect(reasons['2026-11-15']).toEqual(['within 30d', 'weekly 2026-W46']);
    expect(reasons['2026-11-01']).toEqual(['within 30d', 'weekly 2026-W44']);
    expect(reasons['2026-10-31']).toEqual(['within 30d', 'monthly 2026-10']);
    expect(reasons['2026-10-22']).toEqual(['within 30d']);
    expect(reasons['2026-10-18']).toEqual(['weekly 2026-W42']);
    expect(reasons['2026-09-06']).toEqual(['weekly 2026-W36']);
    expect(reasons['2026-09-30']).toEqual(['monthly 2026-09']);
    expect(reasons['2026-02-28']).toEqual(['monthly 2026-02']);
    expect(reasons['2025-12-31']).toEqual(['monthly 2025-12']);
  });

  it('--keep-yearly 3 keeps the newest of 2026, 2025 and 2024', () => {
    expect(reasonsOf(history, { yearly: 3 }, NOW)).toEqual({
      '2026-11-20': ['yearly 2026'],
      '2025-12-31': ['yearly 2025'],
      '2024-12-31': ['yearly 2024'],
    });
  });

  it('--keep-daily 7 --keep-last 10 keeps the ten newest nights', () => {
    const plan = planRetention(history, { daily: 7, last: 10 }, new Date(NOW));
    expect(plan.keep.map((k) => k.id)).toEqual(['2026-11-20', '2026-11-19', '2026-11-18', '2026-11-17', '2026-11-16', '2026-11-15', '2026-11-14', '2026-11-13', '2026-11-12', '2026-11-11']);
    expect(plan.keep[0]!.reasons).toEqual(['last 10', 'daily 2026-11-20']);
    expect(plan.keep[9]!.reasons).toEqual(['last 10']);
  });

  it('a snapshot tagged keep survives any policy', () => {
    const tagged = history.map((s) => (s.id === '2025-03-15' ? { ...s, tags: ['nightly', 'keep'] } : s));
    const plan = planRetention(tagged, { within: '30d', weekly: 12, monthly: 12 }, new Date(NOW));
    expect(plan.keep).toHaveLength(48);
    expect(plan.keep.find((k) => k.id === '2025-03-15')?.reasons).toEqual(['tag keep']);
    expect(plan.remove).not.toContain('2025-03-15');
  });
});

describe('planRetention: calendar periods', () => {
  it('daily N counts empty days and never reaches further back for them', () => {
    // Days 20, 19 and 18 November; the 19th has nothing, the 17th is out of reach.
    const snapshots = at('2026-11-20T01:00:00Z', '2026-11-20T07:00:00Z', '2026-11-18T01:00:00Z', '2026-11-18T13:00:00Z', '2026-11-17T23:00:00Z');
    const plan = planRetention(snapshots, { daily: 3 }, new Date('2026-11-20T08:00:00Z'));
    expect(plan.keep).toEqual([
      { id: '2026-11-20T07:00:00Z', reasons: ['daily 2026-11-20'] },
      { id: '2026-11-18T13:00:00Z', reasons: ['daily 2026-11-18'] },
    ]);
    expect(plan.remove).toEqual(['2026-11-20T01:00:00Z', '2026-11-18T01:00:00Z', '2026-11-17T23:00:00Z']);
  });

  it('monthly N counts empty months', () => {
    // November, October, September: only November has one; August is out of reach.
    expect(kept(at('2026-11-02T00:00:00Z', '2026-08-31T23:00:00Z'), { monthly: 3 }, NOW)).toEqual(['2026-11-02T00:00:00Z']);
  });

  it('weekly: ISO week 1 of 2026 starts on Monday 29 December 2025', () => {
    // Friday 2 Jan 2026 is in 2026-W01 (29 Dec – 4 Jan); 2025 has 52 weeks, W52 = 22–28 Dec.
    const snapshots = at('2025-12-29T00:00:00Z', '2025-12-28T23:59:59Z', '2025-12-22T00:00:00Z', '2025-12-21T12:00:00Z');
    expect(reasonsOf(snapshots, { weekly: 2 }, '2026-01-02T10:00:00Z')).toEqual({
      '2025-12-29T00:00:00Z': ['weekly 2026-W01'],
      '2025-12-28T23:59:59Z': ['weekly 2025-W52'],
    });
  });

  it('weekly: 2026 has 53 weeks, and 1–3 January 2027 belong to 2026-W53', () => {
    // Wednesday 6 Jan 2027 is in 2027-W01 (4–10 Jan); W53 = 28 Dec 2026 – 3 Jan 2027; W52 = 21–27 Dec.
    const snapshots = at(
      '2027-01-05T00:00:00Z',
      '2027-01-04T00:00:00Z',
      '2027-01-03T23:59:00Z',
      '2026-12-28T00:00:00Z',
      '2026-12-27T00:00:00Z',
      '2026-12-20T00:00:00Z',
    );
    const plan = planRetention(snapshots, { weekly: 3 }, new Date('2027-01-06T12:00:00Z'));
    expect(plan.keep).toEqual([
      { id: '2027-01-05T00:00:00Z', reasons: ['weekly 2027-W01'] },
      { id: '2027-01-03T23:59:00Z', reasons: ['weekly 2026-W53'] },
      { id: '2026-12-27T00:00:00Z', reasons: ['weekly 2026-W52'] },
    ]);
    expect(plan.remove).toEqual(['2027-01-04T00:00:00Z', '2026-12-28T00:00:00Z', '2026-12-20T00:00:00Z']);
  });

  it('weekly: an empty week 53 still counts as one of the N', () => {
    // Weekly 3 from 2027-W01: W01, W53 (empty), W52; W51 is out of reach.
    const snapshots = at('2027-01-04T09:00:00Z', '2026-12-27T09:00:00Z', '2026-12-20T09:00:00Z');
    expect(kept(snapshots, { weekly: 3 }, '2027-01-06T12:00:00Z')).toEqual(['2027-01-04T09:00:00Z', '2026-12-27T09:00:00Z']);
  });

  it('weekly: 2020-W53 spans the turn of the year', () => {
    // Sunday 10 Jan 2021 00:00 is the last day of 2021-W01 (4–10 Jan); 2020-W53 = 28 Dec – 3 Jan.
    const snapshots = at('2021-01-10T00:00:00Z', '2021-01-03T20:00:00Z', '2020-12-28T01:00:00Z', '2020-12-27T23:00:00Z');
    expect(reasonsOf(snapshots, { weekly: 2 }, '2021-01-10T00:00:00Z')).toEqual({
      '2021-01-10T00:00:00Z': ['weekly 2021-W01'],
      '2021-01-03T20:00:00Z': ['weekly 2020-W53'],
    });
  });

  it('ISO week numbers at year ends', () => {
    const week = (d: string): string => {
      const w = isoWeek(new Date(`${d}T12:00:00Z`));
      return `${w.year}-W${String(w.week).padStart(2, '0')}`;
    };
    expect(week('2005-01-01')).toBe('2004-W53');
    expect(week('2007-01-01')).toBe('2007-W01');
    expect(week('2008-12-29')).toBe('2009-W01');
    expect(week('2010-01-03')).toBe('2009-W53');
    expect(week('2015-12-31')).toBe('2015-W53');
    expect(week('2016-01-03')).toBe('2015-W53');
    expect(week('2016-01-04')).toBe('2016-W01');
    expect(week('2020-12-31')).toBe('2020-W53');
    expect(week('2021-01-01')).toBe('2020-W53');
    expect(week('2021-01-04')).toBe('2021-W01');
    expect(week('2024-12-30')).toBe('2025-W01');
    expect(week('2025-12-28')).toBe('2025-W52');
    expect(week('2025-12-29')).toBe('2026-W01');
    expect(week('2026-11-20')).toBe('2026-W47');
    expect(week('2026-12-31')).toBe('2026-W53');
    expect(week('2027-01-03')).toBe('2026-W53');
    expect(week('2027-01-04')).toBe('2027-W01');
  });

  it('months are UTC months, whatever offset createdAt was written with', () => {
    // 01:30 on 1 March at +02:00 is 23:30 UTC on 28 February: February's newest.
    const snapshots = [
      snap('mar', '2026-03-01T00:10:00Z'),
      snap('feb-offset', '2026-03-01T01:30:00+02:00'),
      snap('feb', '2026-02-28T22:00:00Z'),
      snap('feb-first', '2026-02-01T00:00:00Z'),
      snap('jan', '2026-01-31T23:59:59Z'),
    ];
    const plan = planRetention(snapshots, { monthly: 2 }, new Date('2026-03-01T00:30:00Z'));
    expect(plan.keep).toEqual([
      { id: 'mar', reasons: ['monthly 2026-03'] },
      { id: 'feb-offset', reasons: ['monthly 2026-02'] },
    ]);
    expect(plan.remove).toEqual(['feb', 'feb-first', 'jan']);
  });

  it('years and days turn over at midnight UTC', () => {
    const snapshots = at('2026-01-01T00:00:00Z', '2025-12-31T23:59:59.999Z', '2025-06-01T00:00:00Z', '2024-12-31T23:00:00Z');
    const now = '2026-01-01T00:00:00Z';
    expect(reasonsOf(snapshots, { yearly: 2 }, now)).toEqual({
      '2026-01-01T00:00:00Z': ['yearly 2026'],
      '2025-12-31T23:59:59.999Z': ['yearly 2025'],
    });
    expect(kept(snapshots, { daily: 1 }, now)).toEqual(['2026-01-01T00:00:00Z']);
    expect(kept(snapshots, { daily: 2 }, now)).toEqual(['2026-01-01T00:00:00Z', '2025-12-31T23:59:59.999Z']);
  });
});

describe('planRetention: within', () => {
  it('keeps what is strictly younger than hours, days and weeks', () => {
    const snapshots = at('2026-11-20T00:00:01Z', '2026-11-20T00:00:00Z', '2026-11-06T12:00:01Z', '2026-11-06T11:59:59Z', '2026-10-21T12:00:00Z');
    expect(kept(snapshots, { within: '12h' }, NOW)).toEqual(['2026-11-20T00:00:01Z']);
    expect(kept(snapshots, { within: '2w' }, NOW)).toEqual(['2026-11-20T00:00:01Z', '2026-11-20T00:00:00Z', '2026-11-06T12:00:01Z']);
    // 30 days before is exactly 2026-10-21T12:00Z: not younger, so not kept.
    expect(kept(snapshots, { within: '30d' }, NOW)).toHaveLength(4);
    expect(reasonsOf(snapshots, { within: '30d' }, NOW)['2026-11-20T00:00:00Z']).toEqual(['within 30d']);
  });

  it('months are calendar months, clamped to the end of a shorter month', () => {
    // 31 Aug minus 6 months is 28 Feb (not 3 March).
    const snapshots = at('2026-03-02T00:00:00Z', '2026-02-28T12:00:01Z', '2026-02-28T11:59:59Z');
    expect(kept(snapshots, { within: '6m' }, '2026-08-31T12:00:00Z')).toEqual(['2026-03-02T00:00:00Z', '2026-02-28T12:00:01Z']);
  });

  it('years are calendar years: 29 Feb 2028 minus 1y is 28 Feb 2027', () => {
    const snapshots = at('2027-02-28T00:00:01Z', '2027-02-27T23:59:59Z');
    expect(kept(snapshots, { within: '1y' }, '2028-02-29T00:00:00Z')).toEqual(['2027-02-28T00:00:01Z']);
  });
});

describe('planRetention: last, ties, tags, the future', () => {
  it('last N keeps the newest N by createdAt, whatever the input order', () => {
    const snapshots = at('2026-11-18T02:00:00Z', '2026-11-20T02:00:00Z', '2026-11-16T02:00:00Z', '2026-11-19T02:00:00Z', '2026-11-17T02:00:00Z');
    const plan = planRetention(snapshots, { last: 3 }, new Date(NOW));
    expect(plan.keep).toEqual([
      { id: '2026-11-20T02:00:00Z', reasons: ['last 3'] },
      { id: '2026-11-19T02:00:00Z', reasons: ['last 3'] },
      { id: '2026-11-18T02:00:00Z', reasons: ['last 3'] },
    ]);
    expect(plan.remove).toEqual(['2026-11-17T02:00:00Z', '2026-11-16T02:00:00Z']);
  });

  it('last N larger than the history keeps everything', () => {
    expect(planRetention(at('2026-11-20T02:00:00Z'), { last: 5 }, new Date(NOW)).remove).toEqual([]);
  });

  it('ties on createdAt go to the greater id (ULIDs sort by time)', () => {
    const snapshots = [snap('01JA', '2026-11-20T02:00:00Z'), snap('01JB', '2026-11-20T02:00:00Z'), snap('01J9', '2026-11-20T02:00:00Z')];
    expect(kept(snapshots, { last: 1 }, NOW)).toEqual(['01JB']);
    expect(kept(snapshots, { daily: 1 }, NOW)).toEqual(['01JB']);
    expect(planRetention(snapshots, { last: 2 }, new Date(NOW)).remove).toEqual(['01J9']);
  });

  it('tag keep protects a snapshot, and its reasons list every rule', () => {
    const snapshots = [snap('new', '2026-11-20T02:00:00Z', ['keep']), snap('old', '2020-01-01T00:00:00Z', ['keep', 'release']), snap('mid', '2026-06-01T00:00:00Z', ['Keep'])];
    expect(reasonsOf(snapshots, { last: 1 }, NOW)).toEqual({ new: ['tag keep', 'last 1'], old: ['tag keep'] });
  });

  it('a snapshot from after now is kept and takes no place among the rules', () => {
    const snapshots = at('2026-11-20T13:00:00Z', '2026-11-20T02:00:00Z', '2026-11-19T02:00:00Z');
    expect(reasonsOf(snapshots, { last: 1 }, NOW)).toEqual({ '2026-11-20T13:00:00Z': ['newer than now'], '2026-11-20T02:00:00Z': ['last 1'] });
    expect(reasonsOf(snapshots, { daily: 1 }, NOW)).toEqual({ '2026-11-20T13:00:00Z': ['newer than now'], '2026-11-20T02:00:00Z': ['daily 2026-11-20'] });
  });

  it('a createdAt that does not parse is kept rather than guessed at', () => {
    const plan = planRetention([snap('bad', 'yesterday'), snap('ok', '2026-11-20T02:00:00Z'), snap('older', '2026-11-19T02:00:00Z')], { last: 1 }, new Date(NOW));
    expect(plan.keep).toEqual([{ id: 'ok', reasons: ['last 1'] }, { id: 'bad', reasons: ['unreadable createdAt'] }]);
    expect(plan.remove).toEqual(['older']);
  });

  it('no snapshots, nothing to do', () => {
    expect(planRetention([], { last: 3 }, new Date(NOW))).toEqual({ keep: [], remove: [] });
  });
});

describe('planRetention: the policy is checked', () => {
  const none = [snap('a', '2026-11-20T02:00:00Z')];

  function failure(policy: unknown): ConfigError {
    try {
      planRetention(none, policy as RetentionPolicy, new Date(NOW));
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    throw new Error(`accepted ${JSON.stringify(policy)}`);
  }

  it('refuses a policy without any rule (exit 2)', () => {
    for (const policy of [{}, { last: undefined }]) {
      const error = failure(policy);
      expect(error.code).toBe('retention-policy-empty');
      expect(error.exitCode).toBe(2);
      expect(error.hint).toMatch(/--keep-within/);
    }
  });

  it('refuses counts that are not whole numbers of at least 1', () => {
    for (const policy of [{ last: 0 }, { last: -1 }, { daily: 1.5 }, { weekly: '3' }, { monthly: Number.NaN }, { yearly: Number.POSITIVE_INFINITY }, { last: null }]) {
      const error = failure(policy);
      expect(error.code, JSON.stringify(policy)).toBe('retention-policy-invalid');
      expect(error.message).toMatch(/whole number of at least 1/);
      expect(error.hint).toBeTruthy();
    }
  });

  it('refuses spans that do not parse', () => {
    for (const within of ['30', '30x', '0d', '-3d', ' 30d', '30 d', '1.5d', '30D', 'd', '', 30]) {
      const error = failure({ within });
      expect(error.code, JSON.stringify(within)).toBe('retention-policy-invalid');
      expect(error.hint).toMatch(/12h .*30d .*2w .*6m .*1y/);
    }
  });

  it('refuses a key that is not a rule, and a policy that is not an object', () => {
    expect(failure({ keepLast: 3 }).message).toBe('"keepLast" is not a retention rule.');
    expect(failure(null).code).toBe('retention-policy-invalid');
  });

  it('accepts every documented unit', () => {
    for (const within of ['12h', '30d', '2w', '6m', '1y']) expect(() => planRetention(none, { within }, new Date(NOW))).not.toThrow();
  });

  it('refuses an invalid now', () => {
    expect(() => planRetention(none, { last: 1 }, new Date('nope'))).toThrow(RangeError);
  });
});
