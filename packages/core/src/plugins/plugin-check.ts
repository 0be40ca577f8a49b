import semver from 'semver';

import { ConfigError } from '../errors.js';

/**
 * The version of the contracts core offers plugins (storage, transformer, notifier hooks and their
 * types). A plugin declares the range it was made for in its package.json:
 * `"strata": { "pluginApi": "^1.0.0" }`; a plugin whose range excludes this version is refused.
 */
export const PLUGIN_API_VERSION = '1.0.0';

/** A plugin oclif loaded, as far as the checks care. */
export interface InstalledPlugin {
  name: string;
  version: string;
  /** `core` (bundled), `user` (`strata plugins install`), `link` (`strata plugins link`). */
  type: string;
  /** The plugin API range from its package.json, when it declares one. */
  pluginApi?: string;
}

/**
 * Refuses to go on for environment `envName` when a plugin it names (`plugins: { name: range }`)
 * is missing or outside its range, or when an installed strata plugin was made for another plugin
 * API. The error says which command installs what is needed.
 */
export function checkPlugins(envName: string, required: unknown, installed: InstalledPlugin[]): void {
  for (const plugin of installed) {
    if (plugin.pluginApi === undefined) continue;
    if (semver.validRange(plugin.pluginApi) === null || !semver.satisfies(PLUGIN_API_VERSION, plugin.pluginApi)) {
      throw new ConfigError(
        `The plugin ${plugin.name} ${plugin.version} (${describeType(plugin.type)}) was made for strata's plugin API ${plugin.pluginApi}, and this strata offers ${PLUGIN_API_VERSION}.`,
        {
          code: 'plugin-api-mismatch',
          hint: plugin.type === 'core'
            ? 'Reinstall strata: its bundled plugins should match it.'
            : `Install a version made for this strata (\`strata plugins install ${plugin.name}\`), or remove it (\`strata plugins uninstall ${plugin.name}\`).`,
        },
      );
    }
  }
  if (required === undefined) return;
  if (typeof required !== 'object' || required === null || Array.isArray(required)) {
    throw new ConfigError(`environments.${envName}.plugins must map plugin names to semver ranges.`, {
      code: 'config-invalid',
      hint: 'Write it like `plugins: { "@strata/plugin-s3": "^0.1.0" }`.',
    });
  }
  for (const [name, range] of Object.entries(required)) {
    if (typeof range !== 'string' || semver.validRange(range) === null) {
      throw new ConfigError(`environments.${envName}.plugins["${name}"] is not a semver range: ${JSON.stringify(range)}.`, {
        code: 'config-invalid',
        hint: 'Use a range such as "^1.2.0", ">=1.0.0 <3" or "1.x".',
      });
    }
    const plugin = installed.find((p) => p.name === name);
    const install = `strata plugins install ${name}@"${range}"`;
    if (!plugin) {
      throw new ConfigError(`Environment "${envName}" needs the plugin ${name} ${range}, which is not installed.`, {
        code: 'plugin-missing',
        hint: `Install it: \`${install}\`.`,
      });
    }
    if (!semver.satisfies(plugin.version, range, { includePrerelease: true })) {
      throw new ConfigError(`Environment "${envName}" needs the plugin ${name} ${range}, and ${plugin.version} is installed (${describeType(plugin.type)}).`, {
        code: 'plugin-version-mismatch',
        hint: plugin.type === 'link'
          ? `Link a checkout of a matching version (\`strata plugins link <dir>\`), or install one: \`${install}\`.`
          : `Install a matching version: \`${install}\`.`,
      });
    }
  }
}

/** How people call a plugin of this oclif type: bundled, installed or linked. */
export function describeType(type: string): string {
  return type === 'core' ? 'bundled' : type === 'user' ? 'installed' : type === 'link' ? 'linked' : type;
}
