// The webhook notifier against a real HTTP server on 127.0.0.1, checking what arrived.
import { afterEach, describe, expect, it } from 'vitest';

import { parseWebhookTarget } from './notify-config.js';
import { NotifyError } from './notify-error.js';
import { failedSnapshot, promoted } from './testing/events.js';
import { deadPort, startHttpServer, type HttpAnswer, type LocalHttpServer } from './testing/local-servers.js';
import { WebhookNotifier } from './webhook-notifier.js';
import { failure } from './testing/failure.js';

// A path shaped like a Slack incoming-webhook URL: the last segments are the secret.
const SECRET_PATH = '/services/T0001/B0002/xoxSECRETtoken123?token=abc456';

let server: LocalHttpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(answer?: (nth: number) => HttpAnswer): Promise<LocalHttpServer> {
  server = await startHttpServer(answer);
  return server;
}

function notifier(target: Record<string, unknown>, backoffMs: number[] = [10, 10]): WebhookNotifier {
  return new WebhookNotifier(parseWebhookTarget({ type: 'webhook', ...target }, { environment: 'prod', index: 0 }), { backoffMs });
}

function expectOneSentenceWithoutSecret(error: NotifyError): void {
  expect(error.message).toMatch(/^The [^\n]+\.$/);
  for (const secret of ['services', 'xoxSECRETtoken123', 'token=abc456', 'T0001']) {
    expect(error.message).not.toContain(secret);
    expect(error.hint ?? '').not.toContain(secret);
  }
}

describe('WebhookNotifier', () => {
  it('posts the summary as text and the structured event as JSON, with the configured headers', async () => {
    const http = await serve();
    await notifier({ url: `${http.origin}${SECRET_PATH}`, headers: { 'X-Api-Key': 'k-123' } }).send(failedSnapshot);

    expect(http.requests).toHaveLength(1);
    const [request] = http.requests;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe(SECRET_PATH);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['x-api-key']).toBe('k-123');
    expect(JSON.parse(request?.body ?? '')).toEqual({ text: failedSnapshot.summary, event: failedSnapshot });
  });

  it('keeps content-type application/json even when the headers set another one', async () => {
    const http = await serve();
    await notifier({ url: http.origin, headers: { 'Content-Type': 'text/plain' } }).send(promoted);
    expect(http.requests[0]?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(http.requests[0]?.body ?? '').text).toBe(promoted.summary);
  });

  it('describes itself by host only', async () => {
    expect(notifier({ url: `https://hooks.slack.com${SECRET_PATH}` }).description).toBe('webhook hooks.slack.com');
  });

  it('retries a 503 with the default backoff, then succeeds with the same body', async () => {
    const http = await serve((nth) => (nth === 0 ? { status: 503, body: 'busy' } : { status: 200, body: 'ok' }));
    const started = Date.now();
    await new WebhookNotifier(parseWebhookTarget({ type: 'webhook', url: http.origin }, { environment: 'prod' })).send(failedSnapshot);

    expect(http.requests).toHaveLength(2);
    expect(http.requests[1]?.body).toBe(http.requests[0]?.body);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });

  it('gives up after 3 attempts of 5xx with one sentence naming the host', async () => {
    const http = await serve(() => ({ status: 502, body: 'bad gateway' }));
    const error = await failure(notifier({ url: `${http.origin}${SECRET_PATH}` }).send(failedSnapshot));

    expect(http.requests).toHaveLength(3);
    expect(error.code).toBe('notify-webhook-failed');
    expect(error.message).toBe(`The webhook at ${http.host} answered HTTP 502: bad gateway, after 3 attempts.`);
    expectOneSentenceWithoutSecret(error);
  });

  it('fails at once on a 4xx and shows a short error word such as Slack sends', async () => {
    const http = await serve(() => ({ status: 404, body: 'no_service' }));
    const error = await failure(notifier({ url: `${http.origin}${SECRET_PATH}` }).send(failedSnapshot));

    expect(http.requests).toHaveLength(1);
    expect(error.code).toBe('notify-webhook-refused');
    expect(error.message).toBe(`The webhook at ${http.host} refused the notification with HTTP 404: no_service.`);
    expectOneSentenceWithoutSecret(error);
  });

  it('does not echo a long response body, which could repeat the URL', async () => {
    const http = await serve(() => ({ status: 400, body: `invalid request to ${SECRET_PATH}, see the docs for the payload format` }));
    const error = await failure(notifier({ url: `${http.origin}${SECRET_PATH}` }).send(failedSnapshot));
    expect(error.message).toBe(`The webhook at ${http.host} refused the notification with HTTP 400.`);
    expectOneSentenceWithoutSecret(error);
  });

  it('retries a 429', async () => {
    const http = await serve((nth) => (nth < 2 ? { status: 429 } : { status: 200 }));
    await notifier({ url: http.origin }).send(failedSnapshot);
    expect(http.requests).toHaveLength(3);
  });

  it('fails on a dead endpoint after 3 attempts with one sentence that names the host, not the path or query', async () => {
    const port = await deadPort();
    const error = await failure(notifier({ url: `http://127.0.0.1:${port}${SECRET_PATH}` }).send(failedSnapshot));

    expect(error.code).toBe('notify-webhook-unreachable');
    expect(error.exitCode).toBe(1);
    expect(error.message).toBe(`The webhook at 127.0.0.1:${port} could not be reached after 3 attempts (ECONNREFUSED).`);
    expect(error.hint).toContain(`127.0.0.1:${port}`);
    expectOneSentenceWithoutSecret(error);
  });

  it('times out an attempt that gets no answer and retries it', async () => {
    const http = await serve(() => 'hang');
    const error = await failure(notifier({ url: `${http.origin}${SECRET_PATH}`, timeoutMs: 200 }).send(failedSnapshot));

    expect(http.requests).toHaveLength(3);
    expect(error.code).toBe('notify-webhook-unreachable');
    expect(error.message).toBe(`The webhook at ${http.host} did not answer within 0.2 s, after 3 attempts.`);
    expectOneSentenceWithoutSecret(error);
  });

  it('stops when the caller aborts, without further attempts', async () => {
    const http = await serve(() => ({ status: 503 }));
    const controller = new AbortController();
    const sending = notifier({ url: http.origin }, [5_000, 5_000]).send(failedSnapshot, { signal: controller.signal });
    await expect.poll(() => http.requests.length).toBe(1);
    controller.abort();
    const error = await failure(sending);

    expect(error.code).toBe('notify-aborted');
    expect(http.requests).toHaveLength(1);
  });

  it("reports a time-out when the caller's time budget runs out, as core's does", async () => {
    const http = await serve(() => 'hang');
    const error = await failure(notifier({ url: `${http.origin}${SECRET_PATH}`, timeoutMs: 5_000 }).send(failedSnapshot, { signal: AbortSignal.timeout(300) }));

    expect(http.requests).toHaveLength(1);
    expect(error.code).toBe('notify-timeout');
    expect(error.message).toBe(`The notification to the webhook at ${http.host} ran out of the time it was given.`);
    expectOneSentenceWithoutSecret(error);
  });
});
