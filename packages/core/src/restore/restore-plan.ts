import type { Transformer } from '../contracts/transformer.js';
import { driverFor } from '../db/drivers.js';
import { ConfigError } from '../errors.js';
import { snapshotPrefix } from '../format/manifest-io.js';
import type { Manifest } from '../format/manifest-schema.js';
import type { OperationContext } from '../operation-context.js';
import { showSnapshot } from '../snapshot/snapshot-catalog.js';
import { openSnapshot, type OpenedSnapshot } from '../snapshot/snapshot-encryption.js';
import { resolveIntoTarget, type IntoTarget } from './restore-into-live.js';
import { checkRestoreArguments, chooseTransformer } from './restore-rules.js';
import { resolveRestoreTarget } from './restore-target.js';
import type { RestoreOptions, RestorePlan, RestoreTargetKind } from './restore-types.js';

// The opening of every restore, whatever its target: the request checked once, its target
// resolved, the snapshot opened and the transformer chosen. The fresh-database procedure
// (restore-fresh.ts) and the live-database one (restore-into.ts) start from what this returns.

/** A restore request whose arguments passed every check, with its target worked out. Nothing has been read or touched yet. */
export type CheckedRestore =
  | { targetKind: Exclude<RestoreTargetKind, 'into'>; target: { database: string; url: string } }
  | { targetKind: 'into'; target: IntoTarget };

type RequestFields = 'config' | 'env' | 'tables' | 'modules' | 'withDependencies' | 'into' | 'replace' | 'database' | 'targetUrl' | 'confirm';

/**
 * Every check of a restore's arguments, in one place, before anything is read: the combinations
 * that cannot work together, the target's name (and `--confirm` for a replace), and whether the
 * target's engine can take a restore `--into`. The CLI calls it before it opens storage, so a
 * typo costs nothing; `restore()` calls it first too, so library callers get the same errors.
 */
export function checkRestoreRequest(options: Pick<RestoreOptions, RequestFields>): CheckedRestore {
  checkRestoreArguments(options);
  if (options.into) {
    const target = resolveIntoTarget(options.into, options.env.databaseUrl, options.targetUrl);
    if (driverFor(target.url).maxSessions === 1) {
      // The safety snapshot reads the tables from a second session while the first holds them locked.
      throw new ConfigError(`strata cannot restore --into ${target.database}: its engine allows one session at a time, and the safety snapshot needs a second.`, {
        code: 'into-single-session',
        hint: 'Restore into a new database instead (leave out --into).',
      });
    }
    return { targetKind: 'into', target };
  }
  const target = resolveRestoreTarget({
    project: options.config.project,
    envName: options.env.name,
    envDatabaseUrl: options.env.databaseUrl,
    ...(options.targetUrl ? { targetUrl: options.targetUrl } : {}),
    ...(options.database ? { database: options.database } : {}),
    ...(options.replace ? { replace: true } : {}),
    ...(options.confirm ? { confirm: options.confirm } : {}),
  });
  return { targetKind: options.replace ? 'replace' : 'fresh', target };
}

/** The snapshot a restore reads, opened: where it is, its manifest and key, and the transformer its rows go through. */
export interface RestoreSource {
  /** The context to read the snapshot's files with: this environment's storage, or the source's (promote). */
  from: OperationContext;
  opened: OpenedSnapshot;
  manifest: Manifest;
  /** The transformer to apply, after `requireAnonymized` and "already transformed by these rules". */
  transformer: Transformer | undefined;
  /** Storage prefix of the snapshot's files. */
  prefix: string;
}

/**
 * Reads and opens the snapshot before anything is created: a missing snapshot, a wrong key, a
 * manifest changed since it was written, or a snapshot the environment may not take unmasked
 * fails here.
 */
export async function openRestoreSource(options: RestoreOptions): Promise<RestoreSource> {
  const { env } = options;
  const from: OperationContext = options.source
    ? { ...options, storage: options.source.storage, env: { ...env, name: options.source.environment, encryption: options.source.encryption ?? env.encryption } }
    : options;
  const opened = await openSnapshot(await showSnapshot(from, options.id), from.env.encryption, from.env.name);
  const { manifest } = opened;
  return {
    from,
    opened,
    manifest,
    transformer: chooseTransformer(options, manifest, options.transformer),
    prefix: snapshotPrefix(options.config.project, from.env.name, manifest.id),
  };
}

/** The part of a plan every target shares: which snapshot, what is done to which database, and through which transformer. */
export function planHeader(
  source: RestoreSource,
  request: CheckedRestore,
  server: string,
): Pick<RestorePlan, 'snapshotId' | 'targetKind' | 'database' | 'server' | 'replace' | 'transformer'> {
  return {
    snapshotId: source.manifest.id,
    targetKind: request.targetKind,
    database: request.target.database,
    server,
    ...(request.targetKind === 'replace' ? { replace: { database: request.target.database } } : {}),
    ...(source.transformer ? { transformer: source.transformer.name } : {}),
  };
}
