import { interpolate, interpolateDeep, type LoadedConfig, type ResolvedEnvironment } from '../config/config-loader.js';
import { isNotifier, type Notifier, type NotifierConfig } from '../contracts/notifier.js';
import { isStorageDriver, type StorageDriver } from '../contracts/storage.js';
import { isTransformer, type Transformer } from '../contracts/transformer.js';
import { redactUrl } from '../errors.js';
import { firstLine, pluginProblem, type InstalledPlugin, type PluginRole } from './plugin-problems.js';

/**
 * Plugin lookup as a service: which plugin gives the storage driver, the anonymizer, the notifiers
 * of an environment, and the one rule for what goes wrong doing so (`pluginProblem`). It knows no
 * command: the CLI hands it oclif's plugins and `config.runHook`, and any other caller (the typed
 * API, a web dashboard) whatever loaded its plugins.
 */

/** The hooks strata adds to oclif's. */
export type StrataHookEvent = 'strata:storage' | 'strata:transformer' | 'strata:notifier';

/** What running a hook in every plugin that registers it gave: oclif's `Hook.Result`. */
export interface HookResults {
  successes: Array<{ plugin: { name: string }; result: unknown }>;
  failures: Array<{ plugin: { name: string }; error: Error }>;
}

/** What the lookup needs from whoever loaded the plugins (in the CLI, oclif's `Config`). */
export interface PluginHost {
  /** The plugins loaded: bundled, installed, linked. */
  plugins: readonly InstalledPlugin[];
  /** Runs a hook in every plugin that registers it (`(e, o) => config.runHook(e, o)`). */
  runHook: (event: StrataHookEvent, options: Record<string, unknown>) => Promise<HookResults>;
}

/** Warnings and notes for the user, as in `OperationContext.log`. */
export type LookupLog = (level: 'info' | 'warn', message: string) => void;

/**
 * The one rule for reading a hook's answers: a plugin that failed is the error (it may be the
 * very plugin meant to answer, so skipping it could quietly use the wrong one); else the first
 * valid answer wins, and a plugin that answered with something else is named in a warning; with
 * no valid answer, such a plugin is the error (`wrong-version`: it was made for another strata);
 * with none at all, the result is `undefined` and the caller says what was not found.
 */
function pick<T>(
  role: PluginRole,
  results: HookResults,
  accept: (value: unknown) => value is T,
  context: { subject: string; doing: string; check: string; log?: LookupLog | undefined },
): T | undefined {
  const failure = results.failures[0];
  if (failure) throw pluginProblem({ kind: 'failed', role, plugin: failure.plugin.name, error: failure.error, doing: context.doing, check: context.check });
  const invalid: string[] = [];
  for (const { plugin, result } of results.successes) {
    if (result === undefined || result === null) continue;
    if (accept(result)) {
      for (const name of invalid) context.log?.('warn', `${pluginProblem({ kind: 'wrong-version', role, plugin: name, subject: context.subject }).message.replace(/\.$/, '')}; it was ignored.`);
      return result;
    }
    invalid.push(plugin.name);
  }
  if (invalid[0] !== undefined) throw pluginProblem({ kind: 'wrong-version', role, plugin: invalid[0], subject: context.subject });
  return undefined;
}

/**
 * The storage driver for the environment's storage URL, from the plugins' `strata:storage`
 * hooks. `baseDir` is where relative `file:` URLs start (the config's directory).
 */
export async function findStorage(host: PluginHost, env: ResolvedEnvironment, baseDir: string, options: { log?: LookupLog } = {}): Promise<StorageDriver> {
  const url = env.storageUrl;
  const results = await host.runHook('strata:storage', { url, baseDir, options: env.storageOptions });
  const driver = pick('storage', results, isStorageDriver, {
    subject: redactUrl(url),
    doing: `open ${redactUrl(url)}`,
    check: `Check the storage settings of environment "${env.name}"`,
    log: options.log,
  });
  if (!driver) throw pluginProblem({ kind: 'not-installed', role: 'storage', url });
  return driver;
}

/**
 * The transformer that anonymizes with the config's rules (`--anonymize`), from the plugins'
 * `strata:transformer` hooks. `onSecret` hears every value read from the process environment
 * while the rules are read (a salt, a key), so the caller can keep it out of any output.
 */
export async function findAnonymizer(
  host: PluginHost,
  config: LoadedConfig,
  env: ResolvedEnvironment,
  options: { onSecret?: (value: string) => void; log?: LookupLog } = {},
): Promise<Transformer> {
  const results = await host.runHook('strata:transformer', {
    strataConfig: config as unknown as Record<string, unknown>,
    environment: env.name,
    baseDir: config.baseDir,
    interpolate: (value: string, where: string) => {
      const resolved = interpolate(value, where);
      // A salt or key read from the environment must never be printed either.
      if (resolved !== value && resolved.length >= 3) options.onSecret?.(resolved);
      return resolved;
    },
  });
  // A transformer that does not anonymize (a plugin's own rewrite) is no answer to --anonymize.
  const anonymizer = pick('transformer', { ...results, successes: results.successes.filter((s) => !isTransformer(s.result) || s.result.anonymizes) }, isTransformer, {
    subject: 'the anonymize section of the config',
    doing: 'load its rules',
    check: 'Check the anonymize section of the config',
    log: options.log,
  });
  if (!anonymizer) throw pluginProblem({ kind: 'not-installed', role: 'transformer' });
  return anonymizer;
}

/** One `notify` target of an environment and what the lookup found for it. */
export interface NotifierLookup {
  /** Its position in the environment's `notify` list. */
  index: number;
  /** Its place in the config, for messages: `environments.prod.notify[1]`. */
  where: string;
  /** The target with `${VAR}` references resolved, unless that failed. */
  target?: NotifierConfig;
  /** The plugin's notifier for it, when one was found. */
  notifier?: Notifier;
  /** Why it gets nothing, one sentence ending with `where`: a warning, never a failure. */
  warning?: string;
}

/**
 * The notifiers for an environment's `notify` targets (those `wanted` lets through), from the
 * plugins' `strata:notifier` hooks, in the targets' order. A target that cannot be resolved,
 * is misconfigured or has no plugin comes back with a `warning` instead: a notification never
 * turns an operation into a failure.
 */
export async function findNotifiers(
  host: PluginHost,
  environment: string,
  targets: readonly NotifierConfig[],
  options: { wanted?: (target: NotifierConfig) => boolean } = {},
): Promise<NotifierLookup[]> {
  const found: NotifierLookup[] = [];
  for (const [index, raw] of targets.entries()) {
    if (options.wanted && !options.wanted(raw)) continue;
    const where = `environments.${environment}.notify[${index}]`;
    let target: NotifierConfig;
    try {
      target = interpolateDeep(raw, where) as NotifierConfig;
    } catch (problem) {
      found.push({ index, where, warning: `${where} was not notified: ${(problem as Error).message}` });
      continue;
    }
    try {
      const results = await host.runHook('strata:notifier', { target, environment, index });
      const notifier = pick('notifier', results, isNotifier, {
        subject: `a "${target.type}" target`,
        doing: `set up a "${target.type}" target`,
        check: `Check ${where}`,
      });
      if (!notifier) throw pluginProblem({ kind: 'not-installed', role: 'notifier', type: String(target.type), where });
      found.push({ index, where, target, notifier });
    } catch (problem) {
      const message = firstLine((problem as Error).message ?? String(problem));
      const warning = message.includes(where) ? message : `${message} (${where})`.replace(/\.\s\(/, ' (');
      found.push({ index, where, target, warning });
    }
  }
  return found;
}
