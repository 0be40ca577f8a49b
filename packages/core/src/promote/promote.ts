import type { PromotionHooks } from '../config/hooks-config.js';
import type { Transformer } from '../contracts/transformer.js';
import { driverFor } from '../db/drivers.js';
import { ConfigError } from '../errors.js';
import { isAnonymized } from '../format/manifest-schema.js';
import type { OperationContext } from '../operation-context.js';
import { restore } from '../restore/restore-run.js';
import { assertAnonymizationAllowed, tablesLeftEmpty } from '../restore/restore-rules.js';
import type { RestorePlan, RestoreReport } from '../restore/restore-types.js';
import { snapshot } from '../snapshot/snapshot-capture.js';
import { showSnapshot } from '../snapshot/snapshot-catalog.js';
import { copySnapshot } from '../snapshot/snapshot-copy.js';
import { runHooks } from './promote-hooks.js';

export interface PromoteOptions {
  /** The source environment (its database for `fresh`, its storage for the snapshot). */
  from: OperationContext;
  /** The target environment: its storage receives the snapshot, its server the new database. */
  to: OperationContext;
  /** Snapshot id in the source, or `latest` (the default). Not with `fresh`. */
  snapshot?: string;
  /** Take a new snapshot of the source first. */
  fresh?: boolean;
  /**
   * Masks the rows on their way into the target (`--anonymize`). Needed when the target says
   * `requireAnonymized` and the snapshot was not anonymized; the CLI provides it then by itself.
   */
  transformer?: Transformer;
  /** Name of the database to create on the target's server (default `<project>_<target>_<YYYYMMDD>`). */
  database?: string;
  replace?: boolean;
  confirm?: string;
  /** Tables left empty, on top of the target environment's `restore.exclude`. */
  excludeTables?: string[];
  /** The target's hooks (default: its `hooks` section). */
  hooks?: PromotionHooks;
  dryRun?: boolean;
}

export interface PromoteResult {
  snapshotId: string;
  from: string;
  to: string;
  /** True when `fresh` took the snapshot. */
  taken: boolean;
  /** `copied`, `already-present` (the target's storage had it), or `shared` (both environments use one storage). */
  copy: 'copied' | 'already-present' | 'shared' | 'planned';
  anonymized: boolean;
  excludedTables: string[];
  hooks: { beforeRestore: string[]; afterRestore: string[] };
  restore: RestoreReport | undefined;
  plan: RestorePlan | undefined;
  dryRun: boolean;
  durationMs: number;
}

/**
 * Promotes a snapshot of one environment into a new database of another: takes a fresh snapshot
 * of the source or picks one, copies it to the target's storage when the two differ, runs the
 * target's `beforeRestore` hooks, restores it (masking it when asked or when the target requires
 * anonymized data, leaving excluded tables empty), runs the `afterRestore` hooks on the restored
 * database before it takes its name, and reports what it did. A failing step stops the
 * promotion, names itself, and leaves no restored database behind.
 */
export async function promote(options: PromoteOptions): Promise<PromoteResult> {
  const started = Date.now();
  const { from, to } = options;
  if (from.env.name === to.env.name) {
    throw new ConfigError(`Cannot promote environment "${from.env.name}" into itself.`, {
      code: 'promote-same-environment',
      hint: 'Give two different environments: --from prod --to staging.',
    });
  }
  if (options.fresh && options.snapshot && options.snapshot !== 'latest') {
    throw new ConfigError('--fresh takes a new snapshot; it cannot be combined with --snapshot.', {
      code: 'invalid-arguments',
      hint: 'Leave out one of them.',
    });
  }
  const hooks = options.hooks ?? to.env.hooks ?? {};
  const excludeTables = tablesLeftEmpty(to.env, options.excludeTables);
  const shared = from.storage.location === to.storage.location;

  // The snapshot: a new one, or the chosen one of the source.
  let snapshotId: string;
  let taken = false;
  if (options.fresh && !options.dryRun) {
    snapshotId = (await snapshot({ ...from, tags: ['promote'], description: `Taken to promote ${from.env.name} to ${to.env.name}` })).id;
    taken = true;
  } else {
    // A dry run of --fresh plans with the newest snapshot: the new one would have the same shape.
    snapshotId = (await showSnapshot(from, options.snapshot ?? 'latest')).id;
  }
  const manifest = await showSnapshot(from, snapshotId);
  // Checked before anything is copied; the restore asks the same again.
  assertAnonymizationAllowed(to.env, manifest, options.transformer, {
    source: from.env.name,
    hint: "Promote with --anonymize (the config's anonymize rules mask it on the way in), or promote an anonymized snapshot.",
  });

  const restoreOptions = {
    ...to,
    id: snapshotId,
    ...(options.database ? { database: options.database } : {}),
    ...(options.replace ? { replace: true } : {}),
    ...(options.confirm ? { confirm: options.confirm } : {}),
    ...(options.transformer ? { transformer: options.transformer } : {}),
    ...(options.excludeTables ? { excludeTables: options.excludeTables } : {}),
    ...(shared ? { source: { storage: from.storage, environment: from.env.name, ...(from.env.encryption ? { encryption: from.env.encryption } : {}) } } : {}),
  };
  // An encrypted snapshot copied into a target with recipients of its own is sealed for them on
  // the way (its key opened with the source's keys); read in place, it opens with the source's keys.
  const reencrypt = !shared && manifest.encryption !== undefined && to.env.encryption?.sealTo !== undefined;
  const base = { snapshotId, from: from.env.name, to: to.env.name, taken, anonymized: isAnonymized(manifest) || options.transformer?.anonymizes === true, excludedTables: excludeTables };

  if (options.dryRun) {
    if (!shared) {
      // The plan reads the manifest where the restore would find it once copied: in the source.
      const plan = await restore({ ...restoreOptions, source: { storage: from.storage, environment: from.env.name, ...(from.env.encryption ? { encryption: from.env.encryption } : {}) }, dryRun: true });
      return { ...base, copy: 'planned', hooks: { beforeRestore: [], afterRestore: [] }, restore: undefined, plan: plan.plan, dryRun: true, durationMs: Date.now() - started };
    }
    const plan = await restore({ ...restoreOptions, dryRun: true });
    return { ...base, copy: 'shared', hooks: { beforeRestore: [], afterRestore: [] }, restore: undefined, plan: plan.plan, dryRun: true, durationMs: Date.now() - started };
  }

  let copy: PromoteResult['copy'] = 'shared';
  if (!shared) copy = (await copySnapshot({ from, to, id: snapshotId, ...(reencrypt ? { reencrypt: true } : {}) })).status;

  const log = (message: string): void => to.log?.('info', message);
  const hookContext = { snapshotId, environment: to.env.name, baseDir: to.config.baseDir, ...(to.signal ? { signal: to.signal } : {}) };
  const current = { databaseUrl: to.env.databaseUrl, databaseName: driverFor(to.env.databaseUrl).describe(to.env.databaseUrl).database };
  const beforeRestore = await runHooks('beforeRestore', hooks.beforeRestore, { ...hookContext, ...current }, log);
  let afterRestore: string[] = [];
  const report = await restore({
    ...restoreOptions,
    beforeRename: async (databaseUrl, databaseName) => {
      afterRestore = await runHooks('afterRestore', hooks.afterRestore, { ...hookContext, databaseUrl, databaseName }, log);
    },
  });
  return { ...base, copy, hooks: { beforeRestore, afterRestore }, restore: report, plan: report.plan, dryRun: false, durationMs: Date.now() - started };
}
