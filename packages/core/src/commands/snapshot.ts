import { Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { formatBytes, formatCount, formatDuration } from '../cli/text-format.js';
import { snapshot } from '../snapshot/snapshot-capture.js';
import type { SnapshotResult } from '../snapshot/snapshot-types.js';

export default class Snapshot extends BaseCommand<typeof Snapshot> {
  static override summary = "Capture the environment's database into a new snapshot.";

  static override description = `Reads every table and each module's migration state in one consistent transaction and streams them to the environment's storage. Prints the new snapshot's id on stdout.`;

  static override examples = [
    { description: 'Snapshot dev.', command: '<%= config.bin %> <%= command.id %>' },
    {
      description: 'Snapshot prod with a description and tags.',
      command: '<%= config.bin %> <%= command.id %> --env prod --description "before the 2.0 release" --tag release --tag v2',
    },
    { description: 'Keep the id for a later restore.', command: 'ID=$(<%= config.bin %> <%= command.id %> --env prod)' },
  ];

  static override flags = {
    description: Flags.string({ summary: 'A note stored with the snapshot.', helpValue: 'TEXT' }),
    tag: Flags.string({ summary: 'A tag stored with the snapshot; repeat for several.', helpValue: 'TAG', multiple: true, multipleNonGreedy: true }),
  };

  async run(): Promise<SnapshotResult> {
    const ctx = await this.loadContext();
    const result = await snapshot({ ...ctx, description: this.flags.description, tags: this.flags.tag ?? [] });
    const rows = result.manifest.tables.reduce((n, t) => n + t.rows, 0);
    const bytes = result.manifest.tables.reduce((n, t) => n + t.bytes, 0);
    this.logToStderr(
      `Snapshot of ${result.manifest.source.database} (${ctx.env.name}): ${result.manifest.tables.length} tables, ${formatCount(rows)} rows, ` +
        `${formatBytes(bytes)} in ${formatDuration(result.durationMs)} at ${result.location}`,
    );
    this.log(result.id);
    return result;
  }
}
