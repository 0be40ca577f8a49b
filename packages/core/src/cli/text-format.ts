// Small formatters for human output. Deterministic (fixed locale, UTC) so output is the same on
// every machine and tests can assert on it. Counts, bytes and durations come from text/unit-format.ts,
// which engine code may use too; everything here is for commands and the progress renderer.
import type { SnapshotScope } from '../format/manifest-schema.js';

export { formatBytes, formatCount, formatDuration } from '../text/unit-format.js';

/** Seconds left as a clock: `0:07`, `12:30`, `1:02:03`. */
export function formatEta(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

/** A rate for progress lines: `950`, `12.3k`, `1.2M` (rows per second). */
export function formatRate(perSecond: number): string {
  if (perSecond >= 1_000_000) return `${(perSecond / 1_000_000).toFixed(1)}M`;
  if (perSecond >= 10_000) return `${Math.round(perSecond / 1000)}k`;
  if (perSecond >= 1000) return `${(perSecond / 1000).toFixed(1)}k`;
  return `${Math.round(perSecond)}`;
}

/** An ISO timestamp as `2024-05-01 13:45` (UTC). Unparseable input is returned unchanged. */
export function formatTimestamp(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toISOString().slice(0, 16).replace('T', ' ');
}

export interface TableColumn {
  header: string;
  /** Numbers read best right-aligned. */
  align?: 'left' | 'right';
}

/**
 * Renders rows as aligned columns separated by two spaces, with a header line. The last column
 * is not padded, so lines carry no trailing spaces.
 */
export function renderTable(columns: TableColumn[], rows: string[][]): string {
  const widths = columns.map((column, i) => Math.max(column.header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    columns
      .map((column, i) => {
        const cell = cells[i] ?? '';
        const width = widths[i] ?? 0;
        if (column.align === 'right') return cell.padStart(width);
        return i === columns.length - 1 ? cell : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)].join('\n');
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** `--tables a,b --tables c` → `[a, b, c]`: commas and repeats both separate names. */
export function splitListFlag(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

/**
 * What part of a database a snapshot holds, in one line (`company name=Acme; shared: …`), or
 * undefined for a full snapshot. `snapshot` and `show` both print it.
 */
export function describeScope(scope: SnapshotScope | null): string | undefined {
  if (!scope) return undefined;
  if (scope.kind === 'tables') return `${scope.modules ? `modules ${scope.modules.join(', ')}: ` : ''}tables ${scope.tables.join(', ')}`;
  const parts = [`${scope.name} ${scope.key}=${scope.values ? scope.values.join(', ') : '(sealed: encrypted)'}`];
  if (scope.shared.length > 0) parts.push(`shared: ${scope.shared.join(', ')}`);
  if (scope.leftOut.length > 0) parts.push(`left out: ${scope.leftOut.join(', ')}`);
  return parts.join('; ');
}


/**
 * Text with terminal control characters shown as `\u001b`-style escapes. Manifests come from a
 * storage anyone with write access can fill, and table names may hold any character: an escape
 * sequence in a description or a name must not reach the user's terminal and rewrite it.
 * Newlines and tabs stay, since commands lay out their own output with them.
 */
export function visibleText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
