import type { NotificationEvent, NotifiedOperation, NotifierConfig } from '../contracts/notifier.js';
import { formatBytes, formatCount, formatDuration } from '../text/unit-format.js';

/** What an operation reports about itself once it ended (a command fills in what it knows). */
export interface OperationReport {
  snapshotId?: string;
  database?: string;
  fromEnvironment?: string;
  tables?: number;
  rows?: number;
  bytes?: number;
  removed?: string[];
  kept?: number;
}

/**
 * The event every notifier receives, with a one-line summary for people:
 * `✅ snapshot of shop/prod succeeded: 12 tables, 1,234,567 rows, 80 MB in 41 s (01J…)`, or
 * `❌ restore of shop/staging failed after 3.2 s: <the error's sentence>`.
 */
export function notificationEvent(input: {
  operation: NotifiedOperation;
  project: string;
  environment: string;
  startedAt: Date;
  endedAt: Date;
  report?: OperationReport;
  error?: { code: string; message: string; hint?: string };
}): NotificationEvent {
  const { operation, project, environment, report = {}, error } = input;
  const durationMs = Math.max(0, input.endedAt.getTime() - input.startedAt.getTime());
  const where = report.fromEnvironment ? `${project}/${report.fromEnvironment} → ${project}/${environment}` : `${project}/${environment}`;
  const summary = error
    ? `❌ ${operation} of ${where} failed after ${formatDuration(durationMs)}: ${error.message}`
    : `✅ ${operation} of ${where} succeeded${details(report)} in ${formatDuration(durationMs)}${report.snapshotId ? ` (${report.snapshotId})` : ''}`;
  return {
    operation,
    outcome: error ? 'failed' : 'succeeded',
    project,
    environment,
    ...definedOnly(report),
    startedAt: input.startedAt.toISOString(),
    durationMs,
    ...(error ? { error } : {}),
    summary,
    display: { duration: formatDuration(durationMs), ...(report.bytes !== undefined ? { size: formatBytes(report.bytes) } : {}) },
  };
}

/** Whether a target wants events of this outcome (`on` defaults to both). */
export function targetWants(target: NotifierConfig, outcome: NotificationEvent['outcome']): boolean {
  return target.on === undefined || target.on.includes(outcome);
}

function details(report: OperationReport): string {
  const parts: string[] = [];
  if (report.tables !== undefined) parts.push(`${report.tables} tables`);
  if (report.rows !== undefined) parts.push(`${formatCount(report.rows)} rows`);
  if (report.bytes !== undefined) parts.push(formatBytes(report.bytes));
  if (report.removed !== undefined) parts.push(`${report.removed.length} removed`);
  if (report.kept !== undefined) parts.push(`${report.kept} kept`);
  if (report.database !== undefined) parts.push(`database ${report.database}`);
  return parts.length > 0 ? `: ${parts.join(', ')}` : '';
}

function definedOnly(report: OperationReport): OperationReport {
  return Object.fromEntries(Object.entries(report).filter(([, v]) => v !== undefined)) as OperationReport;
}
