import { Args } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { renderTable } from '../cli/text-format.js';
import { rekeySnapshots, type RekeyedSnapshot } from '../snapshot/snapshot-rekey.js';

export default class Rekey extends BaseCommand<typeof Rekey> {
  static override summary = "Seal encrypted snapshots to the environment's current recipients or passphrase.";

  static override description = `Opens each snapshot's own key with the environment's keys (STRATA_AGE_KEY, STRATA_AGE_KEY_FILE, STRATA_AGE_PASSPHRASE or encryption.identities/passphrase) and wraps it again for encryption.recipients (or encryption.passphrase), rewriting only the manifest, in one atomic write: data files are encrypted to the snapshot's key and stay as they are. A retired key can no longer open a rekeyed snapshot, unless whoever held it kept the snapshot key from an earlier opening; to rule that out, take a new snapshot. Snapshots that are not encrypted are skipped.`;

  static override examples = [
    { description: "After adding a recipient to prod's config, rekey every snapshot of prod.", command: 'STRATA_AGE_KEY_FILE=~/.config/strata/prod.key <%= config.bin %> <%= command.id %> all --env prod' },
    { description: 'Rekey one snapshot, as JSON.', command: '<%= config.bin %> <%= command.id %> 01J5Y8Q4ZKX3M6T2V9B0C1D2E3 --env prod --json' },
  ];

  static override args = {
    id: Args.string({ description: 'Snapshot id, `latest`, or `all`.', required: true }),
  };

  async run(): Promise<{ snapshots: RekeyedSnapshot[] }> {
    const ctx = await this.loadContext();
    const snapshots = await rekeySnapshots(ctx, { ids: [this.args.id] });
    this.log(
      renderTable(
        [{ header: 'SNAPSHOT' }, { header: 'STATUS' }, { header: 'BEFORE' }, { header: 'NOW' }],
        snapshots.map((s) => [s.id, s.status === 'skipped' ? 'not encrypted' : s.status, s.before, s.after]),
      ),
    );
    const done = snapshots.filter((s) => s.status === 'rekeyed').length;
    this.logToStderr(`Rekeyed ${done} of ${snapshots.length} snapshot${snapshots.length === 1 ? '' : 's'}.`);
    return { snapshots };
  }
}
