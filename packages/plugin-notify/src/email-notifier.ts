import type { NotificationEvent, Notifier } from '@strata/contracts';
import { createTransport } from 'nodemailer';

import { emailSubject, emailText } from './email-message.js';
import type { EmailSettings } from './notify-config.js';
import { NotifyError, stopped } from './notify-error.js';

/** Time limits for one delivery: a notifier should not hold a finished backup job for minutes. */
const SMTP_TIMEOUTS = { connectionTimeout: 15_000, greetingTimeout: 15_000, socketTimeout: 30_000 } as const;

/** What nodemailer puts on its errors. */
interface SmtpFailure {
  code?: string;
  responseCode?: number;
  message?: string;
}

/**
 * Sends each event as a plain-text e-mail through nodemailer's SMTP transport, one connection per
 * message. Nothing is retried here: SMTP servers queue and retry delivery themselves, and a refused
 * login or recipient would be refused again. Messages name the server's host, never the password.
 */
export class EmailNotifier implements Notifier {
  readonly description: string;
  readonly #settings: EmailSettings;
  /** `host:port` for messages (the URL's port, or the protocol's default). */
  readonly #server: string;

  constructor(settings: EmailSettings) {
    this.#settings = settings;
    const url = new URL(settings.smtp);
    this.#server = url.port ? `${settings.host}:${url.port}` : settings.host;
    this.description = `email ${settings.to.join(', ')} via ${settings.host}`;
  }

  /** Sends the mail; rejects with a one-sentence `NotifyError` when the server could not be reached or refused it. */
  async send(event: NotificationEvent, options: { signal?: AbortSignal } = {}): Promise<void> {
    // The URL's own query (e.g. `?tls.rejectUnauthorized=false`) still overrides these defaults.
    const transport = createTransport({ url: this.#settings.smtp, ...SMTP_TIMEOUTS });
    try {
      await transport.sendMail({
        from: this.#settings.from,
        to: this.#settings.to,
        subject: emailSubject(event, this.#settings.subjectPrefix),
        text: emailText(event),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      // nodemailer's error is not kept as the cause: its text and fields are the server's and
      // nodemailer's, and the sentence below already says what matters without any secret.
      throw this.#error(error as SmtpFailure, options.signal);
    } finally {
      transport.close();
    }
  }

  #error(failure: SmtpFailure, signal: AbortSignal | undefined): NotifyError {
    const server = this.#server;
    const reply = failure.responseCode ? ` (SMTP ${failure.responseCode})` : '';
    if (signal?.aborted) return stopped(signal, `the SMTP server ${server}`);
    switch (failure.code) {
      case 'EAUTH':
      case 'ENOAUTH':
        return new NotifyError(`The SMTP server ${server} refused the login${reply}.`, {
          code: 'notify-smtp-auth',
          hint: 'Check the user and password in the smtp URL; percent-encode characters such as @ : / in them.',
        });
      case 'ETLS':
        return new NotifyError(`The TLS connection to the SMTP server ${server} failed.`, {
          code: 'notify-smtp-unreachable',
          hint: 'Use smtps:// for port 465 and smtp:// (STARTTLS) for ports 587 and 25.',
        });
      case 'ECONNECTION':
      case 'ESOCKET':
      case 'ETIMEDOUT':
      case 'EDNS':
      case 'EPROXY':
        return new NotifyError(`The SMTP server ${server} could not be reached (${socketReason(failure)}).`, {
          code: 'notify-smtp-unreachable',
          hint: `Check the host and port in the smtp URL and that ${server} is reachable from this machine.`,
        });
      case 'EENVELOPE':
        return new NotifyError(`The SMTP server ${server} refused the sender or a recipient${reply}.`, {
          code: 'notify-smtp-refused',
          hint: 'Check from and to, and that the SMTP account may send as the from address.',
        });
      default:
        return new NotifyError(`The SMTP server ${server} did not accept the e-mail${reply || ` (${failure.code ?? 'unknown error'})`}.`, {
          code: 'notify-smtp-refused',
          hint: 'Check the SMTP server\'s logs for the message from the from address.',
        });
    }
  }
}

/** `ECONNREFUSED`, `timed out`…: the socket error's code when nodemailer's message carries one. */
function socketReason(failure: SmtpFailure): string {
  if (failure.code === 'ETIMEDOUT') return 'timed out';
  if (failure.code === 'EDNS') return 'host not found';
  const code = /\b(E[A-Z]{3,})\b/.exec(failure.message ?? '')?.[1];
  return code ?? 'connection failed';
}
