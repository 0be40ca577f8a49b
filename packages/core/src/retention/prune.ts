import { Readable } from 'node:stream';
import pLimit from 'p-limit';

import { AbortedError, ConfigError } from '../errors.js';
import { faultPoint } from '../fault-point.js';
import { environmentPrefix, readManifest, snapshotPrefix } from '../format/manifest-io.js';
import { MANIFEST_FILE } from '../format/manifest-schema.js';
import { listSnapshots } from '../snapshot/snapshot-catalog.js';
import { ulidTime } from '../snapshot/snapshot-leftovers.js';
import { describeLease, folderOwner, inspectFolder, REMOVAL_MARKER, removeAbandonedFolder, type FolderInspection } from '../snapshot/snapshot-lease.js';
import type { CatalogContext } from '../snapshot/snapshot-types.js';
import { planRetention } from './retention-plan.js';
import { policyFromConfig, RETENTION_RULES, ruleFlag, validatePolicy, type RetentionPolicy } from './retention-policy.js';

/** A folder without a manifest and without a lease is removed once its id is older than this. */
export const INCOMPLETE_AFTER_MS = 24 * 3_600_000;

/** Snapshots removed at once: enough to hide an object store's latency. */
const CONCURRENT_REMOVALS = 8;

export interface PruneOptions {
  /** The rules; when absent, the environment's `retention` from the config. */
  policy?: RetentionPolicy;
  /** Plan and report only; nothing is removed. */
  dryRun?: boolean;
  /**
   * The time the policy is applied at (default: the current time). Leases are always judged by
   * the real clock: no `now` makes a running capture's folder look abandoned.
   */
  now?: Date;
}

export interface PruneResult {
  /** The policy applied (from the options or from the config). */
  policy: RetentionPolicy;
  /** Snapshots kept, newest first, with every rule that keeps each. */
  kept: { id: string; createdAt: string; reasons: string[] }[];
  /** Snapshots removed (or, in a dry run, that would be), newest first. */
  removed: { id: string; createdAt: string }[];
  /**
   * Ids of folders without a manifest removed (or that would be): those whose writer is provably
   * gone or let its lease expire, and those without any lease whose id is more than a day old.
   */
  incompleteRemoved: string[];
  /** Folders whose manifest is damaged (unreadable or invalid), removed (or that would be), with why. */
  damagedRemoved: { id: string; reason: string }[];
  dryRun: boolean;
}

/**
 * Applies a retention policy to the environment's snapshots (see `planRetention` for the rules).
 * Every valid snapshot is listed and planned; each one removed loses its manifest first, so a
 * prune that stops half-way leaves no half-deleted snapshot that lists as valid, then the rest of
 * its folder.
 *
 * Folders that are not valid snapshots:
 * - without a manifest, with a live lease (a capture or copy under way, however old its id): kept;
 * - without a manifest, whose leases are all dead or expired (a writer killed outright): removed;
 * - without a manifest and without a lease (an older strata's, or a crash before the first
 *   write): removed once their id, a ULID, is more than a day before `now`;
 * - with a damaged manifest (not JSON, or not a valid manifest): removed, unless a live lease is
 *   there; `--dry-run` names them first. A manifest of a format this strata cannot read (a newer
 *   major) is someone else's valid snapshot and is left alone, and so is a folder whose name is
 *   not a ULID (with a warning).
 *
 * Refuses (`retention-policy-empty`, a `ConfigError`) when neither the options nor the
 * environment's config give a rule, before anything is read from the storage.
 */
