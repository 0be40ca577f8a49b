import { Args, Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import type { OperationReport } from '../notify/notification.js';
import { formatCount, formatDuration, renderTable, splitListFlag } from '../cli/text-format.js';
import { restore } from '../restore/restore-run.js';
import { checkRestoreRequest } from '../restore/restore-plan.js';
import type { RestorePlan, RestoreReport } from '../restore/restore-types.js';

export default class Restore extends BaseCommand<typeof Restore> {
  static override summary = 'Restore a snapshot into a new database, migrated to the current code.';

  static override description = `Creates a fresh database (default <project>_<env>_<YYYYMMDD>), migrates each module to the point the snapshot was taken at, loads the data, then runs the remaining migrations. The existing database is never touched unless --replace is given with --confirm naming it, or --into names it.

--tables and --modules load only part of the snapshot; the other tables stay as the migrations leave them. A selected table that references a table outside the selection is refused (the message names the missing tables) unless --with-dependencies adds them. With --into, the selected tables of an existing database are emptied and loaded in one transaction, after a safety snapshot of them; the database's module versions must equal the snapshot's.`;

  static override examples = [
    { description: 'Restore the newest snapshot of prod into a new database on the dev server.', command: '<%= config.bin %> <%= command.id %> latest --env prod' },
    { description: 'See what would happen, changing nothing.', command: '<%= config.bin %> <%= command.id %> latest --dry-run' },
    { description: 'Restore into a database of your choosing.', command: '<%= config.bin %> <%= command.id %> 01J5Y8Q4ZKX3M6T2V9B0C1D2E3 --database shop_debug' },
    {
      description: 'Replace the dev database (a safety snapshot of it is taken first).',
      command: '<%= config.bin %> <%= command.id %> latest --replace --confirm shop_dev',
    },
    { description: "Restore a raw prod snapshot into staging, masking personal data on the way in.", command: '<%= config.bin %> <%= command.id %> latest --env staging --anonymize' },
    {
      description: 'Restore two tables into a fresh database; the others stay as the migrations leave them.',
      command: '<%= config.bin %> <%= command.id %> latest --tables customers,orders --database shop_debug',
    },
    {
      description: "Restore a module's tables and every table they reference.",
      command: '<%= config.bin %> <%= command.id %> latest --modules orders --with-dependencies',
    },
    {
      description: 'See which tables of the live dev database would be emptied and loaded, changing nothing.',
      command: '<%= config.bin %> <%= command.id %> latest --tables products --into shop_dev --dry-run',
    },
    {
      description: 'Put back the products table of the dev database from a snapshot (a safety snapshot of it is taken first).',
      command: '<%= config.bin %> <%= command.id %> latest --tables products --into shop_dev',
    },
    {
      description: 'Restore onto another server.',
      command: '<%= config.bin %> <%= command.id %> latest --target-url postgres://user@staging-db:5432/shop_copy',
    },
  ];

  static override args = {
    id: Args.string({ description: 'Snapshot id, or `latest`.', required: true }),
  };

  static override flags = {
    database: Flags.string({ summary: 'Name of the database to create (default <project>_<env>_<YYYYMMDD>).', helpValue: 'NAME' }),
    'target-url': Flags.string({ summary: 'Restore onto another server; the database in this URL is the one created.', helpValue: 'URL' }),
    replace: Flags.boolean({ summary: 'Replace an existing database instead of creating a new one; needs --confirm.', dependsOn: ['confirm'] }),
    confirm: Flags.string({ summary: 'The name of the database --replace replaces, typed out as a safeguard.', helpValue: 'NAME', dependsOn: ['replace'] }),
    'dry-run': Flags.boolean({ summary: 'Print the plan (migrations, tables, target) and change nothing.', default: false }),
    anonymize: Flags.boolean({
      summary: "Mask the rows on their way into the database with the config's anonymize rules (needs @strata/plugin-anonymize).",
      default: false,
    }),
    'exclude-table': Flags.string({
      summary: "A table to leave empty (schema.table), on top of the environment's restore.exclude; repeat for several.",
      helpValue: 'TABLE',
      multiple: true,
      multipleNonGreedy: true,
    }),
    tables: Flags.string({
      summary: 'Load only these tables (table or schema.table), comma-separated or repeated.',
      helpValue: 'TABLES',
      multiple: true,
      multipleNonGreedy: true,
    }),
    modules: Flags.string({
      summary: "Load only the tables these modules' migrations create, comma-separated or repeated.",
      helpValue: 'MODULES',
      multiple: true,
      multipleNonGreedy: true,
    }),
    'with-dependencies': Flags.boolean({
      summary: 'Also load the tables the selected tables reference (transitively), instead of refusing.',
      default: false,
    }),
    into: Flags.string({
      summary:
        'Replace the selected tables in this existing database (a name on the environment\'s server, or on the --target-url server, or a PostgreSQL URL), in one transaction.',
      helpValue: 'DATABASE',
    }),
  };

  async run(): Promise<RestoreReport> {
    const { flags } = this;
    const targetUrl = flags['target-url'];
    this.addSecretsOf(targetUrl);
    this.addSecretsOf(flags.into);
    const selection = {
      ...(flags.tables ? { tables: splitListFlag(flags.tables) } : {}),
      ...(flags.modules ? { modules: splitListFlag(flags.modules) } : {}),
      ...(flags['with-dependencies'] ? { withDependencies: true } : {}),
      ...(flags.into ? { into: flags.into } : {}),
    };
    const target = {
      database: flags.database,
      targetUrl,
      replace: flags.replace,
      confirm: flags.confirm,
    };
    const loaded = await this.loadEnvironment();
    // Checked before storage is opened and before anyone is notified, so a mistyped --confirm
    // or a wrong combination of flags costs nothing. restore() asks the same again for library callers.
    checkRestoreRequest({ ...loaded, ...target, ...selection });
    // A plan changes nothing, succeeded or not: nobody needs to hear of it.
    const notification = { operation: 'restore' as const, ...loaded, report: undefined as OperationReport | undefined };
    if (!flags['dry-run']) this.notification = notification;

    const transformer = flags.anonymize ? await this.resolveAnonymizer(loaded.config, loaded.env) : undefined;
    const ctx = await this.loadContext(loaded);
    const report = await restore({
      ...ctx,
      id: this.args.id,
      ...target,
      ...selection,
      dryRun: flags['dry-run'],
      ...(transformer ? { transformer } : {}),
      ...(flags['exclude-table'] ? { excludeTables: flags['exclude-table'] } : {}),
    });

    if (report.dryRun) {
      this.renderPlan(report.plan);
    } else {
      notification.report = {
        snapshotId: report.plan.snapshotId,
        database: report.database,
        tables: report.tables.length,
        rows: report.tables.reduce((n, t) => n + t.rows, 0),
      };
      this.renderReport(report);
    }
    return report;
  }

  private renderPlan(plan: RestorePlan): void {
    if (plan.into) {
      this.renderIntoPlan(plan, plan.into);
      return;
    }
    const rows = plan.tables.reduce((n, t) => n + t.rows, 0);
    this.log(`Plan: restore snapshot ${plan.snapshotId} into database ${plan.database} on ${plan.server}.`);
    this.log(`Target: ${targetLine(plan)}`);
    if (plan.transformer) this.log(`Rows are transformed by ${plan.transformer} on their way in.`);
    this.log(`1. Migrations before the load (${plan.migrationsBefore.length}):${list(plan.migrationsBefore)}`);
    this.log(`2. Tables to load (${plan.tables.length}, ${formatCount(rows)} rows):`);
    if (plan.tables.length > 0) {
      this.log(indent(renderTable([{ header: 'TABLE' }, { header: 'ROWS', align: 'right' }], plan.tables.map((t) => [t.table, formatCount(t.rows)]))));
    }
    if (plan.addedDependencies) this.log(`   ${addedLine(plan.addedDependencies)}`);
    if (plan.skipped.length > 0) this.log(`   Skipped:${list(plan.skipped.map((s) => `${s.table}: ${s.reason}`))}`);
    this.log(`3. Migrations after the load (${plan.migrationsAfter.length}):${list(plan.migrationsAfter)}`);
    if (plan.addedDependencies) this.log('Tables not selected are left as the migrations make them.');
    this.logToStderr('Dry run: nothing was changed.');
  }

  /** The plan of `--into`: what each table holds now, and what it will hold. */
  private renderIntoPlan(plan: RestorePlan, into: NonNullable<RestorePlan['into']>): void {
    const now = new Map(into.emptied.map((t) => [t.table, t.rows]));
    const rows = plan.tables.reduce((n, t) => n + t.rows, 0);
    this.log(`Plan: replace ${plan.tables.length} table${plan.tables.length === 1 ? '' : 's'} of database ${into.database} on ${plan.server} with snapshot ${plan.snapshotId}, in one transaction.`);
    this.log(`Target: ${targetLine(plan)}`);
    this.log(
      renderTable(
        [{ header: 'TABLE' }, { header: 'ROWS NOW', align: 'right' }, { header: 'ROWS LOADED', align: 'right' }],
        plan.tables.map((t) => [t.table, now.has(t.table) ? formatCount(now.get(t.table)!) : '-', formatCount(t.rows)]),
      ),
    );
    const emptied = into.emptied.reduce((n, t) => n + t.rows, 0);
    this.log(`${formatCount(emptied)} rows would be deleted and ${formatCount(rows)} loaded; a safety snapshot of these tables is taken first.`);
    if (plan.addedDependencies) this.log(addedLine(plan.addedDependencies));
    // Every other table of the snapshot is "skipped" here: a count says enough.
    if (plan.skipped.length > 0) this.log(`The snapshot's ${plan.skipped.length} other table${plan.skipped.length === 1 ? ' is' : 's are'} not touched.`);
    this.logToStderr('Dry run: nothing was changed.');
  }

  private renderReport(report: RestoreReport): void {
    const { plan } = report;
    const rows = report.tables.reduce((n, t) => n + t.rows, 0);
    if (report.tables.length > 0) {
      this.log(
        renderTable(
          [{ header: 'TABLE' }, { header: 'ROWS', align: 'right' }, { header: 'TIME', align: 'right' }],
          report.tables.map((t) => [t.table, formatCount(t.rows), formatDuration(t.durationMs)]),
        ),
      );
      this.log('');
    }
    const { indexes, constraints, foreignKeys } = report.rebuilt;
    if (!plan.into) {
      this.log(`Migrations: ${plan.migrationsBefore.length} before the load, ${plan.migrationsAfter.length} after it.`);
      this.log(
        `Rebuilt after the load: ${indexes} indexes, ${constraints} constraints, ${foreignKeys} foreign keys; ${report.sequencesReset} sequences reset.`,
      );
    }
    if (plan.addedDependencies && plan.addedDependencies.length > 0) this.log(addedLine(plan.addedDependencies));
    if (report.replacedDatabaseRenamedTo) this.log(`The replaced database was kept as ${report.replacedDatabaseRenamedTo}.`);
    if (report.safetySnapshotId) this.log(`Safety snapshot of the replaced ${plan.into ? 'tables' : 'database'}: ${report.safetySnapshotId}.`);
    this.log(
      `Restored snapshot ${plan.snapshotId} into database ${report.database} on ${plan.server}: ${report.tables.length} tables, ` +
        `${formatCount(rows)} rows in ${formatDuration(report.durationMs)}.`,
    );
  }
}

/** What the restore does to its target, in the words of the plan's `targetKind`. */
function targetLine(plan: RestorePlan): string {
  switch (plan.targetKind) {
    case 'fresh':
      return `fresh — a new database ${plan.database} is built under a temporary name and takes its name only when complete; no existing database is touched.`;
    case 'replace':
      return `replace — the existing database ${plan.database} is swapped for the restored one when it is complete; a safety snapshot of it is taken first and the old database is kept aside.`;
    case 'into':
      return `into — the existing database ${plan.database} keeps everything but the tables listed, which are emptied and loaded in one transaction after a safety snapshot of them.`;
  }
}

function addedLine(added: string[]): string {
  return added.length === 0
    ? 'No table added: the selection references no table outside it.'
    : `Added because selected tables reference them: ${added.join(', ')}.`;
}

function list(items: string[]): string {
  return items.length === 0 ? ' none' : `\n${items.map((i) => `   ${i}`).join('\n')}`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `   ${l}`)
    .join('\n');
}
