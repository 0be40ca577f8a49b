import { Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { formatBytes, formatCount, formatTimestamp, renderTable } from '../cli/text-format.js';
import { listSnapshots } from '../snapshot/snapshot-catalog.js';
import type { SnapshotSummary } from '../snapshot/snapshot-types.js';

export default class List extends BaseCommand<typeof List> {
  static override summary = "List the environment's snapshots, newest first.";

  static override examples = [
    { description: 'Snapshots of dev.', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Snapshots of prod, as JSON.', command: '<%= config.bin %> <%= command.id %> --env prod --json' },
    { description: 'The ten newest snapshots of prod.', command: '<%= config.bin %> <%= command.id %> --env prod --limit 10' },
  ];

  static override flags = {
    limit: Flags.integer({
      summary: 'Show only the newest N snapshots (reads only their manifests: fast on a long history).',
      min: 1,
      helpValue: 'N',
    }),
  };

  async run(): Promise<SnapshotSummary[]> {
    const ctx = await this.loadContext();
    const snapshots = await listSnapshots(ctx, this.flags.limit === undefined ? {} : { limit: this.flags.limit });
    if (snapshots.length === 0) {
      this.logToStderr(`No snapshots of ${ctx.config.project}/${ctx.env.name} in ${ctx.storage.location}. Take one with \`${this.config.bin} snapshot\`.`);
      return snapshots;
    }
    this.log(
      renderTable(
        [
          { header: 'ID' },
          { header: 'CREATED (UTC)' },
          { header: 'TABLES', align: 'right' },
          { header: 'ROWS', align: 'right' },
          { header: 'SIZE', align: 'right' },
          { header: 'DESCRIPTION' },
        ],
        snapshots.map((s) => [
          s.id,
          formatTimestamp(s.createdAt),
          String(s.tables),
          formatCount(s.rows),
          formatBytes(s.bytes),
          [s.encryptedFor ? `(encrypted: ${s.encryptedFor.join(', ')})` : '', s.description ?? '', s.tags.length > 0 ? `[${s.tags.join(', ')}]` : ''].filter(Boolean).join(' '),
        ]),
      ),
    );
    return snapshots;
  }
}
