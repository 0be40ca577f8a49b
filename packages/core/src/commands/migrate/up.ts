import { Flags } from '@oclif/core';

import { BaseCommand } from '../../base-command.js';
import { driverFor } from '../../db/drivers.js';
import { migrateUp } from '../../migrations/migration-runner.js';
import type { MigrationRef } from '../../migrations/migration-types.js';

export default class MigrateUp extends BaseCommand<typeof MigrateUp> {
  static override summary = 'Apply pending migrations of every module, interleaved in timestamp order.';

  static override description = `Each migration runs through knex with its module's history table, exactly as the app's own knex would run it. With --to, stops after that migration.`;

  static override examples = [
    { description: 'Apply everything pending in dev.', command: '<%= config.bin %> <%= command.id %>' },
    {
      description: 'Apply up to and including one migration.',
      command: '<%= config.bin %> <%= command.id %> --to orders:20240105090000_add_status',
    },
  ];

  static override flags = {
    to: Flags.string({ summary: 'Stop after this migration (`module:name`, name with or without extension).', helpValue: 'MODULE:NAME' }),
  };

  async run(): Promise<MigrationRef[]> {
    const { config, env } = await this.loadEnvironment();
    const driver = driverFor(env.databaseUrl);
    const { server, database } = driver.describe(env.databaseUrl);
    this.logToStderr(`Environment ${env.name}: database ${database} on ${server}`);
    const applied = await driver.withKnex(env.databaseUrl, (knex) =>
      migrateUp(knex, config, {
        ...(this.flags.to === undefined ? {} : { to: this.flags.to }),
        onMigration: (ref) => this.log(`applied ${ref.module}:${ref.name}`),
      }),
    );
    this.logToStderr(applied.length === 0 ? 'Nothing to apply: every module is up to date.' : `Applied ${applied.length} migration(s).`);
    return applied;
  }
}
