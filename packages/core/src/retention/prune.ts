import pLimit from 'p-limit';
import { decodeTime, isValid } from 'ulid';

import { AbortedError, ConfigError } from '../errors.js';
import { faultPoint } from '../fault-point.js';
import { environmentPrefix, snapshotPrefix } from '../format/manifest-io.js';
import { MANIFEST_FILE } from '../format/manifest-schema.js';
import { listSnapshots } from '../snapshot/snapshot-catalog.js';
import type { CatalogContext } from '../snapshot/snapshot-types.js';
import { planRetention } from './retention-plan.js';
import { policyFromConfig, RETENTION_RULES, ruleFlag, validatePolicy, type RetentionConfig, type RetentionPolicy } from './retention-policy.js';

/** A folder without a manifest is removed once its id is older than this: no capture or copy runs that long. */
export const INCOMPLETE_AFTER_MS = 24 * 3_600_000;

/** Snapshots removed at once: enough to hide an object store's latency. */
const CONCURRENT_REMOVALS = 8;

export interface PruneOptions {
  /** The rules; when absent, the environment's `retention` from the config. */
  policy?: RetentionPolicy;
  /** Plan and report only; nothing is removed. */
  dryRun?: boolean;
  /** The time the policy is applied at (default: the current time). */
  now?: Date;
}

export interface PruneResult {
  /** The policy applied (from the options or from the config). */
  policy: RetentionPolicy;
  /** Snapshots kept, newest first, with every rule that keeps each. */
  kept: { id: string; createdAt: string; reasons: string[] }[];
  /** Snapshots removed (or, in a dry run, that would be), newest first. */
  removed: { id: string; createdAt: string }[];
  /** Ids of folders without a manifest, older than a day, removed (or that would be). */
  incompleteRemoved: string[];
  dryRun: boolean;
}

/**
 * Applies a retention policy to the environment's snapshots (see `planRetention` for the rules).
 * Every valid snapshot is listed and planned; each one removed loses its manifest first, so a
 * prune that stops half-way leaves no half-deleted snapshot that lists as valid, then the rest of
 * its folder. Folders without a manifest (captures or copies that never finished) are removed
 * when their id, a ULID, is more than a day old; a folder whose name is not a ULID is left alone
 * with a warning, and so is a snapshot whose manifest is damaged (it is neither valid nor
 * incomplete: someone should look at it).
 *
 * Refuses (`retention-policy-empty`, a `ConfigError`) when neither the options nor the
 * environment's config give a rule, before anything is read from the storage.
 */
export async function prune(ctx: CatalogContext, options: PruneOptions = {}): Promise<PruneResult> {
  const policy = resolvePolicy(ctx, options.policy);
  const now = options.now ?? new Date();
  const dryRun = options.dryRun ?? false;
  const { config, env, storage } = ctx;

  const snapshots = await listSnapshots(ctx);
  const plan = planRetention(snapshots, policy, now);
  const byId = new Map(snapshots.map((s) => [s.id, s]));
  const kept = plan.keep.map((k) => ({ id: k.id, createdAt: byId.get(k.id)!.createdAt, reasons: k.reasons }));
  const removed = plan.remove.map((id) => ({ id, createdAt: byId.get(id)!.createdAt }));
  const incompleteRemoved = await findIncomplete(ctx, new Set(byId.keys()), now);

  if (!dryRun) {
    const limiter = pLimit(CONCURRENT_REMOVALS);
    const total = removed.length + incompleteRemoved.length;
    let done = 0;
    const removeOne = async (id: string, hasManifest: boolean): Promise<void> => {
      if (ctx.signal?.aborted) {
        throw new AbortedError(`The prune was interrupted after removing ${done} of ${total} snapshot folders.`, {
          code: 'aborted',
          hint: 'Run it again to finish: every snapshot still listed is complete.',
        });
      }
      const prefix = snapshotPrefix(config.project, env.name, id);
      // removePrefix on the full key removes that object (and any sibling whose name it
      // prefixes, which sits in the same doomed folder).
      if (hasManifest) await storage.removePrefix(`${prefix}${MANIFEST_FILE}`);
      if (hasManifest) await faultPoint('prune:remove', ctx.signal);
      await storage.removePrefix(prefix);
      done++;
    };
    await Promise.all([
      ...removed.map((s) => limiter(() => removeOne(s.id, true))),
      ...incompleteRemoved.map((id) => limiter(() => removeOne(id, false))),
    ]);
  }
  return { policy, kept, removed, incompleteRemoved, dryRun };
}

/** The policy from the options, else from the environment's `retention`; refuses when neither has a rule. */
function resolvePolicy(ctx: CatalogContext, given: RetentionPolicy | undefined): RetentionPolicy {
  const configured = ctx.env.raw.retention as RetentionConfig | undefined;
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

/**
 * Ids of the environment's folders that hold no manifest and whose ULID is more than a day
 * before `now`. Folders with a manifest that did not list (damaged) are not incomplete.
 */
async function findIncomplete(ctx: CatalogContext, valid: Set<string>, now: Date): Promise<string[]> {
  const { config, env, storage } = ctx;
  const prefix = environmentPrefix(config.project, env.name);
  const found: string[] = [];
  for await (const name of storage.listChildren(prefix)) {
    if (valid.has(name)) continue;
    const time = ulidTime(name);
    if (time === undefined) {
      ctx.log?.('warn', `Left ${name} in ${storage.location.replace(/\/$/, '')}/${prefix} alone: it is not a snapshot id, so prune cannot tell its age.`);
      continue;
    }
    if (now.getTime() - time <= INCOMPLETE_AFTER_MS) continue;
    if (await storage.exists(`${snapshotPrefix(config.project, env.name, name)}${MANIFEST_FILE}`)) continue;
    found.push(name);
  }
  return found.sort().reverse();
}

/** The time encoded in a ULID, or undefined for a name that is not one. */
function ulidTime(name: string): number | undefined {
  if (!isValid(name) || name !== name.toUpperCase()) return undefined;
  try {
    return decodeTime(name);
  } catch {
    return undefined;
  }
}