export async function prune(ctx: CatalogContext, options: PruneOptions = {}): Promise<PruneResult> {
  const policy = resolvePolicy(ctx, options.policy);
  const now = options.now ?? new Date();
  const dryRun = options.dryRun ?? false;
  const { config, env, storage } = ctx;

  // Damaged manifests are reported below, with what prune does about them, instead of as
  // "Skipping snapshot" warnings.
  const snapshots = await listSnapshots({ ...ctx, log: (level, message) => (message.startsWith('Skipping snapshot ') ? undefined : ctx.log?.(level, message)) });
  const plan = planRetention(snapshots, policy, now);
  const byId = new Map(snapshots.map((s) => [s.id, s]));
  const kept = plan.keep.map((k) => ({ id: k.id, createdAt: byId.get(k.id)!.createdAt, reasons: k.reasons }));
  const removed = plan.remove.map((id) => ({ id, createdAt: byId.get(id)!.createdAt }));
  const others = await classifyOthers(ctx, new Set(byId.keys()), now);
  const incompleteRemoved = others.filter((o) => o.kind !== 'damaged').map((o) => o.id);
  const damagedRemoved = others.flatMap((o) => (o.kind === 'damaged' ? [{ id: o.id, reason: o.reason }] : []));

  if (!dryRun) {
    const limiter = pLimit(CONCURRENT_REMOVALS);
    const total = removed.length + others.length;
    let done = 0;
    const busy = new Set<string>();
    const removeOne = async (id: string, remove: (prefix: string) => Promise<boolean | void>): Promise<void> => {
      if (ctx.signal?.aborted) {
        throw new AbortedError(`The prune was interrupted after removing ${done} of ${total} snapshot folders.`, {
          code: 'aborted',
          hint: 'Run it again to finish: every snapshot still listed is complete.',
        });
      }
      if ((await remove(snapshotPrefix(config.project, env.name, id))) === false) busy.add(id);
      else done++;
    };
    const removeSnapshot = async (prefix: string): Promise<boolean> => {
      // removePrefix on the full key removes that object (and any sibling whose name it
      // prefixes, which sits in the same doomed folder).
      // Marked first: a prune killed after the manifest went leaves a folder its next run (or the
      // next snapshot) removes at once, not one that waits a day like a capture without a lease.
      await storage.write(`${prefix}${REMOVAL_MARKER}`, Readable.from([Buffer.from(`${JSON.stringify({ removedBy: 'prune', at: new Date().toISOString() })}\n`)]));
      // A rekey writes its lease before it looks for the marker, this looks for leases after
      // writing it: one of the two sees the other, and a snapshot being rekeyed stays for now.
      const writer = (await inspectFolder(storage, prefix)).leases.find((l) => l.state === 'live');
      if (writer) {
        await storage.removePrefix(`${prefix}${REMOVAL_MARKER}`);
        ctx.log?.('warn', `Kept snapshot ${prefix.split('/').at(-2)} this time: it is being rewritten (${describeLease(writer)}). The next prune removes it.`);
        return false;
      }
      await storage.removePrefix(`${prefix}${MANIFEST_FILE}`);
      await faultPoint('prune:remove', ctx.signal);
      await storage.removePrefix(prefix);
      return true;
    };
    await Promise.all([
      ...removed.map((s) => limiter(() => removeOne(s.id, removeSnapshot))),
      ...others.map((o) =>
        limiter(() =>
          removeOne(o.id, async (prefix) => {
            // A folder judged by its leases is looked at again just before it goes.
            if (o.kind === 'abandoned') await removeAbandonedFolder(storage, prefix, o.inspection);
            else await storage.removePrefix(prefix);
          }),
        ),
      ),
    ]);
    if (busy.size > 0) return { policy, kept, removed: removed.filter((r) => !busy.has(r.id)), incompleteRemoved, damagedRemoved, dryRun };
  }
  return { policy, kept, removed, incompleteRemoved, damagedRemoved, dryRun };
}
/** The policy from the options, else from the environment's `retention`; refuses when neither has a rule. */
function resolvePolicy(ctx: CatalogContext, given: RetentionPolicy | undefined): RetentionPolicy {
  const configured = ctx.env.retention;
  const policy = given ?? (configured ? policyFromConfig(configured) : undefined);
  // An empty object (`retention: {}`, or a script passing `{}`) refuses the same way as none.
  const empty = policy === undefined || (typeof policy === 'object' && policy !== null && Object.values(policy).every((v) => v === undefined));
  if (empty) {
    throw new ConfigError(`No retention policy is set for environment "${ctx.env.name}", so prune cannot tell which snapshots to keep.`, {
      code: 'retention-policy-empty',
      hint: `Pass at least one of ${RETENTION_RULES.map(ruleFlag).join(', ')}, or set \`retention\` (e.g. { keepWithin: '30d', keepWeekly: 12 }) for "${ctx.env.name}" in the config.`,
    });
  }
  return validatePolicy(policy);
}

/** A folder that is not a valid snapshot and that prune removes. */
type Removable =
  | { kind: 'abandoned'; id: string; inspection: FolderInspection }
  | { kind: 'stale'; id: string }
  | { kind: 'damaged'; id: string; reason: string };

/** The environment's folders that are not valid snapshots and that prune removes (see `prune`), newest id first. */
async function classifyOthers(ctx: CatalogContext, valid: Set<string>, now: Date): Promise<Removable[]> {
  const { config, env, storage } = ctx;
  const prefix = environmentPrefix(config.project, env.name);
  const names: string[] = [];
  for await (const name of storage.listChildren(prefix)) {
    if (valid.has(name)) continue;
    if (ulidTime(name) === undefined) {
      ctx.log?.('warn', `Left ${name} in ${storage.location.replace(/\/$/, '')}/${prefix} alone: it is not a snapshot id, so prune cannot tell its age.`);
      continue;
    }
    names.push(name);
  }
  const limiter = pLimit(CONCURRENT_REMOVALS);
  const found = await Promise.all(names.map((id) => limiter(() => classifyOne(ctx, id, now))));
  return found.filter((f): f is Removable => f !== undefined).sort((a, b) => b.id.localeCompare(a.id));
}

async function classifyOne(ctx: CatalogContext, id: string, now: Date): Promise<Removable | undefined> {
  const { config, env, storage } = ctx;
  const folder = snapshotPrefix(config.project, env.name, id);
  const inspection = await inspectFolder(storage, folder);
  const owner = folderOwner(inspection);
  // A writer at work: never removed, whatever `now` says.
  if (owner === 'live') return undefined;
  if (inspection.manifest) {
    const reason = await manifestDamage(ctx, folder, id);
    return reason === undefined ? undefined : { kind: 'damaged', id, reason };
  }
  if (owner === 'abandoned') return { kind: 'abandoned', id, inspection };
  return now.getTime() - ulidTime(id)! > INCOMPLETE_AFTER_MS ? { kind: 'stale', id } : undefined;
}

/**
 * Why a folder's manifest is damaged, or undefined when it reads (it was written since the
 * listing), is of a format this strata cannot read (someone else's valid snapshot), or is a valid
 * manifest in a folder of another name (a snapshot moved or copied by hand: whole, just
 * misplaced, so it is left for a person to move back, with a warning, never deleted).
 */
async function manifestDamage(ctx: CatalogContext, folder: string, id: string): Promise<string | undefined> {
  try {
    await readManifest(ctx.storage, folder, id);
    return undefined;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const integrity = (error as { exitCode?: unknown }).exitCode === 5;
    if (!integrity || code === 'manifest-format-unsupported') return undefined;
    if (code === 'manifest-id-mismatch') {
      ctx.log?.('warn', `Left ${id} alone: ${(error as Error).message}`);
      return undefined;
    }
    return (error as Error).message;
  }
}
