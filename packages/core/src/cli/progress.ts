import type { ProgressEvent } from '../operation-context.js';
import { formatCount, formatDuration, formatEta, formatRate, visibleText } from './text-format.js';

/** Draws progress and prints lines that must not collide with it (warnings). */
export interface ProgressRenderer {
  update(event: ProgressEvent): void;
  /** Prints a whole line on the progress stream without garbling the progress display. */
  print(line: string): void;
  /** Removes any live display; call once the operation ends, whichever way. */
  finish(): void;
}

/** What is known about one item (a table, a migration) while it is worked on. */
export interface ItemProgress {
  phase: ProgressEvent['phase'];
  item: string;
  /** Time and row count of the first event seen for the item: the baseline for its rate. */
  firstAt: number;
  firstRows: number;
  lastAt: number;
  rows: number;
  totalRows?: number;
  overallRows?: number;
  overallTotalRows?: number;
}

/**
 * Rows per second between two samples, or undefined until enough time has passed for the figure
 * to mean something (a rate from 3 ms of work would be noise).
 */
export function rowsPerSecond(rowsDone: number, elapsedMs: number): number | undefined {
  if (elapsedMs < 250 || rowsDone <= 0) return undefined;
  return (rowsDone * 1000) / elapsedMs;
}

/** Seconds left at `rate`, or undefined when there is no total or no rate yet. */
export function etaSeconds(rows: number, totalRows: number | undefined, rate: number | undefined): number | undefined {
  if (totalRows === undefined || rate === undefined || rate <= 0) return undefined;
  return Math.max(0, totalRows - rows) / rate;
}

/** The rate of an item from its first sample to its latest. */
export function itemRate(state: ItemProgress): number | undefined {
  return rowsPerSecond(state.rows - state.firstRows, state.lastAt - state.firstAt);
}

/** `load public.orders  12,345 / 100,000 rows  4.6k rows/s  ETA 0:19` (parts omitted when unknown). */
export function formatRunningLine(state: ItemProgress): string {
  const rate = itemRate(state);
  const eta = etaSeconds(state.rows, state.totalRows, rate);
  const parts = [`${state.phase} ${visibleText(state.item)}`];
  if (countsRows(state)) {
    parts.push(state.totalRows === undefined ? `${formatCount(state.rows)} rows` : `${formatCount(state.rows)} / ${formatCount(state.totalRows)} rows`);
    if (rate !== undefined) parts.push(`${formatRate(rate)} rows/s`);
    if (eta !== undefined) parts.push(`ETA ${formatEta(eta)}`);
  }
  const overall =
    state.overallTotalRows && state.overallRows !== undefined ? `[${Math.min(100, Math.floor((state.overallRows * 100) / state.overallTotalRows))}%] ` : '';
  return overall + parts.join('  ');
}

/**
 * `load public.orders: 100,000 rows in 3.2 s (31k rows/s)`, or `migrate x: done in 1.2 s`. The
 * time is left out when the item's only event was its last one: "in 0 ms" would be a lie.
 */
export function formatDoneLine(state: ItemProgress): string {
  const took = state.lastAt > state.firstAt ? ` in ${formatDuration(state.lastAt - state.firstAt)}` : '';
  // In these phases `rows` counts steps, not table rows; only the item is worth showing.
  if (!countsRows(state)) return `${state.phase} ${visibleText(state.item)}: done${took}`;
  const rate = itemRate(state);
  return `${state.phase} ${visibleText(state.item)}: ${formatCount(state.rows)} rows${took}${rate === undefined ? '' : ` (${formatRate(rate)} rows/s)`}`;
}

function countsRows(state: ItemProgress): boolean {
  return state.phase !== 'migrate' && state.phase !== 'index';
}

/** Keeps per-item state from the event stream. */
class ProgressTracker {
  private readonly items = new Map<string, ItemProgress>();

  constructor(private readonly now: () => number) {}

