import { setTimeout as sleep } from 'node:timers/promises';

import type { NotificationEvent, Notifier } from '@strata/contracts';

import type { WebhookSettings } from './notify-config.js';
import { NotifyError, stopped } from './notify-error.js';

/** Attempts per notification, the first included. */
export const WEBHOOK_ATTEMPTS = 3;
/** Pause before the second and the third attempt. */
const DEFAULT_BACKOFF_MS = [500, 1500] as const;

/** What one attempt came to, before the last attempt decides the error. */
type AttemptFailure =
  | { kind: 'status'; status: number; detail: string | undefined }
  | { kind: 'network'; reason: string }
  | { kind: 'timeout' };

/**
 * Posts each event as JSON, `{ text: event.summary, event }`: Slack, Mattermost, Rocket.Chat and
 * Teams workflows show `text`; anything else can read the structured `event`. A 5xx, a 429, a
 * network error or a timeout is retried with backoff, up to three attempts in all; any other
 * non-2xx answer fails at once. Messages name the host only: chat webhook URLs carry their secret
 * in the path.
 */
export class WebhookNotifier implements Notifier {
  readonly description: string;
  readonly #settings: WebhookSettings;
  readonly #backoffMs: readonly number[];

  /** `backoffMs` is the pause before each retry (for tests); the default is 0.5 s, then 1.5 s. */
  constructor(settings: WebhookSettings, options: { backoffMs?: readonly number[] } = {}) {
    this.#settings = settings;
    this.#backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.description = `webhook ${settings.host}`;
  }

  /** Posts the event; rejects with a one-sentence `NotifyError` naming the host once every attempt failed. */
  async send(event: NotificationEvent, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options;
    const body = JSON.stringify({ text: event.summary, event });
    let failure: AttemptFailure | undefined;
    for (let attempt = 1; attempt <= WEBHOOK_ATTEMPTS; attempt++) {
      if (attempt > 1) await this.#pause(this.#backoffMs[attempt - 2] ?? 0, signal);
      failure = await this.#attempt(body, signal);
      if (failure === undefined) return;
      if (!isRetryable(failure)) break;
    }
    throw this.#error(failure!, signal);
  }

  async #attempt(body: string, signal: AbortSignal | undefined): Promise<AttemptFailure | undefined> {
    const timeout = AbortSignal.timeout(this.#settings.timeoutMs);
    const headers = new Headers(this.#settings.headers);
    headers.set('content-type', 'application/json');
    try {
      const response = await fetch(this.#settings.url, {
        method: 'POST',
        headers,
        body,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      // Read the body either way, so the connection goes back to the pool (or closes) now.
      const text = await response.text();
      if (response.ok) return undefined;
      return { kind: 'status', status: response.status, detail: shortDetail(text) };
    } catch (error) {
      if (signal?.aborted) throw this.#aborted(signal);
      if (timeout.aborted) return { kind: 'timeout' };
      return { kind: 'network', reason: networkReason(error) };
    }
  }

  async #pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      await sleep(ms, undefined, signal ? { signal } : {});
    } catch {
      throw this.#aborted(signal!);
    }
  }

  #error(failure: AttemptFailure, signal: AbortSignal | undefined): NotifyError {
    if (signal?.aborted) return this.#aborted(signal);
    const { host, timeoutMs } = this.#settings;
    const tries = `after ${WEBHOOK_ATTEMPTS} attempts`;
    switch (failure.kind) {
      case 'timeout':
        return new NotifyError(`The webhook at ${host} did not answer within ${timeoutMs / 1000} s, ${tries}.`, {
          code: 'notify-webhook-unreachable',
          hint: `Check that ${host} is reachable from this machine, or raise timeoutMs.`,
        });
      case 'network':
        return new NotifyError(`The webhook at ${host} could not be reached ${tries} (${failure.reason}).`, {
          code: 'notify-webhook-unreachable',
          hint: `Check the webhook URL's host and that ${host} is reachable from this machine.`,
        });
      case 'status': {
        const detail = failure.detail ? `: ${failure.detail}` : '';
        if (isRetryable(failure)) {
          return new NotifyError(`The webhook at ${host} answered HTTP ${failure.status}${detail}, ${tries}.`, {
            code: 'notify-webhook-failed',
            hint: `The receiving service had a problem; check its status page.`,
          });
        }
        return new NotifyError(`The webhook at ${host} refused the notification with HTTP ${failure.status}${detail}.`, {
          code: 'notify-webhook-refused',
          hint: 'Check the webhook URL (it may have been revoked or mistyped) and any headers the service needs.',
        });
      }
    }
  }

  #aborted(signal: AbortSignal): NotifyError {
    return stopped(signal, `the webhook at ${this.#settings.host}`);
  }
}

function isRetryable(failure: AttemptFailure): boolean {
  return failure.kind !== 'status' || failure.status >= 500 || failure.status === 429;
}

/**
 * A short error word from the response body, like Slack's `no_service` or `invalid_payload`. Only
 * a bare word or a short phrase is shown: a longer body could echo anything, the URL included.
 */
function shortDetail(text: string): string | undefined {
  const trimmed = text.trim();
  return /^[\w .:-]{1,60}$/.test(trimmed) ? trimmed : undefined;
}

/** `ECONNREFUSED`, `ENOTFOUND`…: fetch wraps the socket error, whose message may hold the address. */
function networkReason(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z_]+$/.test(code)) return code;
    current = current.cause;
  }
  return 'network error';
}
