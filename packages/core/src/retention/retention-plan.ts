import { parseSpan, spanStart, validatePolicy, type RetentionPolicy } from './retention-policy.js';

/** What the plan needs to know of a snapshot. */
export interface RetentionCandidate {
  id: string;
  /** ISO 8601 timestamp, with `Z` or an offset; periods are computed in UTC. */
  createdAt: string;
  tags: string[];
}

/** A snapshot the plan keeps, with every rule that keeps it (e.g. `within 30d`, `weekly 2026-W47`). */
export interface RetentionKeep {
  id: string;
  reasons: string[];
}

/** The outcome of a retention policy over a set of snapshots, newest first in both lists. */
export interface RetentionPlan {
  keep: RetentionKeep[];
  /** Ids of the snapshots no rule keeps. */
  remove: string[];
}

/** The tag that protects a snapshot from every prune. */
export const KEEP_TAG = 'keep';

type PeriodRule = 'daily' | 'weekly' | 'monthly' | 'yearly';
const PERIOD_RULES: PeriodRule[] = ['daily', 'weekly', 'monthly', 'yearly'];
const DAY = 86_400_000;

/**
 * Decides which snapshots a retention policy keeps. Pure: no I/O, no clock (pass `now`).
 *
 * All in UTC. `within` keeps snapshots strictly younger than the span. `daily`/`weekly` (ISO
 * weeks)/`monthly`/`yearly` N keep the newest snapshot in each of the last N such calendar periods
 * counting back from `now`'s period (included); a period without snapshots still counts, so the
 * rule never reaches further back to make up for it. `last` N keeps the newest N. The rules are
 * applied independently and a snapshot kept by any of them is kept; its reasons name each rule.
 *
 * Also kept, whatever the policy: snapshots tagged `keep` (reason `tag keep`); snapshots created
 * after `now` (reason `newer than now`: a clock ahead of this one, never something to delete),
 * which take no place among `last` or the periods, so they cannot push an older one out; and a
 * snapshot whose `createdAt` does not parse (reason `unreadable createdAt`). "Newest" orders by
 * `createdAt`, then by id (ULIDs sort by time), so ties always resolve the same way.
 *
 * Throws a `ConfigError` coded `retention-policy-empty` when the policy has no rule and
 * `retention-policy-invalid` when a rule does not parse.
 */
export function planRetention(snapshots: RetentionCandidate[], policy: RetentionPolicy, now: Date): RetentionPlan {
  const rules = validatePolicy(policy);
  const nowMs = now.getTime();
  if (Number.isNaN(nowMs)) throw new RangeError('planRetention needs a valid `now` date.');

  const reasons = new Map<string, string[]>(snapshots.map((s) => [s.id, []]));
  const keep = (id: string, reason: string): void => {
    reasons.get(id)?.push(reason);
  };

  const dated = snapshots.map((s) => ({ ...s, time: Date.parse(s.createdAt) }));
  // Newest first; an unreadable date sorts last (b.time - a.time is NaN there, so ids decide).
  dated.sort((a, b) => (Number.isNaN(a.time) ? 1 : 0) - (Number.isNaN(b.time) ? 1 : 0) || b.time - a.time || compareIds(b.id, a.id));

  for (const s of dated) {
    if (Number.isNaN(s.time)) keep(s.id, 'unreadable createdAt');
    else if (s.time > nowMs) keep(s.id, 'newer than now');
    if (s.tags.includes(KEEP_TAG)) keep(s.id, `tag ${KEEP_TAG}`);
  }

  // Newest first, at or before now: what every rule chooses from.
  const past = dated.filter((s) => !Number.isNaN(s.time) && s.time <= nowMs);

  if (rules.last !== undefined) {
    for (const s of past.slice(0, rules.last)) keep(s.id, `last ${rules.last}`);
  }
  if (rules.within !== undefined) {
    const start = spanStart(parseSpan(rules.within), now);
    for (const s of past) if (s.time > start) keep(s.id, `within ${rules.within}`);
  }
  for (const rule of PERIOD_RULES) {
    const count = rules[rule];
    if (count === undefined) continue;
    const start = periodStart(rule, now, count - 1);
    const seen = new Set<string>();
    for (const s of past) {
      if (s.time < start) break;
      const period = periodKey(rule, new Date(s.time));
      if (seen.has(period)) continue;
      seen.add(period);
      keep(s.id, `${rule} ${period}`);
    }
  }

  const plan: RetentionPlan = { keep: [], remove: [] };
  const order = new Map(dated.map((s, i) => [s.id, i]));
  for (const s of [...snapshots].sort((a, b) => order.get(a.id)! - order.get(b.id)!)) {
    const why = reasons.get(s.id) ?? [];
    if (why.length > 0) plan.keep.push({ id: s.id, reasons: [...new Set(why)] });
    else plan.remove.push(s.id);
  }
  return plan;
}

/** The start (UTC ms) of the period `back` periods before the one holding `now`. */
export function periodStart(rule: PeriodRule, now: Date, back: number): number {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  let start: number;
  switch (rule) {
    case 'daily':
      start = Date.UTC(y, m, d - back);
      break;
    case 'weekly':
      start = Date.UTC(y, m, d - isoWeekday(now) - 7 * back);
      break;
    case 'monthly':
      start = Date.UTC(y, m - back, 1);
      break;
    case 'yearly':
      // Through month 0 - 12·back rather than the year argument, which Date.UTC reads as 19xx below 100.
      start = Date.UTC(y, -12 * back, 1);
      break;
  }
  // Past the Date range: the rule reaches before any possible snapshot.
  return Number.isNaN(start) ? -Infinity : start;
}

/** The UTC period holding `date`: `2026-11-20`, `2026-W47`, `2026-11` or `2026`. */
export function periodKey(rule: PeriodRule, date: Date): string {
  const y = date.getUTCFullYear();
  switch (rule) {
    case 'daily':
      return date.toISOString().slice(0, 10);
    case 'weekly': {
      const week = isoWeek(date);
      return `${pad(week.year, 4)}-W${pad(week.week, 2)}`;
    }
    case 'monthly':
      return `${pad(y, 4)}-${pad(date.getUTCMonth() + 1, 2)}`;
    case 'yearly':
      return pad(y, 4);
  }
}

/**
 * ISO 8601 week of a UTC date: weeks start on Monday, and week 1 is the week holding the year's
 * first Thursday, so a week belongs to the year its Thursday is in (29 Dec 2025 is 2026-W01,
 * 1 Jan 2027 is 2026-W53).
 */
export function isoWeek(date: Date): { year: number; week: number } {
  const thursday = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() - isoWeekday(date) + 3));
  const year = thursday.getUTCFullYear();
  const jan1 = new Date(0);
  jan1.setUTCFullYear(year, 0, 1);
  return { year, week: 1 + Math.floor((thursday.getTime() - jan1.getTime()) / DAY / 7) };
}

/** Monday 0 … Sunday 6. */
function isoWeekday(date: Date): number {
  return (date.getUTCDay() + 6) % 7;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
