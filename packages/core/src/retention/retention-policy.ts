import { RETENTION_SPAN, type RetentionConfig } from '../config/retention-config.js';
import { ConfigError } from '../errors.js';

/**
 * Which snapshots to keep. Every rule is optional; a snapshot kept by any rule is kept. Periods
 * are UTC calendar periods; counts are whole numbers of at least 1.
 */
export interface RetentionPolicy {
  /** Keep the newest N snapshots. */
  last?: number;
  /** Keep everything younger than this span: `12h`, `30d`, `2w`, `6m` (calendar months), `1y`. */
  within?: string;
  /** Keep the newest snapshot of each of the last N UTC days, today included. */
  daily?: number;
  /** Keep the newest snapshot of each of the last N ISO weeks (Monday to Sunday), this week included. */
  weekly?: number;
  /** Keep the newest snapshot of each of the last N calendar months, this month included. */
  monthly?: number;
  /** Keep the newest snapshot of each of the last N calendar years, this year included. */
  yearly?: number;
}

/** The rules, in the order their reasons are listed. */
export const RETENTION_RULES = ['last', 'within', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type RetentionRule = (typeof RETENTION_RULES)[number];

const SPAN_HINT = 'Write a number and a unit: 12h (hours), 30d (days), 2w (weeks), 6m (months) or 1y (years).';

/** The `keepX` config/flag name of a rule, for messages. */
export function ruleFlag(rule: RetentionRule): string {
  return `--keep-${rule}`;
}

/** Converts an environment's `retention` config section into a policy. */
export function policyFromConfig(config: RetentionConfig): RetentionPolicy {
  const policy: RetentionPolicy = {};
  if (config.keepLast !== undefined) policy.last = config.keepLast;
  if (config.keepWithin !== undefined) policy.within = config.keepWithin;
  if (config.keepDaily !== undefined) policy.daily = config.keepDaily;
  if (config.keepWeekly !== undefined) policy.weekly = config.keepWeekly;
  if (config.keepMonthly !== undefined) policy.monthly = config.keepMonthly;
  if (config.keepYearly !== undefined) policy.yearly = config.keepYearly;
  return policy;
}

/** Whether the policy names no rule at all. */
export function isEmptyPolicy(policy: RetentionPolicy): boolean {
  return RETENTION_RULES.every((rule) => policy[rule] === undefined);
}

/**
 * Checks a policy handed in by a caller (a script may pass anything): known rules only, counts
 * that are whole numbers of at least 1, a span that parses, and at least one rule. Throws a
 * `ConfigError` (exit 2) coded `retention-policy-invalid` or `retention-policy-empty`.
 */
export function validatePolicy(policy: unknown): RetentionPolicy {
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) {
    throw invalid('A retention policy must be an object such as { within: "30d", weekly: 12 }.', 'Pass the rules as an object.');
  }
  const known = new Set<string>(RETENTION_RULES);
  for (const key of Object.keys(policy)) {
    if (!known.has(key)) {
      throw invalid(`"${key}" is not a retention rule.`, `Use ${RETENTION_RULES.join(', ')}.`);
    }
  }
  const p = policy as Record<string, unknown>;
  for (const rule of RETENTION_RULES) {
    const value = p[rule];
    if (value === undefined || rule === 'within') continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw invalid(
        `The retention rule ${rule} must be a whole number of at least 1, not ${shown(value)}.`,
        `Give a count such as ${rule === 'last' ? 7 : 12}, or leave the rule out.`,
      );
    }
  }
  if (p.within !== undefined) parseSpan(p.within);
  if (isEmptyPolicy(p)) {
    throw new ConfigError('The retention policy has no rule, so there is no telling which snapshots to keep.', {
      code: 'retention-policy-empty',
      hint: `Give at least one of ${RETENTION_RULES.join(', ')} (on the command line: ${RETENTION_RULES.map(ruleFlag).join(', ')}).`,
    });
  }
  return p as RetentionPolicy;
}

/** A parsed `within` span. */
export interface Span {
  count: number;
  unit: 'h' | 'd' | 'w' | 'm' | 'y';
}

/** Parses `30d`, `12h`, `2w`, `6m`, `1y`; throws `retention-policy-invalid` for anything else. */
export function parseSpan(value: unknown): Span {
  const match = typeof value === 'string' ? RETENTION_SPAN.exec(value) : null;
  const count = match ? Number(match[1]) : NaN;
  if (!match || !Number.isSafeInteger(count)) {
    throw invalid(`The retention span ${shown(value)} is not a span of time.`, SPAN_HINT);
  }
  return { count, unit: match[2] as Span['unit'] };
}

/**
 * The instant a span before `now`. Hours, days and weeks are fixed lengths (UTC has no daylight
 * saving); months and years are calendar steps, with the day clamped to the target month's last
 * day (31 March minus 1m is 28 or 29 February, not 3 March).
 */
export function spanStart(span: Span, now: Date): number {
  const t = now.getTime();
  const hour = 3_600_000;
  switch (span.unit) {
    case 'h':
      return t - span.count * hour;
    case 'd':
      return t - span.count * 24 * hour;
    case 'w':
      return t - span.count * 7 * 24 * hour;
    case 'm':
      return monthsBefore(now, span.count);
    case 'y':
      return monthsBefore(now, span.count * 12);
  }
}

function monthsBefore(now: Date, months: number): number {
  const year = now.getUTCFullYear();
  const month = now.getUTCMonth() - months;
  // Date.UTC normalises a month outside 0..11 into the right year (its two-digit-year quirk
  // applies to the year argument only, which is always the full current year here).
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(now.getUTCDate(), lastDay);
  const start = Date.UTC(year, month, day, now.getUTCHours(), now.getUTCMinutes(), now.getUTCSeconds(), now.getUTCMilliseconds());
  // Beyond the Date range: the span reaches before any possible snapshot.
  return Number.isNaN(start) ? -Infinity : start;
}

/** A value as the user wrote it: strings quoted, numbers (NaN too) and the rest as they print. */
function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function invalid(message: string, hint: string): ConfigError {
  return new ConfigError(message, { code: 'retention-policy-invalid', hint });
}
