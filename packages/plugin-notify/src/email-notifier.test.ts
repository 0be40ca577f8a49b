// The e-mail notifier against a real SMTP server (smtp-server) on 127.0.0.1 that requires a login,
// checking the message that arrived.
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';

import { EmailNotifier } from './email-notifier.js';
import { emailSubject } from './email-message.js';
import { parseEmailTarget } from './notify-config.js';
import { NotifyError } from './notify-error.js';
import { failedSnapshot, promoted } from './testing/events.js';
import { deadPort, parseMail, startSmtpServer, type LocalSmtpServer } from './testing/local-servers.js';
import { failure } from './testing/failure.js';

const USER = 'strata-mailer';
// Characters that must be percent-encoded in the URL, to check that nodemailer decodes them.
const PASS = 'p@ss:w/rd-7Q';
const WRONG = 'not-the-Pa55word';

let server: LocalSmtpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function smtpUrl(port: number, pass = PASS): string {
  return `smtp://${USER}:${encodeURIComponent(pass)}@127.0.0.1:${port}`;
}

function notifier(target: Record<string, unknown>): EmailNotifier {
  return new EmailNotifier(parseEmailTarget({ type: 'email', from: 'strata <backup@example.com>', to: ['ops@example.com'], ...target }, { environment: 'prod' }));
}

describe('EmailNotifier', () => {
  it('logs in and delivers a plain-text mail with the subject, the facts, the error and its hint', async () => {
    server = await startSmtpServer({ user: USER, pass: PASS });
    await notifier({ smtp: smtpUrl(server.port), to: ['ops@example.com', 'Dev Team <dev@example.com>'] }).send(failedSnapshot);

    expect(server.logins).toEqual([{ username: USER, password: PASS, accepted: true }]);
    expect(server.mails).toHaveLength(1);
    const mail = server.mails[0]!;
    expect(mail.user).toBe(USER);
    expect(mail.mailFrom).toBe('backup@example.com');
    expect(mail.rcptTo).toEqual(['ops@example.com', 'dev@example.com']);

    const { headers, body } = parseMail(mail.raw);
    expect(headers.get('from')).toBe('strata <backup@example.com>');
    expect(headers.get('to')).toBe('ops@example.com, Dev Team <dev@example.com>');
    expect(headers.get('subject')).toBe('[strata] snapshot of shop/prod failed');
    expect(headers.get('content-type')).toMatch(/^text\/plain; charset=utf-8$/i);
    expect(body.split('\n')[0]).toBe(failedSnapshot.summary);
    for (const line of [
      /^Environment: +prod$/m,
      /^Snapshot: +01JQ7ZC4W3V8N9Y2K5T6R1M0AB$/m,
      /^Duration: +41\.3 s$/m,
      /^Tables: +12$/m,
      /^Rows: +1,234,567$/m,
      /^Size: +80\.0 MiB \(83,886,080 bytes\)$/m,
      /^Error: +The database server db\.internal:5432 could not be reached\. \(database-unreachable\)$/m,
      /^Hint: +Check that the server is running and that this machine may connect to it\.$/m,
    ]) {
      expect(body).toMatch(line);
    }
    expect(mail.raw).not.toContain(PASS);
  });

  it('uses the subject prefix, or none', async () => {
    server = await startSmtpServer({ user: USER, pass: PASS });
    await notifier({ smtp: smtpUrl(server.port), subjectPrefix: '[acme backups]' }).send(failedSnapshot);
    await notifier({ smtp: smtpUrl(server.port), subjectPrefix: '' }).send(failedSnapshot);
    expect(server.mails.map((m) => parseMail(m.raw).headers.get('subject'))).toEqual([
      '[acme backups] snapshot of shop/prod failed',
      'snapshot of shop/prod failed',
    ]);
  });

  it('names both environments of a promotion in the subject and body', async () => {
    expect(emailSubject(promoted, '[strata]')).toBe('[strata] promote of shop/prod → shop/staging succeeded');
    server = await startSmtpServer({ user: USER, pass: PASS });
    await notifier({ smtp: smtpUrl(server.port) }).send(promoted);
    const { headers, body } = parseMail(server.mails[0]!.raw);
    // Non-ASCII subjects travel as an RFC 2047 encoded word.
    expect(headers.get('subject')).toMatch(/^=\?UTF-8\?[QB]\?/i);
    expect(body).toMatch(/^From environment: +prod$/m);
    expect(body).toMatch(/^Environment: +staging$/m);
    expect(body).toMatch(/^Database: +shop_staging_20261121$/m);
    expect(body).not.toMatch(/^Error:/m);
  });

  it('describes itself by recipients and host, without the password', () => {
    const n = notifier({ smtp: `smtp://${USER}:${encodeURIComponent(PASS)}@smtp.example.com:587` });
    expect(n.description).toBe('email ops@example.com via smtp.example.com');
  });

  it('fails with one sentence without the password when the login is refused', async () => {
    server = await startSmtpServer({ user: USER, pass: PASS });
    const error = await failure(notifier({ smtp: smtpUrl(server.port, WRONG) }).send(failedSnapshot));

    // The server did see the wrong password: the refusal is real, not a client-side check.
    expect(server.logins).toEqual([{ username: USER, password: WRONG, accepted: false }]);
    expect(server.mails).toHaveLength(0);
    expect(error.code).toBe('notify-smtp-auth');
    expect(error.message).toBe(`The SMTP server 127.0.0.1:${server.port} refused the login (SMTP 535).`);
    const everything = `${error.message} ${error.hint} ${JSON.stringify(error)} ${String(error.cause)}`;
    expect(everything).not.toContain(WRONG);
    expect(everything).not.toContain(encodeURIComponent(WRONG));
    expect(everything).not.toContain(Buffer.from(WRONG).toString('base64'));
  });

  it('fails with one sentence naming the server when nothing listens', async () => {
    const port = await deadPort();
    const error = await failure(notifier({ smtp: smtpUrl(port) }).send(failedSnapshot));
    expect(error.code).toBe('notify-smtp-unreachable');
    expect(error.message).toBe(`The SMTP server 127.0.0.1:${port} could not be reached (ECONNREFUSED).`);
    expect(error.message).not.toContain(PASS);
    expect(error.hint).not.toContain(PASS);
  });

  it('fails when the server refuses a recipient', async () => {
    server = await startSmtpServer({ user: USER, pass: PASS }, ['nobody@example.com']);
    const error = await failure(notifier({ smtp: smtpUrl(server.port), to: ['nobody@example.com'] }).send(failedSnapshot));
    expect(server.mails).toHaveLength(0);
    expect(error.code).toBe('notify-smtp-refused');
    expect(error.message).toBe(`The SMTP server 127.0.0.1:${server.port} refused the sender or a recipient (SMTP 550).`);
  });

  it("reports a time-out when the caller's time budget runs out on a server that never greets", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const error = await failure(notifier({ smtp: smtpUrl(port) }).send(failedSnapshot, { signal: AbortSignal.timeout(300) }));
      expect(error.code).toBe('notify-timeout');
      expect(error.message).toBe(`The notification to the SMTP server 127.0.0.1:${port} ran out of the time it was given.`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
