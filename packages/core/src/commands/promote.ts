import { createInterface } from 'node:readline/promises';

import { Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import type { OperationReport } from '../notify/notification.js';
import { formatCount, formatDuration } from '../cli/text-format.js';
import type { Transformer } from '../contracts/transformer.js';
import { AbortedError } from '../errors.js';
import { promote, type PromoteResult } from '../promote/promote.js';

export default class Promote extends BaseCommand<typeof Promote> {
  static override summary = "Promote a snapshot of one environment into a new database of another (prod → staging).";

  static override description = `Takes a new snapshot of the source (--fresh) or picks one (latest by default), copies it to the target's storage when the two differ, runs the target's beforeRestore hooks, restores it into a new database on the target's server (masked with the config's anonymize rules when --anonymize is given or the target says requireAnonymized; tables of --exclude-table and the target's restore.exclude left empty), and runs the afterRestore hooks on that database before it takes its name. A failing step stops the promotion, names itself, and leaves no restored database behind.

Hooks (environments.<target>.hooks.beforeRestore / afterRestore) are SQL files ("scrub.sql", relative to the config) run on the database, or shell commands ({ run: "…" }) run in the config's directory with STRATA_DATABASE_URL, STRATA_DATABASE_NAME, STRATA_SNAPSHOT_ID and STRATA_ENV set. beforeRestore steps see the target environment's current database; afterRestore steps see the restored one, reached under its temporary name (STRATA_DATABASE_URL) until every step passed, while STRATA_DATABASE_NAME (in SQL: current_setting('strata.database_name')) is the name it then takes.

In a terminal, strata asks before it starts (--yes skips the question); without a terminal it never asks: --replace needs --confirm NAME.`;

  static override examples = [
    { description: "Promote prod's newest snapshot to staging, from a CI job.", command: '<%= config.bin %> <%= command.id %> --from prod --to staging' },
    { description: 'A fresh snapshot, masked, into a database of your choosing.', command: '<%= config.bin %> <%= command.id %> --from prod --to staging --fresh --anonymize --database shop_staging_next' },
    { description: 'See what would happen.', command: '<%= config.bin %> <%= command.id %> --from prod --to staging --dry-run' },
  ];

  static override flags = {
    from: Flags.string({ summary: 'Source environment.', helpValue: 'ENV', required: true }),
    to: Flags.string({ summary: 'Target environment.', helpValue: 'ENV', required: true }),
    snapshot: Flags.string({ summary: 'Snapshot id of the source, or latest (default).', helpValue: 'ID', exclusive: ['fresh'] }),
    fresh: Flags.boolean({ summary: 'Take a new snapshot of the source first.', default: false }),
    anonymize: Flags.boolean({ summary: "Mask the rows on their way in with the config's anonymize rules (automatic when the target requires anonymized data).", default: false }),
    database: Flags.string({ summary: 'Name of the database to create on the target server (default <project>_<target>_<YYYYMMDD>).', helpValue: 'NAME' }),
    replace: Flags.boolean({ summary: 'Replace an existing database of that name; needs --confirm.', dependsOn: ['confirm'] }),
    confirm: Flags.string({ summary: 'The name of the database --replace replaces.', helpValue: 'NAME', dependsOn: ['replace'] }),
    'exclude-table': Flags.string({ summary: 'A table to leave empty (schema.table); repeat for several.', helpValue: 'TABLE', multiple: true, multipleNonGreedy: true }),
    'dry-run': Flags.boolean({ summary: 'Print the plan and change nothing.', default: false }),
    yes: Flags.boolean({ summary: 'Do not ask before starting (never asked without a terminal).', char: 'y', default: false }),
  };

  async run(): Promise<PromoteResult> {
    const { flags } = this;
    const source = await this.loadEnvironment(flags.from);
    const targetEnv = this.pickEnvironment(source.config, flags.to);
    // A plan changes nothing, succeeded or not: nobody needs to hear of it.
    const notification = { operation: 'promote' as const, config: source.config, env: targetEnv, report: undefined as OperationReport | undefined };
    if (!flags['dry-run']) this.notification = notification;
    let transformer: Transformer | undefined;
    if (flags.anonymize) transformer = await this.resolveAnonymizer(source.config, targetEnv);
    else if (targetEnv.requireAnonymized === true) {
      // Needed only when the snapshot is not anonymized already: promote decides, and says so.
      transformer = await this.resolveAnonymizer(source.config, targetEnv).catch(() => undefined);
    }
    const from = await this.loadContext(source);
    const to = await this.loadContext({ config: source.config, env: targetEnv });

    if (!flags['dry-run'] && !flags.yes && process.stdin.isTTY && process.stderr.isTTY) {
      const what = flags.fresh ? `a new snapshot of ${flags.from}` : `snapshot ${flags.snapshot ?? 'latest'} of ${flags.from}`;
      if (!(await this.ask(`Promote ${what} into ${flags.replace ? `database ${flags.confirm} (replacing it)` : 'a new database'} of ${flags.to}? [y/N] `))) {
        this.notification = undefined;
        throw new AbortedError('The promotion was not started.', { code: 'aborted', hint: 'Answer y, or pass --yes.' });
      }
    }

    const result = await promote({
      from,
      to,
      ...(flags.snapshot ? { snapshot: flags.snapshot } : {}),
      fresh: flags.fresh,
      ...(transformer ? { transformer } : {}),
      ...(flags.database ? { database: flags.database } : {}),
      ...(flags.replace ? { replace: true } : {}),
      ...(flags.confirm ? { confirm: flags.confirm } : {}),
      excludeTables: flags['exclude-table'] ?? [],
      dryRun: flags['dry-run'],
    });

    if (result.dryRun) {
      const plan = result.plan!;
      this.log(`Plan: promote ${flags.fresh ? `a new snapshot of ${result.from} (planned with ${result.snapshotId})` : `snapshot ${result.snapshotId} of ${result.from}`} to ${result.to}.`);
      this.log(`- storage: ${result.copy === 'shared' ? 'shared by both environments, read in place' : `copied to ${to.storage.location}`}`);
      this.log(`- masking: ${transformer && !result.anonymized ? 'none' : result.anonymized ? `yes${transformer ? ` (${transformer.name})` : ' (anonymized snapshot)'}` : 'none'}`);
      this.log(`- database: ${plan.database} on ${plan.server}${plan.replace ? ' (replacing it)' : ' (new)'}`);
      this.log(`- migrations: ${plan.migrationsBefore.length} before the load, ${plan.migrationsAfter.length} after`);
      this.log(`- tables: ${plan.tables.length} loaded (${formatCount(plan.tables.reduce((n, t) => n + t.rows, 0))} rows)${result.excludedTables.length > 0 ? `, left empty: ${result.excludedTables.join(', ')}` : ''}`);
      this.logToStderr('Dry run: nothing was changed.');
      return result;
    }
    const report = result.restore!;
    const rows = report.tables.reduce((n, t) => n + t.rows, 0);
    notification.report = { snapshotId: result.snapshotId, fromEnvironment: result.from, database: report.database, tables: report.tables.length, rows };
    const hooks = [...result.hooks.beforeRestore, ...result.hooks.afterRestore];
    this.logToStderr(
      `Promoted snapshot ${result.snapshotId} of ${result.from} to ${result.to}: database ${report.database} on ${report.plan.server}, ` +
        `${report.tables.length} tables, ${formatCount(rows)} rows in ${formatDuration(result.durationMs)}` +
        `${result.copy === 'copied' ? `; copied to ${to.storage.location}` : ''}${result.anonymized ? '; anonymized' : ''}` +
        `${hooks.length > 0 ? `; hooks run: ${hooks.length}` : ''}.`,
    );
    this.log(report.database);
    return result;
  }

  /** Asks a yes/no question on the terminal. */
  private async ask(question: string): Promise<boolean> {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return /^y(es)?$/i.test((await rl.question(question)).trim());
    } finally {
      rl.close();
    }
  }
}
