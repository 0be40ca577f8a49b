import type { NotifierHookOptions, NotifierHookResult } from '@strata/contracts';

import { EmailNotifier } from '../email-notifier.js';
import { parseEmailTarget, parseWebhookTarget } from '../notify-config.js';
import { WebhookNotifier } from '../webhook-notifier.js';

/**
 * The `strata:notifier` hook: a notifier for `webhook` and `email` targets, `undefined` for every
 * other type so that core asks the next plugin. Registered in package.json under `oclif.hooks`.
 * A bad target throws here, when core loads the environment's notifiers, with exit code 2 and the
 * setting's name (`notify[1].url` when core passes the target's `index`).
 */
export async function notifierHook(options: NotifierHookOptions & { index?: number }): Promise<NotifierHookResult> {
  const where = { environment: options.environment, ...(options.index !== undefined ? { index: options.index } : {}) };
  switch (options.target.type) {
    case 'webhook':
      return new WebhookNotifier(parseWebhookTarget(options.target, where));
    case 'email':
      return new EmailNotifier(parseEmailTarget(options.target, where));
    default:
      return undefined;
  }
}
