import type { NotificationEvent } from '@strata/core';

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
    ['Duration', formatDuration(event.durationMs)],
    ['Tables', event.tables === undefined ? undefined : count(event.tables)],
    ['Rows', event.rows === undefined ? undefined : count(event.rows)],
    ['Size', event.bytes === undefined ? undefined : `${formatBytes(event.bytes)} (${count(event.bytes)} bytes)`],
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

/** `850 ms`, `3.2 s`, `4m 05s`, `1h 02m`, as strata's CLI prints durations. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const total = Math.round(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  return hours > 0 ? `${hours}h ${pad(minutes)}m` : `${minutes}m ${pad(seconds)}s`;
}

/** `512 B`, `1.5 KiB`, `3.2 GiB`, as strata's CLI prints sizes. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
