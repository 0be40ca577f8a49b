import { describe, expect, it } from 'vitest';

import { notifierHook } from './hooks/notifier.js';
import { parseEmailTarget, parseWebhookTarget, wants } from './notify-config.js';
import { NotifyError } from './notify-error.js';

const SLACK = 'https://hooks.slack.com/services/T0001/B0002/xoxSECRETtoken123';
const SMTP = 'smtp://mailer:S3cretPass@smtp.example.com:587';
const at = { environment: 'prod', index: 1 };

function configError(run: () => unknown): NotifyError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(NotifyError);
  const error = caught as NotifyError;
  expect(error.code).toBe('notify-config-invalid');
  expect(error.exitCode).toBe(2);
  expect(error.message).toMatch(/^The [^\n]+\.$/);
  return error;
}

describe('webhook targets', () => {
  it('fill in defaults', () => {
    expect(parseWebhookTarget({ type: 'webhook', url: SLACK }, at)).toEqual({
      type: 'webhook',
      url: SLACK,
      host: 'hooks.slack.com',
      headers: {},
      timeoutMs: 8_000,
    });
  });

  it('refuse an unknown key by its place in the config', () => {
    const error = configError(() => parseWebhookTarget({ type: 'webhook', url: SLACK, chanel: '#ops' }, at));
    expect(error.message).toBe('The webhook notifier does not know the setting notify[1].chanel of environment prod.');
    expect(error.hint).toBe('A webhook target takes type, url, on, headers, timeoutMs (see the @strata/plugin-notify README).');
  });

  it('refuse a missing url', () => {
    expect(configError(() => parseWebhookTarget({ type: 'webhook' }, at)).message).toBe(
      'The webhook notifier needs the setting notify[1].url of environment prod.',
    );
  });

  it('refuse a URL that is not http(s), without echoing it', () => {
    const error = configError(() => parseWebhookTarget({ type: 'webhook', url: SLACK.replace('https', 'ftp') }, at));
    expect(error.message).toBe('The setting notify[1].url of environment prod is invalid: must be an http:// or https:// URL.');
    expect(error.message).not.toContain('xoxSECRETtoken123');
  });

  it('refuse credentials in the URL', () => {
    const error = configError(() => parseWebhookTarget({ type: 'webhook', url: 'https://bot:hunter2@chat.example.com/hook' }, at));
    expect(error.message).toContain('notify[1].url');
    expect(error.message).toContain('must not hold a user or password');
    expect(error.message).not.toContain('hunter2');
  });

  it('refuse bad on, headers and timeoutMs values by name', () => {
    expect(configError(() => parseWebhookTarget({ type: 'webhook', url: SLACK, on: ['failure'] }, at)).message).toBe(
      'The setting notify[1].on[0] of environment prod is invalid: must be one of succeeded, failed.',
    );
    expect(configError(() => parseWebhookTarget({ type: 'webhook', url: SLACK, on: 'failed' }, at)).message).toBe(
      'The setting notify[1].on of environment prod is invalid: must be a list such as ["failed"].',
    );
    expect(configError(() => parseWebhookTarget({ type: 'webhook', url: SLACK, headers: { 'X-Token': 'a\r\nb' } }, at)).message).toBe(
      'The setting notify[1].headers.X-Token of environment prod is invalid: must not contain line breaks.',
    );
    expect(configError(() => parseWebhookTarget({ type: 'webhook', url: SLACK, timeoutMs: '5000' }, at)).message).toBe(
      'The setting notify[1].timeoutMs of environment prod is invalid: must be a number.',
    );
    expect(configError(() => parseWebhookTarget({ type: 'webhook', url: SLACK, timeoutMs: 0 }, at)).message).toBe(
      'The setting notify[1].timeoutMs of environment prod is invalid: must be at least 1.',
    );
  });
});

describe('email targets', () => {
  const valid = { type: 'email', smtp: SMTP, from: 'strata <backup@example.com>', to: ['ops@example.com'] };

  it('fill in defaults and accept one recipient as a string', () => {
    expect(parseEmailTarget({ ...valid, to: 'ops@example.com', on: ['failed'] }, at)).toEqual({
      type: 'email',
      smtp: SMTP,
      host: 'smtp.example.com',
      from: 'strata <backup@example.com>',
      to: ['ops@example.com'],
      on: ['failed'],
      subjectPrefix: '[strata]',
    });
  });

  it('refuse a missing or empty recipient list', () => {
    const { to: _omitted, ...withoutTo } = valid;
    expect(configError(() => parseEmailTarget(withoutTo, at)).message).toBe('The email notifier needs the setting notify[1].to of environment prod.');
    expect(configError(() => parseEmailTarget({ ...valid, to: [] }, at)).message).toBe(
      'The setting notify[1].to of environment prod is invalid: must list at least one address.',
    );
  });

  it('name the bad address in the list', () => {
    expect(configError(() => parseEmailTarget({ ...valid, to: ['ops@example.com', 'on-call team'] }, at)).message).toBe(
      'The setting notify[1].to[1] of environment prod is invalid: must be one e-mail address, such as ops@example.com or "strata <backup@example.com>".',
    );
  });

  it('refuse an smtp value that is not an smtp(s) URL, without echoing the password', () => {
    const error = configError(() => parseEmailTarget({ ...valid, smtp: 'https://mailer:S3cretPass@smtp.example.com' }, at));
    expect(error.message).toContain('notify[1].smtp');
    expect(error.message).not.toContain('S3cretPass');
  });

  it('refuse unknown keys', () => {
    expect(configError(() => parseEmailTarget({ ...valid, cc: ['x@example.com'] }, at)).message).toBe(
      'The email notifier does not know the setting notify[1].cc of environment prod.',
    );
  });
});

describe('notifierHook', () => {
  it('returns undefined for types other plugins handle', async () => {
    expect(await notifierHook({ target: { type: 'pagerduty', routingKey: 'x' }, environment: 'prod' })).toBeUndefined();
  });

  it('returns notifiers whose descriptions hold no secret', async () => {
    const webhook = await notifierHook({ target: { type: 'webhook', url: SLACK, on: ['failed'] }, environment: 'prod' });
    const email = await notifierHook({ target: { type: 'email', smtp: SMTP, from: 'backup@example.com', to: ['ops@example.com'] }, environment: 'prod' });
    expect(webhook?.description).toBe('webhook hooks.slack.com');
    expect(email?.description).toBe('email ops@example.com via smtp.example.com');
  });

  it('names the setting without a position when core does not pass one', async () => {
    await expect(notifierHook({ target: { type: 'webhook', url: 'not a url' }, environment: 'prod' })).rejects.toThrow(
      'The setting url of a webhook target in notify of environment prod is invalid: must be an http:// or https:// URL.',
    );
  });

  it('uses the position core passes', async () => {
    await expect(notifierHook({ target: { type: 'email', smtp: SMTP }, environment: 'staging', index: 0 })).rejects.toThrow(
      'The email notifier needs the setting notify[0].from of environment staging.',
    );
  });
});

describe('wants', () => {
  it('takes both outcomes when on is absent, and only the listed ones otherwise', () => {
    expect(wants({}, 'failed')).toBe(true);
    expect(wants({}, 'succeeded')).toBe(true);
    expect(wants({ on: ['failed'] }, 'failed')).toBe(true);
    expect(wants({ on: ['failed'] }, 'succeeded')).toBe(false);
  });
});
