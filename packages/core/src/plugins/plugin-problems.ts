import { ConfigError, isStrataErrorLike, StorageError, StrataError, redactUrl } from '../errors.js';

/** A plugin oclif loaded (or any host loaded), as far as the lookup and the checks care. */
export interface InstalledPlugin {
  name: string;
  version: string;
  /** `core` (bundled), `user` (`strata plugins install`), `link` (`strata plugins link`). */
  type: string;
  /** The plugin API range from its package.json, when it declares one. */
  pluginApi?: string;
  /** The plugin's directory, when the host knows it. */
  root?: string;
}

/** What a plugin is asked for: a storage driver, a transformer, a notifier. */
export type PluginRole = 'storage' | 'transformer' | 'notifier';

/**
 * Everything that can go wrong finding a plugin, in three kinds: it is not installed (or none
 * answers), it is the wrong version (outside a range, made for another plugin API, or answering
 * with something that is not what was asked: a plugin made for another strata), or it failed
 * to load (its hook threw).
 */
export type PluginProblem =
  | { kind: 'not-installed'; environment: string; name: string; range: string }
  | { kind: 'not-installed'; role: 'storage'; url: string }
  | { kind: 'not-installed'; role: 'transformer' }
  | { kind: 'not-installed'; role: 'notifier'; type: string; where: string }
  | { kind: 'wrong-version'; environment: string; plugin: InstalledPlugin; range: string }
  | { kind: 'wrong-version'; plugin: InstalledPlugin; pluginApi: string; offered: string }
  | { kind: 'wrong-version'; role: PluginRole; plugin: string; subject: string }
  | { kind: 'failed'; role: PluginRole; plugin: string; error: Error; doing: string; check: string };

/** A StrataError, recognised by shape (one rule, in @strata/contracts): a plugin may bring its own copy of the class. */
export { isStrataErrorLike };

/** What each role's answer is called in a sentence, and which error class its problems are. */
const ROLES: Record<PluginRole, { answer: string; error: typeof ConfigError | typeof StorageError }> = {
  storage: { answer: 'storage driver', error: StorageError },
  transformer: { answer: 'transformer', error: ConfigError },
  notifier: { answer: 'notifier', error: ConfigError },
};

/**
 * The one rule for plugin problems: the sentence, hint, code and error class for each, the same
 * for the CLI, the typed API and anything else that looks plugins up. A plugin that failed with
 * a StrataError of its own already said what is wrong: that error is returned as it is.
 */
export function pluginProblem(problem: PluginProblem): Error {
  switch (problem.kind) {
    case 'not-installed': {
      if ('name' in problem) {
        const install = `strata plugins install ${problem.name}@"${problem.range}"`;
        return new ConfigError(`Environment "${problem.environment}" needs the plugin ${problem.name} ${problem.range}, which is not installed.`, {
          code: 'plugin-missing',
          hint: `Install it: \`${install}\`.`,
        });
      }
      if (problem.role === 'storage') {
        const shown = redactUrl(problem.url);
        const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(problem.url)?.[1]?.toLowerCase();
        return new StorageError(
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
      if (problem.role === 'transformer') {
        return new ConfigError('--anonymize needs masking rules, and the config has no anonymize section (or no plugin that reads it).', {
          code: 'anonymize-not-configured',
          hint: 'Add an `anonymize: { salt, tables }` section to the config (see the @strata/plugin-anonymize README), or leave out --anonymize.',
        });
      }
      return new ConfigError(`No installed plugin sends "${problem.type}" notifications (${problem.where}); nothing was sent.`, {
        code: 'notifier-unsupported',
        hint: 'Use a webhook or email target, or install a plugin that sends this type (`strata plugins` lists what is installed).',
      });
    }
    case 'wrong-version': {
      if ('range' in problem) {
        const { plugin, range } = problem;
        const install = `strata plugins install ${plugin.name}@"${range}"`;
        return new ConfigError(
          `Environment "${problem.environment}" needs the plugin ${plugin.name} ${range}, and ${plugin.version} is installed (${describeType(plugin.type)}).`,
          {
            code: 'plugin-version-mismatch',
            hint: plugin.type === 'link'
              ? `Link a checkout of a matching version (\`strata plugins link <dir>\`), or install one: \`${install}\`.`
              : `Install a matching version: \`${install}\`.`,
          },
        );
      }
      if ('pluginApi' in problem) {
        const { plugin } = problem;
        return new ConfigError(
          `The plugin ${plugin.name} ${plugin.version} (${describeType(plugin.type)}) was made for strata's plugin API ${problem.pluginApi}, and this strata offers ${problem.offered}.`,
          {
            code: 'plugin-api-mismatch',
            hint: plugin.type === 'core'
              ? 'Reinstall strata: its bundled plugins should match it.'
              : `Install a version made for this strata (\`strata plugins install ${plugin.name}\`), or remove it (\`strata plugins uninstall ${plugin.name}\`).`,
          },
        );
      }
      const role = ROLES[problem.role];
      return new role.error(`The plugin ${problem.plugin} returned something that is not a ${role.answer} for ${problem.subject}.`, {
        code: `${problem.role}-plugin-invalid`,
        hint: `Update it (\`strata plugins update\`) or uninstall it (\`strata plugins uninstall ${problem.plugin}\`).`,
      });
    }
    case 'failed': {
      if (isStrataErrorLike(problem.error)) return problem.error;
      const role = ROLES[problem.role];
      return new role.error(
        `The ${problem.role} plugin ${problem.plugin} failed to ${problem.doing}: ${firstLine(problem.error.message ?? String(problem.error))}.`.replace(/\.\.$/, '.'),
        {
          code: `${problem.role}-plugin-failed`,
          hint: `${problem.check}; DEBUG=1 shows the plugin's stack trace.`,
          cause: problem.error,
        },
      );
    }
  }
}

/** How people call a plugin of this oclif type: bundled, installed or linked. */
export function describeType(type: string): string {
  return type === 'core' ? 'bundled' : type === 'user' ? 'installed' : type === 'link' ? 'linked' : type;
}

/** The first line that says something: oclif's parse errors open with a bare preamble. */
export function firstLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^The following errors? occurred:$/.test(l));
  return lines[0] ?? text.trim();
}
