import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { projectNameFrom, renderInitConfig } from '../cli/init-template.js';
import { CONFIG_FILE_NAMES } from '../config/config-loader.js';
import { ConfigError } from '../errors.js';

/** What `strata init --json` prints. */
export interface InitResult {
  configPath: string;
  project: string;
  /** Folders created for the example module's migrations (empty when they existed). */
  created: string[];
}

export default class Init extends BaseCommand<typeof Init> {
  static override summary = 'Write a commented starter strata.config.ts in the current directory.';

  static override description = `The project name comes from the directory name. The starter config has one example module (migrations in ./migrations/example, created if missing) and a dev environment whose database is $DATABASE_URL when set, else postgres://localhost/<project>_dev, with snapshots in ./.strata/snapshots.`;

  static override examples = [
    { description: 'Start a config in the current project.', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Replace an existing config.', command: '<%= config.bin %> <%= command.id %> --force' },
  ];

  static override flags = {
    force: Flags.boolean({ summary: 'Overwrite an existing strata config.', default: false }),
  };

  async run(): Promise<InitResult> {
    const cwd = process.cwd();
    const existing = CONFIG_FILE_NAMES.map((name) => path.join(cwd, name)).find((file) => existsSync(file));
    if (existing && !this.flags.force) {
      throw new ConfigError(`A strata config already exists: ${existing}.`, {
        code: 'config-exists',
        hint: 'Edit it, or run `strata init --force` to replace it with the starter config.',
      });
    }
    const project = projectNameFrom(path.basename(cwd));
    const configPath = path.join(cwd, 'strata.config.ts');
    await writeFile(configPath, renderInitConfig(project));
    const migrations = path.join(cwd, 'migrations', 'example');
    const created: string[] = [];
    if (!existsSync(migrations)) {
      await mkdir(migrations, { recursive: true });
      created.push(migrations);
    }

    this.log(`Wrote ${path.relative(cwd, configPath)} for project "${project}".`);
    for (const dir of created) this.log(`Created ${path.relative(cwd, dir)}/ for the example module's migrations.`);
    if (existing && path.resolve(existing) !== configPath) {
      this.log(`Note: ${path.basename(existing)} is still there but strata now reads strata.config.ts; remove the old one.`);
    }
    this.log('Next: edit the modules and environments, then run `strata migrate status`.');
    return { configPath, project, created };
  }
}
