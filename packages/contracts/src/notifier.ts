/**
 * Notifiers tell people how an operation ended: a webhook post to the team's chat, an e-mail to
 * ops. Environments configure them (`notify: [{ type: 'webhook', … }, { type: 'email', … }]`);
 * plugins provide them through the `strata:notifier` hook. Core never knows how a message travels.
 *
 * A notifier that fails is logged and never changes the outcome of the operation it reports:
 * a successful backup stays successful when the chat is down.
 */

/** The operations that notify. */
export type NotifiedOperation = 'snapshot' | 'restore' | 'promote' | 'prune';

/** What happened, as every notifier receives it. Never holds a secret (URLs without credentials). */
export interface NotificationEvent {
  operation: NotifiedOperation;
  outcome: 'succeeded' | 'failed';
  /** Project and environment the operation ran for (for promote: the target environment). */
  project: string;
  environment: string;
  /** For promote: the source environment. */
  fromEnvironment?: string;
  /** The snapshot concerned, when there is one. */
  snapshotId?: string;
  /** The database created or read, without credentials. */
  database?: string;
  startedAt: string;
  durationMs: number;
  /** Totals, when known. */
  tables?: number;
  rows?: number;
  bytes?: number;
  /** For prune: what was removed and kept. */
  removed?: string[];
  kept?: number;
  /** For a failure: the error's one sentence, its code and hint (never a stack trace). */
  error?: { code: string; message: string; hint?: string };
  /** One line for people, e.g. `✅ snapshot of shop/prod succeeded: 12 tables, 1.2M rows, 80 MB in 41 s`. */
  summary: string;
  /** Figures as strata prints them (`41.3 s`, `80.0 MiB`), so every notifier shows the CLI's words. */
  display: { duration: string; size?: string };
}

/** One configured notification target, after `${VAR}` interpolation. */
export interface NotifierConfig {
  /** `webhook`, `email`, or whatever another plugin handles. */
  type: string;
  /** Which outcomes it wants; default both. */
  on?: Array<'succeeded' | 'failed'>;
  [option: string]: unknown;
}

/** A notifier for one configured target. */
export interface Notifier {
  /** For messages: `webhook https://hooks.slack.com/…` without secrets. */
  readonly description: string;
  /** Delivers the event; rejects with a one-sentence error when it could not. */
  send(event: NotificationEvent, options?: { signal?: AbortSignal }): Promise<void>;
}

/** What core passes to the `strata:notifier` hook, once per configured target. */
export interface NotifierHookOptions {
  target: NotifierConfig;
  environment: string;
  /** The target's position in the environment's `notify` list, for messages (`notify[1].url`). */
  index?: number;
}

/** A notifier when the plugin handles `target.type`, `undefined` otherwise. */
export type NotifierHookResult = Notifier | undefined;

/** A runtime guard for whatever a plugin hands back. */
export function isNotifier(value: unknown): value is Notifier {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.description === 'string' && typeof v.send === 'function';
}
