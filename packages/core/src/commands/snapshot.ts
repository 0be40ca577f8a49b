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
    { description: 'A snapshot of prod that is safe to hand to developers.', command: '<%= config.bin %> <%= command.id %> --env prod --anonymize --tag anonymized' },
  ];

  static override flags = {
    description: Flags.string({ summary: 'A note stored with the snapshot.', helpValue: 'TEXT' }),
    tag: Flags.string({ summary: 'A tag stored with the snapshot; repeat for several.', helpValue: 'TAG', multiple: true, multipleNonGreedy: true }),
    anonymize: Flags.boolean({
      summary: "Mask personal data while rows stream, with the config's anonymize rules (needs @strata/plugin-anonymize); the manifest records it.",
      default: false,
    }),
  };

  async run(): Promise<SnapshotResult> {
    const loaded = await this.loadEnvironment();
    const transformer = this.flags.anonymize ? await this.resolveAnonymizer(loaded.config, loaded.env) : undefined;
    const ctx = await this.loadContext(loaded);
    const result = await snapshot({ ...ctx, description: this.flags.description, tags: this.flags.tag ?? [], ...(transformer ? { transformer } : {}) });
    const rows = result.manifest.tables.reduce((n, t) => n + t.rows, 0);
    const bytes = result.manifest.tables.reduce((n, t) => n + t.bytes, 0);
    this.logToStderr(
      `Snapshot of ${result.manifest.source.database} (${ctx.env.name}): ${result.manifest.tables.length} tables, ${formatCount(rows)} rows, ` +
        `${formatBytes(bytes)} in ${formatDuration(result.durationMs)} at ${result.location}${transformer ? ` (anonymized by ${transformer.name})` : ''}`,
    );
    this.log(result.id);
    return result;
  }
}
