// Real local servers for the notifier tests: an HTTP server that records what it was sent, and an
// SMTP server (smtp-server) that checks a user and password and keeps every message as it arrived.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';

import { SMTPServer } from 'smtp-server';

/** One request as the HTTP server received it. */
export interface RecordedRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** How the HTTP server answers the `nth` request (0-based); `'hang'` never answers. */
export type HttpAnswer = { status: number; body?: string } | 'hang';

export interface LocalHttpServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** `127.0.0.1:<port>`, what messages may name. */
  host: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1 and a free port; answers 200 `ok` unless `answer` says otherwise. */
export async function startHttpServer(answer: (nth: number) => HttpAnswer = () => ({ status: 200, body: 'ok' })): Promise<LocalHttpServer> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await text(req);
      const nth = requests.length;
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const reply = answer(nth);
      if (reply === 'hang') return;
      res.writeHead(reply.status, { 'content-type': 'text/plain' }).end(reply.body ?? '');
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 where nothing listens (it was free a moment ago). */
export async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One message as the SMTP server received it. */
export interface ReceivedMail {
  mailFrom: string;
  rcptTo: string[];
  /** The authenticated user. */
  user: string;
  /** The message exactly as transmitted (headers, blank line, body). */
  raw: string;
}

export interface LocalSmtpServer {
  port: number;
  mails: ReceivedMail[];
  /** Every login attempt, successful or not. */
  logins: Array<{ username: string; password: string; accepted: boolean }>;
  close(): Promise<void>;
}

/**
 * Starts an SMTP server on 127.0.0.1 that requires a login as `user`/`pass` (PLAIN or LOGIN, over
 * plain text: STARTTLS is disabled so the test needs no certificate), and refuses recipients in
 * `refuse` with 550.
 */
export async function startSmtpServer(credentials: { user: string; pass: string }, refuse: string[] = []): Promise<LocalSmtpServer> {
  const mails: ReceivedMail[] = [];
  const logins: LocalSmtpServer['logins'] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      const accepted = auth.username === credentials.user && auth.password === credentials.pass;
      logins.push({ username: auth.username ?? '', password: auth.password ?? '', accepted });
      if (accepted) callback(null, { user: auth.username });
      else callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, callback) {
      if (refuse.includes(address.address)) callback(Object.assign(new Error('No such user here'), { responseCode: 550 }));
      else callback();
    },
    onData(stream, session, callback) {
      text(stream).then(
        (raw) => {
          mails.push({
            mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
            user: String(session.user ?? ''),
            raw,
          });
          callback();
        },
        (error: Error) => callback(error),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return { port, mails, logins, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * Splits a raw message into its headers (unfolded, names in lower case) and its decoded text body.
 * Enough for the single-part text/plain mails the notifier sends: 7bit or quoted-printable.
 */
export function parseMail(raw: string): { headers: Map<string, string>; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = raw.slice(split + 4);
  if (headers.get('content-transfer-encoding')?.toLowerCase() === 'quoted-printable') {
    const bytes = body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    body = Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return { headers, body: body.replace(/\r\n/g, '\n') };
}
