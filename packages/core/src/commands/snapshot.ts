import { Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { parseDuration } from '../cli/duration.js';
import { ConfigError } from '../errors.js';
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
    { description: 'A nightly backup that rides out a short outage (retries after 60 s, 120 s, 240 s).', command: '<%= config.bin %> <%= command.id %> --env prod --retries 3 --retry-delay 60s' },
    { description: 'A snapshot of prod that is safe to hand to developers.', command: '<%= config.bin %> <%= command.id %> --env prod --anonymize --tag anonymized' },
  ];

  static override flags = {
    description: Flags.string({ summary: 'A note stored with the snapshot.', helpValue: 'TEXT' }),
    tag: Flags.string({ summary: 'A tag stored with the snapshot; repeat for several.', helpValue: 'TAG', multiple: true, multipleNonGreedy: true }),
    anonymize: Flags.boolean({
      summary: "Mask personal data while rows stream, with the config's anonymize rules (needs @strata/plugin-anonymize); the manifest records it.",
      default: false,
    }),
    retries: Flags.integer({
      summary: 'Try a failed capture again up to N times (server or storage unreachable); each failed attempt is cleaned up, and notify hears once, after the last.',
      min: 0,
      default: 0,
      helpValue: 'N',
    }),
    'retry-delay': Flags.string({
      summary: 'Wait before the first retry, doubled for each next one (60s, 120s, 240s…).',
      default: '60s',
      helpValue: 'DURATION',
    }),
  };

  async run(): Promise<SnapshotResult> {
    const retryDelayMs = parseDuration(this.flags['retry-delay']);
    if (retryDelayMs === undefined) {
      throw new ConfigError(`--retry-delay ${this.flags['retry-delay']} is not a duration.`, {
        code: 'invalid-arguments',
        hint: 'Give a number with s, m or h, e.g. --retry-delay 60s.',
      });
    }
    const loaded = await this.loadEnvironment();
    this.notification = { operation: 'snapshot', ...loaded };
    const transformer = this.flags.anonymize ? await this.resolveAnonymizer(loaded.config, loaded.env) : undefined;
    const ctx = await this.loadContext(loaded);
    const result = await snapshot({
      ...ctx,
      description: this.flags.description,
      tags: this.flags.tag ?? [],
      retries: this.flags.retries,
      retryDelayMs,
      ...(transformer ? { transformer } : {}),
    });
    const rows = result.manifest.tables.reduce((n, t) => n + t.rows, 0);
    const bytes = result.manifest.tables.reduce((n, t) => n + t.bytes, 0);
    this.notification.report = { snapshotId: result.id, database: result.manifest.source.database, tables: result.manifest.tables.length, rows, bytes };
    this.logToStderr(
      `Snapshot of ${result.manifest.source.database} (${ctx.env.name}): ${result.manifest.tables.length} tables, ${formatCount(rows)} rows, ` +
        `${formatBytes(bytes)} in ${formatDuration(result.durationMs)} at ${result.location}${transformer ? ` (anonymized by ${transformer.name})` : ''}`,
    );
    this.log(result.id);
    return result;
  }
}
