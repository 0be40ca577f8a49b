import { Command, Errors, Flags, type Interfaces } from '@oclif/core';

import { createProgressRenderer, type ProgressRenderer } from './cli/progress.js';
import { visibleText } from './cli/text-format.js';
import { interpolate, interpolateDeep, loadConfig, resolveEnvironment, type LoadedConfig, type ResolvedEnvironment } from './config/config-loader.js';
import { isStorageDriver, type StorageDriver, type StorageHookOptions, type StorageHookResult } from './contracts/storage.js';
import { isNotifier, type NotificationEvent, type NotifiedOperation, type NotifierConfig, type NotifierHookOptions, type NotifierHookResult } from './contracts/notifier.js';
import { isTransformer, type Transformer, type TransformerHookOptions, type TransformerHookResult } from './contracts/transformer.js';
import { notificationEvent, targetWants, type OperationReport } from './notify/notification.js';
import { checkPlugins, type InstalledPlugin } from './plugins/plugin-check.js';
import { AbortedError, ConfigError, isStrataErrorLike, StorageError, StrataError, redactUrl } from './errors.js';
import type { OperationContext } from './operation-context.js';

/** The hooks strata adds to oclif's, for typed `runHook` calls. */
interface StrataHooks extends Interfaces.Hooks {
  'strata:storage': { options: StorageHookOptions & Record<string, unknown>; return: StorageHookResult };
  'strata:transformer': { options: TransformerHookOptions & Record<string, unknown>; return: TransformerHookResult };
  'strata:notifier': { options: NotifierHookOptions & Record<string, unknown>; return: NotifierHookResult };
}

/** Flags every strata command accepts (besides `--json`). */
export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;
export type BaseArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>;

/** What a command hands to a core operation: everything `OperationContext` has, always filled in. */
export interface CommandContext extends OperationContext {
  signal: AbortSignal;
  log: (level: 'info' | 'warn', message: string) => void;
}

/** How long one notification may take before it is given up (a warning, not a failure). */
const NOTIFY_TIMEOUT_MS = 30_000;

/** Flags people reach for to hand over a key, refused by name (see `refuseKeysInArguments`). */
const KEY_FLAGS = /^--?(key|identity|identities|passphrase|password|age-key|age-identity|secret-key)(=|$)/i;

/**
 * Refuses a key or passphrase on the command line before anything else runs: every user of the
 * machine can read a process's arguments (`ps`, /proc). The argument itself is never echoed.
 */
function refuseKeysInArguments(argv: readonly string[]): void {
  const flag = argv.find((arg) => KEY_FLAGS.test(arg));
  const key = argv.some((arg) => /AGE-SECRET-KEY-1/i.test(arg));
  if (!flag && !key) return;
  const what = flag ? `${flag.split('=')[0]} is not taken` : 'An age secret key was given on the command line; keys are not taken there';
  throw new ConfigError(`${what}${flag ? ' on the command line' : ''}: other users of this machine can read a process's arguments.`, {
    code: 'key-on-command-line',
    hint: 'Set STRATA_AGE_KEY (the AGE-SECRET-KEY-1… line), STRATA_AGE_KEY_FILE or STRATA_AGE_PASSPHRASE in the environment, or encryption.identities in the config.',
  });
}

/**
 * Base of every strata command: `--json`, `--config`, `--env`, loading the config and the storage
 * driver, Ctrl-C handling, progress, and turning errors into one sentence, a hint and an exit code.
 */
