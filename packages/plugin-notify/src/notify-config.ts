import addressparser from 'nodemailer/lib/addressparser';
import { z } from 'zod';

import { NotifyError } from './notify-error.js';

/** The outcomes a target can ask for. */
export type NotifyOutcome = 'succeeded' | 'failed';

/** A `webhook` target after validation and defaults. */
export interface WebhookSettings {
  type: 'webhook';
  /** The full URL, a secret for Slack and most chat webhooks: never put it in a message. */
  url: string;
  /** `host[:port]` of `url`, the only part of it that messages show. */
  host: string;
  on?: NotifyOutcome[];
  /** Extra request headers, e.g. `authorization` for a webhook that wants a token. */
  headers: Record<string, string>;
  /** Time one attempt may take, connection to response. */
  timeoutMs: number;
}

/** An `email` target after validation and defaults. */
export interface EmailSettings {
  type: 'email';
  /** `smtp://user:pass@host:port` or `smtps://…`; holds the password: never put it in a message. */
  smtp: string;
  /** The SMTP server's host name, the only part of `smtp` that messages show. */
  host: string;
  from: string;
  to: string[];
  on?: NotifyOutcome[];
  /** Put before every subject; `''` for none. */
  subjectPrefix: string;
}

/** Defaults of the optional settings. */
// 3 webhook attempts of 8 s plus the pauses between them fit in the 30 s core gives a send.
export const NOTIFY_DEFAULTS = { timeoutMs: 8_000, subjectPrefix: '[strata]' } as const;

/** Where a target sits in the config, for messages: `notify[1]` of environment `prod`. */
export interface TargetLocation {
  environment: string;
  /** Position in the environment's `notify` list, when the caller knows it. */
  index?: number;
}

const on = z
  .array(z.enum(['succeeded', 'failed']), { error: 'must be a list such as ["failed"]' })
  .min(1, 'must list succeeded, failed or both (remove the target to turn it off)');

const webhookUrl = z.string({ error: 'must be a string' }).superRefine((value, ctx) => {
  const url = parseUrl(value);
  if (url === undefined || !['http:', 'https:'].includes(url.protocol) || !url.hostname) {
    ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL' });
  } else if (url.username || url.password) {
    // fetch refuses such URLs, and they would be one more place for a secret to leak.
    ctx.addIssue({ code: 'custom', message: 'must not hold a user or password (send a token with headers instead)' });
  }
});

// RFC 7230 token for names; no line breaks in values (they would be refused by fetch, or worse).
const headers = z.record(
  z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a valid HTTP header name'),
  z.string({ error: 'must be a string' }).regex(/^[^\r\n\0]*$/, 'must not contain line breaks'),
  { error: 'must be an object of header names to values' },
);

const smtpUrl = z.string({ error: 'must be a string' }).refine(
  (value) => {
    const url = parseUrl(value);
    return url !== undefined && ['smtp:', 'smtps:'].includes(url.protocol) && url.hostname !== '';
  },
  { message: 'must be an smtp:// or smtps:// URL such as smtp://user:password@smtp.example.com:587' },
);

const mailbox = z.string({ error: 'must be a string' }).refine(isMailbox, {
  message: 'must be one e-mail address, such as ops@example.com or "strata <backup@example.com>"',
});

const webhookSchema = z.strictObject({
  type: z.literal('webhook'),
  url: webhookUrl,
  on: on.optional(),
  headers: headers.optional(),
  timeoutMs: z.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(300_000, 'must be at most 300000').optional(),
});

const emailSchema = z.strictObject({
  type: z.literal('email'),
  smtp: smtpUrl,
  from: mailbox,
  // One address as a plain string is accepted too: an easy slip when there is one recipient.
  to: z.preprocess(
    (value) => (typeof value === 'string' ? [value] : value),
    z.array(mailbox, { error: 'must be a list of e-mail addresses' }).min(1, 'must list at least one address'),
  ),
  on: on.optional(),
  subjectPrefix: z.string({ error: 'must be a string' }).regex(/^[^\r\n]*$/, 'must not contain line breaks').optional(),
});

