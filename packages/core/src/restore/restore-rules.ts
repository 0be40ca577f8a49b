import type { Transformer } from '../contracts/transformer.js';
import { ConfigError } from '../errors.js';
import { isAnonymized, type Manifest } from '../format/manifest-schema.js';
import type { OperationContext } from '../operation-context.js';
import type { RestoreOptions } from './restore-types.js';

// Rules every way of restoring shares (into a new database, into an existing one, promote).

/**
 * The transformer to apply while loading, after the environment's `requireAnonymized` check: a
 * snapshot that was not anonymized when captured is refused unless the restore anonymizes it. A
 * snapshot already transformed by the same rules is not transformed twice.
 */
export function chooseTransformer(ctx: OperationContext, manifest: Manifest, requested: Transformer | undefined): Transformer | undefined {
  let transformer = requested;
  if (transformer && manifest.transformers.some((t) => t.name === transformer!.name && t.rulesHash === transformer!.rulesHash)) {
    ctx.log?.('info', `Snapshot ${manifest.id} was captured with these ${transformer.name} rules already; its rows are loaded as they are.`);
    transformer = undefined;
  }
  assertAnonymizationAllowed(ctx.env, manifest, transformer, {
    hint: 'Restore it with --anonymize to mask it on the way in, using the rules of the config\'s anonymize section.',
  });
  return transformer;
}

/**
 * The `requireAnonymized` rule of an environment: a snapshot that was not anonymized when captured
 * may come in only through a transformer that anonymizes. Restore and promote both ask it.
 */
export function assertAnonymizationAllowed(
  env: OperationContext['env'],
  manifest: Pick<Manifest, 'id' | 'transformers'>,
  transformer: Transformer | undefined,
  words: { hint: string; source?: string },
): void {
  if (env.requireAnonymized !== true || isAnonymized(manifest) || transformer?.anonymizes) return;
  throw new ConfigError(
    `Environment "${env.name}" accepts only anonymized data, and snapshot ${manifest.id}${words.source ? ` of "${words.source}"` : ''} was not anonymized.`,
    { code: 'anonymization-required', hint: words.hint },
  );
}

/**
 * Checks the combinations of restore options that cannot work together, so the CLI and library
 * callers get the same errors before anything is read: `into` needs a selection and creates no
 * database (`replace`, `database`); `withDependencies` completes a selection; a selection names
 * something.
 */
export function checkRestoreArguments(options: Pick<RestoreOptions, 'tables' | 'modules' | 'withDependencies' | 'into' | 'replace' | 'database'>): void {
  for (const [name, list] of [['--tables', options.tables], ['--modules', options.modules]] as const) {
    if (list && list.length === 0) {
      throw new ConfigError(`${name} names nothing to restore.`, {
        code: 'invalid-arguments',
        hint: `Give at least one name, e.g. ${name} ${name === '--tables' ? 'orders,customers' : 'billing'}, or leave the option out to restore everything.`,
      });
    }
  }
  const selection = hasSelection(options);
  if (options.into && !selection) {
    throw new ConfigError('--into replaces the contents of selected tables, and no tables are selected.', {
      code: 'invalid-arguments',
      hint: 'Name them with --tables or --modules; to restore the whole snapshot over a database, use --replace --confirm NAME.',
    });
  }
  if (options.into && (options.replace || options.database)) {
    throw new ConfigError(`--into loads into an existing database, so it cannot be combined with ${options.replace ? '--replace' : '--database'}.`, {
      code: 'invalid-arguments',
      hint: 'Give the database with --into alone, or restore into a new database without --into.',
    });
  }
  if (options.into && options.withDependencies) {
    throw new ConfigError('--with-dependencies adds tables to a restore into a new database; --into replaces exactly the tables named.', {
      code: 'invalid-arguments',
      hint: 'Name every table to replace with --tables, or restore into a new database without --into.',
    });
  }
  if (options.withDependencies && !selection) {
    throw new ConfigError('--with-dependencies completes a selection of tables, and no tables are selected.', {
      code: 'invalid-arguments',
      hint: 'Name tables with --tables or --modules, or leave out --with-dependencies: a full restore loads every table anyway.',
    });
  }
}

export function hasSelection(options: Pick<RestoreOptions, 'tables' | 'modules'>): boolean {
  return (options.tables?.length ?? 0) > 0 || (options.modules?.length ?? 0) > 0;
}

/** Tables a restore leaves empty: the environment's `restore.exclude` and the ones asked for. */
export function tablesLeftEmpty(env: OperationContext['env'], asked: string[] = []): string[] {
  const configured = env.restore?.exclude;
  return [...new Set([...(Array.isArray(configured) ? configured.map(String) : []), ...asked])];
}