export abstract class BaseCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    config: Flags.string({
      summary: 'Path of the config file (default: strata.config.{ts,mts,js,mjs,cjs,json} in the current directory).',
      helpValue: 'PATH',
      helpGroup: 'GLOBAL',
    }),
    env: Flags.string({
      summary: 'Environment from the config (default: $STRATA_ENV, else dev).',
      helpValue: 'NAME',
      helpGroup: 'GLOBAL',
    }),
  };

  protected flags!: BaseFlags<T>;
  protected args!: BaseArgs<T>;

  /** Set by a command that fails after producing a result, so `--json` prints both together. */
  protected partialResult: Record<string, unknown> | undefined;

  /**
   * Set by commands whose outcome the environment's `notify` targets hear about (snapshot,
   * restore, prune, promote): which operation, for which environment, and once it succeeded,
   * what it did. Sent when the command ends, whichever way.
   */
  protected notification:
    | { operation: NotifiedOperation; config: LoadedConfig; env: ResolvedEnvironment; report?: OperationReport }
    | undefined;

  private readonly startedAt = new Date();

  private readonly warnings: string[] = [];
  /** Strings never to print: passwords of the URLs this run has seen. */
  private readonly secrets = new Set<string>();
  private progress: ProgressRenderer | undefined;
  private readonly storages: StorageDriver[] = [];
  private abortController: AbortController | undefined;
  private signalHandler: ((signal: NodeJS.Signals) => void) | undefined;
  /** The first SIGINT/SIGTERM this run received: a failure after it exits as interrupted by it. */
  private interruptedBy: NodeJS.Signals | undefined;

  override async init(): Promise<void> {
    await super.init();
    refuseKeysInArguments(this.argv);
    const ctor = this.ctor as typeof BaseCommand;
    const { args, flags } = await this.parse({
      flags: ctor.flags,
      baseFlags: ctor.baseFlags,
      enableJsonFlag: ctor.enableJsonFlag,
      args: ctor.args,
      strict: ctor.strict,
    });
    this.flags = flags as BaseFlags<T>;
    this.args = args as BaseArgs<T>;
  }

  /** Loads the config and picks the environment, without touching storage or the database. */
  protected async loadEnvironment(name?: string): Promise<{ config: LoadedConfig; env: ResolvedEnvironment }> {
    const flags = this.flags as { config?: string; env?: string };
    const config = await loadConfig(flags.config === undefined ? {} : { configPath: flags.config });
    return { config, env: this.pickEnvironment(config, name ?? flags.env) };
  }

  /**
   * Picks an environment of a loaded config, remembers its secrets so no output shows them, and
   * (unless told not to: `doctor` reports it as one of its checks) refuses to go on when the
   * plugins it needs are missing or incompatible.
   */
  protected pickEnvironment(config: LoadedConfig, name: string | undefined, options: { checkPlugins?: boolean } = {}): ResolvedEnvironment {
    const env = resolveEnvironment(config, name);
    if (options.checkPlugins !== false) checkPlugins(env.name, env.raw.plugins, this.installedPlugins());
    this.addSecretsOf(env.databaseUrl);
    this.addSecretsOf(env.storageUrl);
    this.addSecretValues(env.storageOptions);
    for (const secret of env.encryption?.secrets() ?? []) this.secrets.add(secret);
    return env;
  }

  /**
   * Everything a core operation needs: config, environment, the storage driver a plugin provides,
   * an abort signal tied to Ctrl-C, progress rendering and warnings. Pass what `loadEnvironment()`
   * returned when the command needed it first, so the config is not loaded twice. Commands that
   * work on two environments (`copy`) call it once per environment; they share signal and progress.
   */
  protected async loadContext(loaded?: { config: LoadedConfig; env: ResolvedEnvironment }): Promise<CommandContext> {
    const { config, env } = loaded ?? (await this.loadEnvironment());
    const storage = await this.resolveStorage(env, config.baseDir);
    this.storages.push(storage);
    if (!this.progress && !this.jsonEnabled()) this.progress = createProgressRenderer(process.stderr);
    const progress = this.progress;
    return {
      config,
      env,
      storage,
      signal: this.abortSignal(),
      ...(progress ? { onProgress: (event) => progress.update(event) } : {}),
      log: (level, message) => this.note(level, message),
    };
  }

  /** Records a warning or note: on stderr, or (with `--json`) in the JSON output's `warnings`. */
  protected note(level: 'info' | 'warn', message: string): void {
    const text = this.scrub(message);
    if (this.jsonEnabled()) {
      if (level === 'warn') this.warnings.push(text);
      return;
    }
    const line = level === 'warn' ? `Warning: ${text}` : text;
    if (this.progress) this.progress.print(line);
    else process.stderr.write(`${line}\n`);
  }

  /** Remembers the password of a URL the user supplied, so no output ever shows it. */
  protected addSecretsOf(url: string | undefined): void {
    if (!url) return;
    try {
      const { password } = new URL(url);
      if (password.length >= 3) {
        this.secrets.add(password);
        this.secrets.add(decodeURIComponent(password));
      }
    } catch {
      // Not a URL: nothing to remember, and the generic scrubbing below still applies.
    }
  }

  /** The plugins oclif loaded (bundled, installed, linked), with the plugin API they declare. */
  protected installedPlugins(): InstalledPlugin[] {
    return [...this.config.plugins.values()].map((plugin) => {
      const pluginApi = (plugin.pjson as { strata?: { pluginApi?: unknown } }).strata?.pluginApi;
      return { name: plugin.name, version: plugin.version, type: plugin.type, ...(typeof pluginApi === 'string' ? { pluginApi } : {}) };
    });
  }

  /**
   * Remembers the secrets among a storage's options (`credentials`, and any key that names a
   * secret, password or token), so that no error or warning a plugin raises can show them.
   */
  private addSecretValues(options: Record<string, unknown>, inSecret = false): void {
    for (const [key, value] of Object.entries(options)) {
      const secret = inSecret || /credential|secret|password|token/i.test(key);
      if (typeof value === 'string' && secret && value.length >= 3) this.secrets.add(value);
      else if (value && typeof value === 'object') this.addSecretValues(value as Record<string, unknown>, secret);
    }
  }

  /**
   * Asks the installed plugins for a driver for the environment's storage URL. The first valid
   * driver wins; a plugin that hands back something else is named, so the user knows what to fix.
   */
  private async resolveStorage(env: ResolvedEnvironment, baseDir: string): Promise<StorageDriver> {
    const url = env.storageUrl;
    const shown = redactUrl(url);
    const result = await this.config.runHook<'strata:storage', StrataHooks>('strata:storage', {
      url,
      baseDir,
      options: env.storageOptions,
    });
    const invalid: string[] = [];
    for (const { plugin, result: driver } of result.successes) {
      if (driver === undefined || driver === null) continue;
      if (isStorageDriver(driver)) {
        for (const name of invalid) this.note('warn', `The plugin ${name} returned an invalid storage driver for ${shown}; it was ignored.`);
        return driver;
      }
      invalid.push(plugin.name);
    }
    if (invalid.length > 0) {
      throw new StorageError(`The plugin ${invalid[0]} returned something that is not a storage driver for ${shown}.`, {
        code: 'storage-plugin-invalid',
        hint: `Update it (\`strata plugins update\`) or uninstall it (\`strata plugins uninstall ${invalid[0]}\`).`,
      });
    }
    const failure = result.failures[0];
    if (failure) {
      if (isStrataErrorLike(failure.error)) throw failure.error;
      throw new StorageError(`The storage plugin ${failure.plugin.name} failed to open ${shown}: ${firstLine(failure.error.message)}.`.replace(/\.\.$/, '.'), {
        code: 'storage-plugin-failed',
        hint: `Check the storage settings of environment "${env.name}"; DEBUG=1 shows the plugin's stack trace.`,
        cause: failure.error,
      });
    }
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
    throw new StorageError(
      scheme
        ? `No installed plugin handles ${scheme} storage (${shown}).`
        : `No installed plugin handles the storage ${shown}: it does not start with a scheme such as file:// or s3://.`,
      {
        code: 'storage-unsupported',
        hint: scheme
          ? `Use a file:// or s3:// URL, or install a plugin that handles ${scheme}:// (\`strata plugins install <package>\`; \`strata plugins\` lists what is installed).`
          : 'Write the storage as a URL, e.g. file://./snapshots or s3://bucket/prefix.',
      },
    );
  }

  /**
   * The transformer for `--anonymize`: asks the installed plugins (`strata:transformer` hook) for
   * one that anonymizes with the config's rules. Fails with one sentence when none does.
   */
  protected async resolveAnonymizer(config: LoadedConfig, env: ResolvedEnvironment): Promise<Transformer> {
    const secrets = this.secrets;
    const result = await this.config.runHook<'strata:transformer', StrataHooks>('strata:transformer', {
      strataConfig: config as unknown as Record<string, unknown>,
      environment: env.name,
      baseDir: config.baseDir,
      interpolate: (value: string, where: string) => {
        const resolved = interpolate(value, where);
        // A salt or key read from the environment must never be printed either.
        if (resolved !== value && resolved.length >= 3) secrets.add(resolved);
        return resolved;
      },
    });
    const failure = result.failures[0];
    if (failure) {
      if (isStrataErrorLike(failure.error)) throw failure.error;
      throw new ConfigError(`The transformer plugin ${failure.plugin.name} failed to load its rules: ${firstLine(failure.error.message)}.`.replace(/\.\.$/, '.'), {
        code: 'transformer-plugin-failed',
        hint: 'Check the anonymize section of the config; DEBUG=1 shows the plugin\'s stack trace.',
        cause: failure.error,
      });
    }
    const anonymizer = result.successes.map((s) => s.result).find((t): t is Transformer => isTransformer(t) && t.anonymizes);
    if (!anonymizer) {
      throw new ConfigError('--anonymize needs masking rules, and the config has no anonymize section (or no plugin that reads it).', {
        code: 'anonymize-not-configured',
        hint: 'Add an `anonymize: { salt, tables }` section to the config (see the @strata/plugin-anonymize README), or leave out --anonymize.',
      });
    }
    return anonymizer;
  }

  /**
   * Tells the environment's `notify` targets how the command ended. A target that cannot be
   * reached, is misconfigured or has no plugin is a warning on stderr: a notification never turns
   * a successful operation into a failure, nor changes a failure's exit code.
   */
  private async sendNotifications(error: Error | undefined): Promise<void> {
    const pending = this.notification;
    if (!pending) return;
    this.notification = undefined;
    const { config, env } = pending;
    const targets = (env.raw.notify as NotifierConfig[] | undefined) ?? [];
    if (targets.length === 0) return;
    if (error instanceof Errors.ExitError && error.oclif.exit === 0) error = undefined;
    const failure = error
      ? isStrataErrorLike(error)
        ? { code: error.code, message: this.scrub(error.message), ...(error.hint ? { hint: this.scrub(error.hint) } : {}) }
        : { code: 'unexpected', message: this.scrub(firstLine(error.message || String(error))) }
      : undefined;
    const event: NotificationEvent = notificationEvent({
      operation: pending.operation,
      project: config.project,
      environment: env.name,
      startedAt: this.startedAt,
      endedAt: new Date(),
      ...(pending.report ? { report: pending.report } : {}),
      ...(failure ? { error: failure } : {}),
    });
    const warn = (text: string): void => {
      process.stderr.write(`Warning: ${this.scrub(text)}\n`);
    };
    for (const [index, raw] of targets.entries()) {
      if (!targetWants(raw, event.outcome)) continue;
      const where = `environments.${env.name}.notify[${index}]`;
      let target: NotifierConfig;
      try {
        target = interpolateDeep(raw, where) as NotifierConfig;
      } catch (problem) {
        warn(`${where} was not notified: ${(problem as Error).message}`);
        continue;
      }
      // A webhook's URL is its secret (Slack's are), an SMTP URL holds a password.
      for (const value of [target.url, target.smtp]) if (typeof value === 'string' && value.length >= 8) this.secrets.add(value);
      this.addSecretValues(target);
      try {
        const result = await this.config.runHook<'strata:notifier', StrataHooks>('strata:notifier', { target, environment: env.name, index });
        const hookFailure = result.failures[0];
        if (hookFailure) throw hookFailure.error;
        const notifier = result.successes.map((s) => s.result).find(isNotifier);
        if (!notifier) {
          warn(`No installed plugin sends "${target.type}" notifications (${where}); nothing was sent.`);
          continue;
        }
        await notifier.send(event, { signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS) }).catch((sendError: unknown) => {
          throw new Error(`Could not notify ${notifier.description}: ${firstLine((sendError as Error).message ?? String(sendError))}`);
        });
      } catch (problem) {
        warn(`${firstLine((problem as Error).message ?? String(problem))} (${where})`.replace(/\.\s\(/, ' ('));
      }
    }
  }

  /**
   * An AbortSignal aborted by the first SIGINT/SIGTERM; a second one ends the process at once.
   * The operation then cleans up and fails, and the command exits 130 (SIGINT) or 143 (SIGTERM),
   * as a shell reports a process ended by that signal.
   */
  private abortSignal(): AbortSignal {
    if (this.abortController) return this.abortController.signal;
    const controller = new AbortController();
    this.abortController = controller;
    this.signalHandler = (signal) => {
      this.progress?.finish();
      if (controller.signal.aborted) {
        process.stderr.write(`Stopped at once on a second ${signal}; temporary data may be left behind.\n`);
        // The user asked twice; waiting for cleanup is exactly what they refused.
        process.exit(signalExitCode(signal));
      }
      this.interruptedBy = signal;
      process.stderr.write(`\nInterrupted (${signal}): cleaning up. Press Ctrl-C again to stop at once.\n`);
      controller.abort(
        new AbortedError(`The operation was interrupted (${signal}).`, {
          code: 'aborted',
          hint: 'Run the command again; nothing half-done was kept.',
        }),
      );
    };
    process.on('SIGINT', this.signalHandler);
    process.on('SIGTERM', this.signalHandler);
    return controller.signal;
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    this.progress?.finish();
    await this.sendNotifications(error);
    if (this.signalHandler) {
      process.off('SIGINT', this.signalHandler);
      process.off('SIGTERM', this.signalHandler);
    }
    for (const storage of this.storages) await storage.close?.().catch(() => {});
    return super.finally(error);
  }

  protected override toSuccessJson(result: unknown): unknown {
    if (this.warnings.length === 0) return result;
    if (result && typeof result === 'object' && !Array.isArray(result)) {
      const own = (result as { warnings?: unknown }).warnings;
      return { ...result, warnings: [...(Array.isArray(own) ? own : []), ...this.warnings] };
    }
    // An array result has nowhere to put them; stderr keeps stdout a single JSON document.
    for (const warning of this.warnings) process.stderr.write(`Warning: ${warning}\n`);
    return result;
  }

  /** Command output ends the live progress line first, so the two never share a line. */
  override log(message?: string, ...args: unknown[]): void {
    this.progress?.finish();
    super.log(message === undefined ? message : visibleText(message), ...args);
  }

  override logToStderr(message?: string, ...args: unknown[]): void {
    this.progress?.finish();
    super.logToStderr(message === undefined ? message : visibleText(message), ...args);
  }

  /** Plain JSON, never colored: `--json` output is for programs. */
  protected override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  }

  /**
   * Every failure ends here. A StrataError prints its sentence and hint (or its JSON) and exits
   * with its code; oclif's own usage errors keep oclif's rendering; anything else is a bug and
   * prints one line, with the stack only under DEBUG.
   */
  protected override async catch(err: Interfaces.CommandError): Promise<unknown> {
    this.progress?.finish();
    if (err instanceof Errors.ExitError) throw err;
    const json = this.jsonEnabled();
    const debug = Boolean(process.env.DEBUG);
    // After a SIGINT/SIGTERM, whatever the operation failed with is the interruption's doing
    // (a stream cut, a session closed under it): it reads and exits as interrupted.
    const interrupted = this.interruptedBy;
    if (interrupted && !isStrataErrorLike(err) && this.abortController?.signal.reason instanceof AbortedError) {
      err = this.abortController.signal.reason;
    }

    if (isStrataErrorLike(err)) {
      const message = this.scrub(err.message);
      const hint = err.hint === undefined ? undefined : this.scrub(err.hint);
      if (json) {
        this.logJson({
          ...this.partialResult,
          error: { code: err.code, message, ...(hint ? { hint } : {}) },
          ...(this.warnings.length > 0 ? { warnings: this.warnings } : {}),
        });
      } else {
        process.stderr.write(`Error: ${message}\n${hint ? `Hint: ${hint}\n` : ''}`);
        if (debug) process.stderr.write(`${this.scrub(stackOf(err))}\n`);
      }
      return this.exit(interrupted ? signalExitCode(interrupted) : err.exitCode);
    }

    if (err instanceof Errors.CLIError) {
      // Bad flags or arguments: oclif's message (and usage) is what users of oclif CLIs expect.
      if (!json) return super.catch(err);
      const exitCode = err.oclif?.exit ?? 2;
      const isParse = 'parse' in err;
      this.logJson({
        error: {
          code: isParse ? 'invalid-arguments' : (typeof err.code === 'string' ? err.code : 'cli-error'),
          message: this.scrub(firstLine(err.message)),
          hint: `See \`${[this.config.bin, ...(this.id?.split(':') ?? []), '--help'].join(' ')}\`.`,
        },
      });
      return this.exit(exitCode);
    }

    const message = this.scrub(firstLine(err.message || String(err)));
    const hint = 'Set DEBUG=1 to see the stack trace.';
    if (json) {
      this.logJson({ error: { code: 'unexpected', message, hint } });
    } else {
      process.stderr.write(`Error: ${message}\nHint: ${hint}\n`);
      if (debug) process.stderr.write(`${this.scrub(stackOf(err))}\n`);
    }
    return this.exit(1);
  }

  /** Removes credentials from text that is about to be shown. */
  protected scrub(text: string): string {
    let out = visibleText(text).replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi, '$1***@');
    for (const secret of this.secrets) out = out.split(secret).join('***');
    return out;
  }
}

/** The exit code of a run ended by `signal`: 128 + its number, as shells report it (130, 143). */
function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGTERM' ? 143 : 130;
}


/** The first line that says something: oclif's parse errors open with a bare preamble. */
function firstLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^The following errors? occurred:$/.test(l));
  return lines[0] ?? text.trim();
}

/** The stack with its chain of causes: what someone debugging needs. */
function stackOf(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    parts.push(current instanceof Error ? (current.stack ?? current.message) : String(current));
    current = current instanceof Error ? current.cause : undefined;
    if (current) parts.push('Caused by:');
  }
  return parts.join('\n');
}