const KNOWN = {
  webhook: Object.keys(webhookSchema.shape),
  email: Object.keys(emailSchema.shape),
} as const;

/**
 * Validates a `webhook` target (already `${VAR}`-interpolated) and fills in defaults. Unknown keys
 * and bad values throw a `notify-config-invalid` error (exit code 2) naming the setting, e.g.
 * `notify[0].url`, and never its value: it may be a secret.
 */
export function parseWebhookTarget(target: Record<string, unknown>, where: TargetLocation): WebhookSettings {
  const parsed = check(webhookSchema, target, where, 'webhook');
  return {
    type: 'webhook',
    url: parsed.url,
    host: new URL(parsed.url).host,
    ...(parsed.on ? { on: parsed.on } : {}),
    headers: parsed.headers ?? {},
    timeoutMs: parsed.timeoutMs ?? NOTIFY_DEFAULTS.timeoutMs,
  };
}

/** Validates an `email` target and fills in defaults, failing like `parseWebhookTarget`. */
export function parseEmailTarget(target: Record<string, unknown>, where: TargetLocation): EmailSettings {
  const parsed = check(emailSchema, target, where, 'email');
  return {
    type: 'email',
    smtp: parsed.smtp,
    host: new URL(parsed.smtp).hostname,
    from: parsed.from,
    to: parsed.to,
    ...(parsed.on ? { on: parsed.on } : {}),
    subjectPrefix: parsed.subjectPrefix ?? NOTIFY_DEFAULTS.subjectPrefix,
  };
}

/**
 * Whether a target wants to hear about an outcome: `on` lists the outcomes, and a target without
 * `on` wants both. Core filters with the same rule before it calls a notifier; this is for code
 * that drives notifiers without core.
 */
export function wants(target: { on?: readonly string[] | undefined }, outcome: NotifyOutcome): boolean {
  return target.on === undefined || target.on.includes(outcome);
}

function check<T>(schema: z.ZodType<T>, target: Record<string, unknown>, where: TargetLocation, type: keyof typeof KNOWN): T {
  const result = schema.safeParse(target);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path ?? [];
  const hint = `A ${type} target takes ${KNOWN[type].join(', ')} (see the @strata/plugin-notify README).`;
  if (issue?.code === 'unrecognized_keys') {
    const name = settingName(where, type, [...path, issue.keys[0] ?? '?']);
    return fail(`The ${type} notifier does not know the setting ${name} of environment ${where.environment}.`, hint);
  }
  const name = settingName(where, type, path);
  if (valueAt(target, path) === undefined) return fail(`The ${type} notifier needs the setting ${name} of environment ${where.environment}.`, hint);
  // Never echo the value: a webhook URL or an SMTP URL is a secret.
  const reason = issue?.code === 'invalid_value' && 'values' in issue ? `must be one of ${issue.values.join(', ')}` : (issue?.message ?? 'is invalid');
  return fail(`The setting ${name} of environment ${where.environment} is invalid: ${reason}.`, hint);
}

function fail(message: string, hint: string): never {
  throw new NotifyError(message, { code: 'notify-config-invalid', hint, exitCode: 2 });
}

/** `notify[1].to[0]`, or `url of a webhook target in notify` when the position is unknown. */
function settingName(where: TargetLocation, type: string, path: readonly PropertyKey[]): string {
  const tail = path.map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('');
  if (where.index !== undefined) return `notify[${where.index}]${tail === '' || tail.startsWith('[') ? '' : '.'}${tail}`;
  return tail === '' ? `of a ${type} target in notify` : `${tail} of a ${type} target in notify`;
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

function isMailbox(value: string): boolean {
  const parsed = addressparser(value);
  const only = parsed.length === 1 ? parsed[0] : undefined;
  return only !== undefined && only.group === undefined && /^[^\s@]+@[^\s@]+$/.test(only.address);
}
