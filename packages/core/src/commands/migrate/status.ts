import { BaseCommand } from '../../base-command.js';
import { renderTable } from '../../cli/text-format.js';
import { driverFor } from '../../db/drivers.js';
import { migrationStatus } from '../../migrations/migration-runner.js';
import type { ModuleMigrationStatus } from '../../migrations/migration-types.js';

export default class MigrateStatus extends BaseCommand<typeof MigrateStatus> {
  static override summary = "Show each module's applied and pending migrations in the environment's database.";

  static override examples = [
    { description: 'Status of the dev database.', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Status of staging, as JSON.', command: '<%= config.bin %> <%= command.id %> --env staging --json' },
  ];

  async run(): Promise<ModuleMigrationStatus[]> {
    const { config, env } = await this.loadEnvironment();
    const driver = driverFor(env.databaseUrl);
    const statuses = await driver.withKnex(env.databaseUrl, (knex) => migrationStatus(knex, config));

    const { server, database } = driver.describe(env.databaseUrl);
    this.logToStderr(`Environment ${env.name}: database ${database} on ${server}`);
    this.log(
      renderTable(
        [{ header: 'MODULE' }, { header: 'APPLIED', align: 'right' }, { header: 'PENDING', align: 'right' }, { header: 'LAST APPLIED' }],
        statuses.map((s) => [s.module, String(s.applied.length), String(s.pending.length), s.last ?? '-']),
      ),
    );
    for (const s of statuses) {
      if (s.missing.length > 0) {
        this.note('warn', `Module ${s.module} has ${s.missing.length} applied migration(s) that the code base lacks: ${s.missing.join(', ')}.`);
      }
    }
    const pending = statuses.reduce((n, s) => n + s.pending.length, 0);
    if (pending > 0) this.logToStderr(`${pending} pending; run \`${this.config.bin} migrate up\` to apply them.`);
    return statuses;
  }
}