  /** Records `event`; returns the item's state, removed from tracking once done. */
  record(event: ProgressEvent): ItemProgress {
    const key = `${event.phase}\0${event.item}`;
    const at = this.now();
    let state = this.items.get(key);
    if (!state) {
      state = { phase: event.phase, item: event.item, firstAt: at, firstRows: 0, lastAt: at, rows: event.rows };
      this.items.set(key, state);
    }
    state.lastAt = at;
    state.rows = event.rows;
    if (event.totalRows !== undefined) state.totalRows = event.totalRows;
    if (event.overallRows !== undefined) state.overallRows = event.overallRows;
    if (event.overallTotalRows !== undefined) state.overallTotalRows = event.overallTotalRows;
    if (event.done) this.items.delete(key);
    return state;
  }
}

/**
 * Progress for logs and CI (stderr not a terminal): one plain line per finished item, plus for
 * long items at most one running line per `intervalMs`. Never any escape codes.
 */
export class PlainProgress implements ProgressRenderer {
  private readonly tracker: ProgressTracker;
  private readonly intervalMs: number;
  private lastRunningLineAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly writeLine: (line: string) => void,
    options: { now?: () => number; intervalMs?: number } = {},
  ) {
    const now = options.now ?? Date.now;
    this.tracker = new ProgressTracker(now);
    this.intervalMs = options.intervalMs ?? 5000;
  }

  update(event: ProgressEvent): void {
    const state = this.tracker.record(event);
    if (event.done) {
      // A restore runs dozens of migrations and index rebuilds in milliseconds each, and its report
      // counts them; in a log only the slow ones are news.
      if (!countsRows(state) && state.lastAt - state.firstAt < this.intervalMs / 5) return;
      this.writeLine(formatDoneLine(state));
      return;
    }
    // Short items only ever get their "done" line; a long one reports every interval.
    if (state.lastAt - state.firstAt >= this.intervalMs && state.lastAt - this.lastRunningLineAt >= this.intervalMs) {
      this.lastRunningLineAt = state.lastAt;
      this.writeLine(formatRunningLine(state));
    }
  }

  print(line: string): void {
    this.writeLine(line);
  }

  finish(): void {}
}

/** The subset of a TTY stream the live display needs. */
export interface TtyStream {
  write(chunk: string): unknown;
  columns?: number;
}

/** Progress on a terminal: one line, rewritten in place at most every `redrawMs`. */
export class TtyProgress implements ProgressRenderer {
  private readonly tracker: ProgressTracker;
  private readonly now: () => number;
  private readonly redrawMs: number;
  private current = '';
  private lastDrawAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly stream: TtyStream,
    options: { now?: () => number; redrawMs?: number } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.tracker = new ProgressTracker(this.now);
    this.redrawMs = options.redrawMs ?? 100;
  }

  update(event: ProgressEvent): void {
    const state = this.tracker.record(event);
    const line = event.done ? formatDoneLine(state) : formatRunningLine(state);
    if (!event.done && this.now() - this.lastDrawAt < this.redrawMs) return;
    this.draw(line);
  }

  print(line: string): void {
    this.stream.write(`\r\x1b[K${line}\n`);
    if (this.current) this.stream.write(this.current);
  }

  finish(): void {
    if (this.current) this.stream.write('\r\x1b[K');
    this.current = '';
  }

  private draw(line: string): void {
    // Some pseudo-terminals report 0 columns.
    const width = Math.max(20, (this.stream.columns || 80) - 1);
    this.current = line.length > width ? `${line.slice(0, width - 1)}…` : line;
    this.lastDrawAt = this.now();
    this.stream.write(`\r\x1b[K${this.current}`);
  }
}

/** Picks the live display for a terminal and plain lines otherwise. */
export function createProgressRenderer(stream: NodeJS.WriteStream): ProgressRenderer {
  return stream.isTTY ? new TtyProgress(stream) : new PlainProgress((line) => stream.write(`${line}\n`));
}
