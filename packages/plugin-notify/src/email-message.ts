import type { NotificationEvent } from '@strata/contracts';

/**
 * The subject: `[strata] snapshot of shop/prod failed`, or for a promotion
 * `[strata] promote of shop/prod → shop/staging succeeded`. Short enough for a phone's list view;
 * the details are in the body.
 */
export function emailSubject(event: NotificationEvent, prefix: string): string {
  const where = event.fromEnvironment
    ? `${event.project}/${event.fromEnvironment} → ${event.project}/${event.environment}`
    : `${event.project}/${event.environment}`;
  return `${prefix ? `${prefix} ` : ''}${event.operation} of ${where} ${event.outcome}`;
}

/**
 * The plain-text body: the summary line, then one `Label: value` line per fact the event carries,
 * the error's sentence and hint last, where a reader who skims ends up.
 */
export function emailText(event: NotificationEvent): string {
  const facts: Array<[string, string | undefined]> = [
    ['Operation', event.operation],
    ['Outcome', event.outcome],
    ['Project', event.project],
    ['Environment', event.environment],
    ['From environment', event.fromEnvironment],
    ['Snapshot', event.snapshotId],
    ['Database', event.database],
    ['Started', event.startedAt],
    ['Duration', event.display?.duration ?? `${event.durationMs} ms`],
    ['Tables', event.tables === undefined ? undefined : count(event.tables)],
    ['Rows', event.rows === undefined ? undefined : count(event.rows)],
    ['Size', event.bytes === undefined ? undefined : event.display?.size ? `${event.display.size} (${count(event.bytes)} bytes)` : `${count(event.bytes)} bytes`],
    ['Removed', event.removed === undefined ? undefined : event.removed.length === 0 ? 'none' : event.removed.join(', ')],
    ['Kept', event.kept === undefined ? undefined : count(event.kept)],
    ['Error', event.error ? `${event.error.message} (${event.error.code})` : undefined],
    ['Hint', event.error?.hint],
  ];
  const shown = facts.filter((fact): fact is [string, string] => fact[1] !== undefined);
  const width = Math.max(...shown.map(([label]) => label.length)) + 1;
  const lines = shown.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}`);
  return `${event.summary}\n\n${lines.join('\n')}\n\n-- \nSent by strata.\n`;
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function count(n: number): string {
  return integer.format(n);
}
