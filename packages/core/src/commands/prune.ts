import { Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { formatTimestamp, renderTable } from '../cli/text-format.js';
import { prune, type PruneResult } from '../retention/prune.js';
import type { RetentionPolicy } from '../retention/retention-policy.js';

const countFlag = (summary: string) => Flags.integer({ summary, min: 1, helpValue: 'N' });

/** `1 snapshot`, `3 snapshots`. */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

export default class Prune extends BaseCommand<typeof Prune> {
  static override summary = "Remove the environment's snapshots that no retention rule keeps.";

  static override description = `All in UTC. --keep-within keeps everything younger than the span; --keep-daily/--keep-weekly (ISO weeks)/--keep-monthly/--keep-yearly N keep the newest snapshot in each of the last N such periods, the current one included, whether or not a period has snapshots; --keep-last N keeps the newest N. A snapshot kept by any rule is kept, and so is every snapshot tagged "keep". Without flags the environment's \`retention\` from the config applies (keepLast, keepWithin, keepDaily, keepWeekly, keepMonthly, keepYearly); any --keep-* flag replaces that section as a whole. With no rule at all, prune refuses. Each removed snapshot loses its manifest first, so one half-removed never lists. Folders without a manifest are removed too when their writer is provably gone or its lease expired (at once), or when they carry no lease and are older than a day; a capture or copy still running is never touched. Folders whose manifest is damaged are removed (--dry-run names them first); a manifest of a newer format is left alone.`;

  static override examples = [
    {
      description: 'Everything for 30 days, then one per week for 12 weeks and one per month for 12 months; show what would go.',
      command: '<%= config.bin %> <%= command.id %> --env prod --keep-within 30d --keep-weekly 12 --keep-monthly 12 --dry-run',
    },
    { description: "Apply prod's configured retention, as JSON.", command: '<%= config.bin %> <%= command.id %> --env prod --json' },
  ];

  static override flags = {
    'keep-last': countFlag('Keep the newest N snapshots.'),
    'keep-within': Flags.string({ summary: 'Keep every snapshot younger than this: 12h, 30d, 2w, 6m (months), 1y.', helpValue: 'SPAN' }),
    'keep-daily': countFlag('Keep the newest snapshot of each of the last N days.'),
    'keep-weekly': countFlag('Keep the newest snapshot of each of the last N ISO weeks.'),
    'keep-monthly': countFlag('Keep the newest snapshot of each of the last N months.'),
    'keep-yearly': countFlag('Keep the newest snapshot of each of the last N years.'),
    'dry-run': Flags.boolean({ summary: 'Show what would be kept and removed; remove nothing.' }),
  };

  async run(): Promise<PruneResult> {
    const loaded = await this.loadEnvironment();
    if (!this.flags['dry-run']) this.notification = { operation: 'prune', ...loaded };
    const ctx = await this.loadContext(loaded);
    const result = await prune(ctx, { ...this.policyFromFlags(), dryRun: this.flags['dry-run'] });
    if (this.notification) {
      this.notification.report = {
        removed: [...result.removed.map((s) => s.id), ...result.incompleteRemoved, ...result.damagedRemoved.map((d) => d.id)],
        kept: result.kept.length,
      };
    }
    const rows = [
      ...result.kept.map((s) => ['keep', s.id, formatTimestamp(s.createdAt), s.reasons.join(', ')]),
      ...result.removed.map((s) => [result.dryRun ? 'would remove' : 'removed', s.id, formatTimestamp(s.createdAt), '']),
      ...result.incompleteRemoved.map((id) => [result.dryRun ? 'would remove' : 'removed', id, '', 'incomplete (no manifest)']),
      ...result.damagedRemoved.map((d) => [result.dryRun ? 'would remove' : 'removed', d.id, '', 'damaged manifest']),
    ];
    if (rows.length > 0) {
      this.log(renderTable([{ header: 'ACTION' }, { header: 'ID' }, { header: 'CREATED (UTC)' }, { header: 'KEPT BY' }], rows));
    }
    const extras = [
      ...(result.incompleteRemoved.length > 0 ? [count(result.incompleteRemoved.length, 'incomplete folder')] : []),
      ...(result.damagedRemoved.length > 0 ? [`${count(result.damagedRemoved.length, 'folder')} with a damaged manifest`] : []),
    ];
    const incomplete = extras.length > 0 ? ` (and ${extras.join(' and ')})` : '';
    const anyRemoved = result.removed.length + result.incompleteRemoved.length + result.damagedRemoved.length > 0;
    // The table says which; the reasons name what is wrong with each manifest.
    for (const d of result.damagedRemoved) this.logToStderr(`${result.dryRun ? 'Would remove' : 'Removed'} ${d.id}: ${d.reason}`);
    const keptText = `${count(result.kept.length, 'snapshot')} of ${ctx.env.name}`;
    this.logToStderr(
      result.dryRun
        ? `Dry run: would keep ${keptText} and remove ${result.removed.length}${incomplete}` +
            `${anyRemoved ? '; run again without --dry-run to remove them.' : '.'}`
        : `Kept ${keptText} and removed ${result.removed.length}${incomplete}.`,
    );
    return result;
  }

  /** The policy the flags give, or nothing (the config's `retention` applies) when no --keep-* flag is set. */
  private policyFromFlags(): { policy?: RetentionPolicy } {
    const f = this.flags;
    const policy: RetentionPolicy = {
      ...(f['keep-last'] !== undefined ? { last: f['keep-last'] } : {}),
      ...(f['keep-within'] !== undefined ? { within: f['keep-within'] } : {}),
      ...(f['keep-daily'] !== undefined ? { daily: f['keep-daily'] } : {}),
      ...(f['keep-weekly'] !== undefined ? { weekly: f['keep-weekly'] } : {}),
      ...(f['keep-monthly'] !== undefined ? { monthly: f['keep-monthly'] } : {}),
      ...(f['keep-yearly'] !== undefined ? { yearly: f['keep-yearly'] } : {}),
    };
    return Object.keys(policy).length > 0 ? { policy } : {};
  }
}
