import { throwIfAborted } from '../abort.js';
import { ConfigError, StorageError } from '../errors.js';
import { readManifestText, snapshotPrefix, writeManifest } from '../format/manifest-io.js';
import { REMOVAL_MARKER, describeLease, takeExclusiveLease } from './snapshot-lease.js';
import { describeRecipients, openSnapshot, rewrapSnapshot } from './snapshot-encryption.js';
import { listSnapshots } from './snapshot-catalog.js';
import type { CatalogContext } from './snapshot-types.js';

export interface RekeyOptions {
  /** Snapshot ids, `latest`, or `all` (every listed snapshot of the environment). */
  ids: string[];
}

export interface RekeyedSnapshot {
  id: string;
  /** `rekeyed`, or `skipped` for a snapshot that is not encrypted. */
  status: 'rekeyed' | 'skipped';
  /** Who could open it before, and who can now (fingerprints), e.g. `for sha256:ab… (ops)`. */
  before: string;
  after: string;
}

/**
 * Seals encrypted snapshots to the environment's current recipients or passphrase (`strata
 * rekey`): each snapshot's own key is opened with the environment's keys and wrapped again, and
 * the manifest is rewritten in one atomic write. Data files are not touched, since they are
 * encrypted to the snapshot key, not to the recipients. A retired recipient can no longer open
 * the snapshot with its key, unless its holder kept the snapshot key from an earlier opening.
 * A rekey holds a lease on the folder while it writes: a prune never removes a snapshot under
 * rekey, and a rekey refuses one that a prune is removing.
 */
export async function rekeySnapshots(ctx: CatalogContext, options: RekeyOptions): Promise<RekeyedSnapshot[]> {
  const sealTo = ctx.env.encryption?.sealTo;
  if (!sealTo) {
    throw new ConfigError(`The environment "${ctx.env.name}" has no encryption recipients or passphrase to rekey to.`, {
      code: 'encryption-not-configured',
      hint: `Set environments.${ctx.env.name}.encryption.recipients (age1… keys) or .passphrase in the config.`,
    });
  }
  const ids = options.ids.includes('all')
    ? (await listSnapshots(ctx)).map((s) => s.id)
    : [...new Set(options.ids)];
  const results: RekeyedSnapshot[] = [];
  for (const requested of ids) {
    throwIfAborted(ctx.signal, 'rekey');
    results.push(await rekeyOne(ctx, requested));
  }
  return results;
}

async function rekeyOne(ctx: CatalogContext, requested: string): Promise<RekeyedSnapshot> {
  const { storage, env, config } = ctx;
  const id = requested === 'latest' ? (await listSnapshots(ctx, { limit: 1 }))[0]?.id ?? requested : requested;
  const prefix = snapshotPrefix(config.project, env.name, id);
  const { manifest } = await readManifestText(storage, prefix, id);
  const before = describeRecipients(manifest);
  if (!manifest.encryption) return { id, status: 'skipped', before, after: before };
  // Opened before the lease: a wrong key fails without leaving anything behind.
  const opened = await openSnapshot(manifest, env.encryption, env.name);
  const rewrapped = await rewrapSnapshot(opened, env.encryption!.sealTo!);
  const taken = await takeExclusiveLease(storage, prefix, 'rekey', { ...(ctx.log ? { log: ctx.log } : {}) });
  if (taken.heldBy) {
    throw new StorageError(`Snapshot ${id} is being written by another strata (${describeLease(taken.heldBy)}).`, {
      code: 'snapshot-busy',
      hint: 'Run the rekey again once that has finished.',
    });
  }
  try {
    // A prune marks a folder before it removes the manifest, and looks for leases after: one of
    // the two sees the other, so a rekey never writes a manifest into a folder being removed.
    if (await storage.exists(`${prefix}${REMOVAL_MARKER}`)) {
      throw new StorageError(`Snapshot ${id} is being removed by a prune; it was not rekeyed.`, {
        code: 'snapshot-not-found',
        hint: 'Run `strata list` to see the snapshots that remain.',
      });
    }
    const current = await readManifestText(storage, prefix, id);
    if (JSON.stringify(current.manifest.encryption) !== JSON.stringify(manifest.encryption)) {
      throw new StorageError(`Snapshot ${id} was rekeyed by someone else while this rekey ran; it was left as they wrote it.`, {
        code: 'snapshot-busy',
        hint: 'Run `strata show` to see whom it is encrypted for now, and rekey again if needed.',
      });
    }
    throwIfAborted(ctx.signal, 'rekey');
    await writeManifest(storage, prefix, rewrapped, ctx.signal);
  } finally {
    await taken.lease.release().catch((error: Error) => ctx.log?.('warn', `Could not remove the lease of snapshot ${id}: ${error.message}.`));
  }
  return { id, status: 'rekeyed', before, after: describeRecipients(rewrapped) };
}
