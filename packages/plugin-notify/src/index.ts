export { notifierHook } from './hooks/notifier.js';
export { WebhookNotifier, WEBHOOK_ATTEMPTS } from './webhook-notifier.js';
export { EmailNotifier } from './email-notifier.js';
export { emailSubject, emailText } from './email-message.js';
export {
  parseWebhookTarget,
  parseEmailTarget,
  wants,
  NOTIFY_DEFAULTS,
  type WebhookSettings,
  type EmailSettings,
  type NotifyOutcome,
  type TargetLocation,
} from './notify-config.js';
export { NotifyError } from './notify-error.js';
