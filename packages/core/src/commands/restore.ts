import { Args, Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import type { OperationReport } from '../notify/notification.js';
import { formatCount, formatDuration, renderTable } from '../cli/text-format.js';
import { restore } from '../restore/restore-run.js';
import { resolveRestoreTarget } from '../restore/restore-target.js';
import type { RestorePlan, RestoreReport } from '../restore/restore-types.js';

export default class Restore extends BaseCommand<typeof Restore> {
  static override summary = 'Restore a snapshot into a new database, migrated to the current code.';

  static override description = `Creates a fresh database (default <project>_<env>_<YYYYMMDD>), migrates each module to the point the snapshot was taken at, loads the data, then runs the remaining migrations. The existing database is never touched unless --replace is given with --confirm naming it.`;

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
  };

  async run(): Promise<RestoreReport> {
    const { flags } = this;
    const targetUrl = flags['target-url'];
    this.addSecretsOf(targetUrl);
    const loaded = await this.loadEnvironment();
    // A plan changes nothing, succeeded or not: nobody needs to hear of it.
    const notification = { operation: 'restore' as const, ...loaded, report: undefined as OperationReport | undefined };
    if (!flags['dry-run']) this.notification = notification;
    const target = {
      database: flags.database,
      targetUrl,
      replace: flags.replace,
      confirm: flags.confirm,
    };
    // Checked before storage is opened, so a mistyped --confirm costs nothing.
    resolveRestoreTarget({ project: loaded.config.project, envName: loaded.env.name, envDatabaseUrl: loaded.env.databaseUrl, ...target });

    const transformer = flags.anonymize ? await this.resolveAnonymizer(loaded.config, loaded.env) : undefined;
    const ctx = await this.loadContext(loaded);
    const report = await restore({
      ...ctx,
      id: this.args.id,
      ...target,
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
    const rows = plan.tables.reduce((n, t) => n + t.rows, 0);
    this.log(`Plan: restore snapshot ${plan.snapshotId} into database ${plan.database} on ${plan.server}.`);
    if (plan.replace) this.log(`The existing database ${plan.replace.database} will be replaced (a safety snapshot of it is taken first).`);
    if (plan.transformer) this.log(`Rows are transformed by ${plan.transformer} on their way in.`);
    this.log(`1. Migrations before the load (${plan.migrationsBefore.length}):${list(plan.migrationsBefore)}`);
    this.log(`2. Tables to load (${plan.tables.length}, ${formatCount(rows)} rows):`);
    if (plan.tables.length > 0) {
      this.log(indent(renderTable([{ header: 'TABLE' }, { header: 'ROWS', align: 'right' }], plan.tables.map((t) => [t.table, formatCount(t.rows)]))));
    }
    if (plan.skipped.length > 0) this.log(`   Skipped:${list(plan.skipped.map((s) => `${s.table}: ${s.reason}`))}`);
    this.log(`3. Migrations after the load (${plan.migrationsAfter.length}):${list(plan.migrationsAfter)}`);
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
    this.log(`Migrations: ${plan.migrationsBefore.length} before the load, ${plan.migrationsAfter.length} after it.`);
    this.log(
      `Rebuilt after the load: ${indexes} indexes, ${constraints} constraints, ${foreignKeys} foreign keys; ${report.sequencesReset} sequences reset.`,
    );
    if (report.replacedDatabaseRenamedTo) this.log(`The replaced database was kept as ${report.replacedDatabaseRenamedTo}.`);
    if (report.safetySnapshotId) this.log(`Safety snapshot of the replaced database: ${report.safetySnapshotId}.`);
    this.log(
      `Restored snapshot ${plan.snapshotId} into database ${report.database} on ${plan.server}: ${report.tables.length} tables, ` +
        `${formatCount(rows)} rows in ${formatDuration(report.durationMs)}.`,
    );
  }
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
