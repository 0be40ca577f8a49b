import pLimit from 'p-limit';
import { decodeTime, isValid } from 'ulid';

import { environmentPrefix, snapshotPrefix } from '../format/manifest-io.js';
import { describeLease, folderOwner, inspectFolder, removeAbandonedFolder } from './snapshot-lease.js';
import type { CatalogContext } from './snapshot-types.js';

/** Folders inspected at once: enough to hide an object store's latency. */
const CONCURRENT_INSPECTIONS = 8;

/**
 * Removes the environment's snapshot folders that a dead writer left: no manifest, and leases
 * whose owners are all provably gone or expired (see `folderOwner`). Run at the start of every
 * snapshot, so a capture or copy killed outright is cleaned up by the next run instead of a prune
 * a day later. Folders without any lease (an older strata's, or a crash before the first write)
 * are left to prune's one-day rule; a folder with a live lease is never touched. Returns the ids
 * removed. Best effort: a folder that cannot be inspected is skipped with a warning.
 */
export async function removeAbandonedSnapshots(ctx: CatalogContext, options: { except?: string } = {}): Promise<string[]> {
  const { config, env, storage } = ctx;
  const names: string[] = [];
  for await (const name of storage.listChildren(environmentPrefix(config.project, env.name))) {
    if (name !== options.except && ulidTime(name) !== undefined) names.push(name);
  }
  const limiter = pLimit(CONCURRENT_INSPECTIONS);
  const removed: string[] = [];
  await Promise.all(
    names.map((id) =>
      limiter(async () => {
        if (ctx.signal?.aborted) return;
        const folder = snapshotPrefix(config.project, env.name, id);
        try {
          const inspection = await inspectFolder(storage, folder);
          if (inspection.manifest || folderOwner(inspection) !== 'abandoned') return;
          if (await removeAbandonedFolder(storage, folder, inspection)) {
            removed.push(id);
            ctx.log?.('info', `Removed the incomplete snapshot folder ${id}, left by ${inspection.leases.map(describeLease).join(' and ')}, which ${ownerGone(inspection.leases)}.`);
          }
        } catch (error) {
          ctx.log?.('warn', `Could not check the snapshot folder ${id} for leftovers: ${(error as Error).message}`);
        }
      }),
    ),
  );
  return removed.sort();
}

/** `is no longer running` / `stopped refreshing its lease`, for the message about removed leftovers. */
export function ownerGone(leases: { state: string }[]): string {
  return leases.every((l) => l.state === 'dead') ? 'is no longer running' : 'stopped refreshing its lease';
}

/** The time encoded in a ULID (a snapshot id), or undefined for a name that is not one. */
export function ulidTime(name: string): number | undefined {
  if (!isValid(name) || name !== name.toUpperCase()) return undefined;
  try {
    return decodeTime(name);
  } catch {
    return undefined;
  }
}
