import { Args, Flags } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { formatBytes, formatDuration } from '../cli/text-format.js';
import { copySnapshot, type CopySnapshotResult } from '../snapshot/snapshot-copy.js';

export default class Copy extends BaseCommand<typeof Copy> {
  static override summary = "Copy a snapshot from one environment's storage to another's.";

  static override description = `Streams every data file from the source storage to the target storage, checking each file's size and sha256 against the manifest on the way, and writes the manifest last: the copy lists in the target environment only once it is complete. Each environment uses its own storage settings and credentials (two buckets, or S3 and file://). Copying a snapshot that is already there is a no-op; an interrupted copy leaves nothing that lists.`;

  static override examples = [
    { description: "Copy prod's newest snapshot into staging's storage.", command: '<%= config.bin %> <%= command.id %> latest --from-env prod --to-env staging' },
    { description: 'Copy one snapshot, as JSON.', command: '<%= config.bin %> <%= command.id %> 01J5Y8Q4ZKX3M6T2V9B0C1D2E3 --from-env prod --to-env dev --json' },
  ];

  static override args = {
    id: Args.string({ description: 'Snapshot id in the source environment, or `latest`.', required: true }),
  };

  static override flags = {
    'from-env': Flags.string({ summary: 'Environment whose storage holds the snapshot.', helpValue: 'NAME', required: true }),
    'to-env': Flags.string({ summary: 'Environment whose storage receives the copy.', helpValue: 'NAME', required: true }),
    reencrypt: Flags.boolean({
      summary: "Seal the copy for the target environment's encryption recipients (or passphrase).",
      description: "Opens the snapshot's key with the source environment's keys (STRATA_AGE_KEY, encryption.identities, …) and wraps it for the target's encryption.recipients: whoever holds a target key can open the copy. Data files are copied as they are; only the manifest differs.",
    }),
  };

  async run(): Promise<CopySnapshotResult> {
    const source = await this.loadEnvironment(this.flags['from-env']);
    const target = { config: source.config, env: this.pickEnvironment(source.config, this.flags['to-env']) };
    const from = await this.loadContext(source);
    const to = await this.loadContext(target);
    const result = await copySnapshot({ from, to, id: this.args.id, ...(this.flags.reencrypt ? { reencrypt: true } : {}) });
    this.logToStderr(
      result.status === 'already-present'
        ? `Snapshot ${result.id} is already in ${result.to.environment} (${result.to.location}); nothing copied.`
        : `Copied snapshot ${result.id} from ${result.from.environment} to ${result.to.environment}: ${result.tables} tables, ` +
            `${formatBytes(result.bytes)} in ${formatDuration(result.durationMs)}, checksums verified.`,
    );
    this.log(result.id);
    return result;
  }
}
