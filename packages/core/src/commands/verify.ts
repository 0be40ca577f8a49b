import { Args } from '@oclif/core';

import { BaseCommand } from '../base-command.js';
import { formatBytes, formatCount, renderTable } from '../cli/text-format.js';
import { IntegrityError } from '../errors.js';
import { verifySnapshot } from '../snapshot/snapshot-catalog.js';
import type { VerifyResult } from '../snapshot/snapshot-types.js';

/**
 * What verify cannot tell from the files alone, said in its output so nobody takes a passing
 * verify for a restore that will pass.
 */
const NOT_CHECKED = ['column types', 'constraints'] as const;
const NOT_CHECKED_NOTE = 'Not checked: values against their column types, and constraints (keys, foreign keys, checks); only a restore checks those.';

export default class Verify extends BaseCommand<typeof Verify> {
  static override summary = "Re-read a snapshot's data files and check size, sha256, row count and COPY text against the manifest.";

  static override description =
    'The COPY text is checked as a restore takes it: valid UTF-8, no NUL byte, no end-of-data marker, complete rows, one field per column. Values are not checked against their column types, nor rows against constraints: only a restore does that. Exits with code 5 when any table fails the check.';

  static override examples = [
    { description: 'Check the newest snapshot of prod.', command: '<%= config.bin %> <%= command.id %> latest --env prod' },
    { description: 'Check one snapshot in a script.', command: '<%= config.bin %> <%= command.id %> 01J5Y8Q4ZKX3M6T2V9B0C1D2E3 --json' },
  ];

  static override args = {
    id: Args.string({ description: 'Snapshot id, or `latest`.', required: true }),
  };

  async run(): Promise<VerifyResult & { notChecked: readonly string[] }> {
    const ctx = await this.loadContext();
    const result = await verifySnapshot(ctx, this.args.id);
    this.log(
      renderTable(
        [{ header: 'TABLE' }, { header: 'STATUS' }, { header: 'ROWS', align: 'right' }, { header: 'SIZE', align: 'right' }, { header: 'PROBLEM' }],
        result.tables.map((t) => [t.table, t.status, formatCount(t.rows), formatBytes(t.bytes), t.error ?? '']),
      ),
    );
    this.logToStderr(NOT_CHECKED_NOTE);
    if (result.checked === 'ciphertext') {
      this.logToStderr('Encrypted, and no key was given: only sizes and the stored (ciphertext) checksums were checked. Set STRATA_AGE_KEY (or encryption.identities) to check rows and plaintext checksums too.');
    }
    const failed = result.tables.filter((t) => t.status === 'failed');
    if (!result.ok || failed.length > 0) {
      // Rendered above (or merged into the JSON by the base command), then a non-zero exit.
      this.partialResult = { ...result, notChecked: NOT_CHECKED };
      throw new IntegrityError(
        `${failed.length} of ${result.tables.length} tables of snapshot ${result.id} failed verification${failed[0] ? ` (first: ${failed[0].table})` : ''}.`,
        {
          code: 'snapshot-corrupt',
          hint: 'Do not restore this snapshot; take a new one, or restore an older snapshot that verifies.',
        },
      );
    }
    this.logToStderr(`Snapshot ${result.id}: all ${result.tables.length} tables verified.`);
    return { ...result, notChecked: NOT_CHECKED };
  }
}
