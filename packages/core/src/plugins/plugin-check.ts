import semver from 'semver';

import { ConfigError } from '../errors.js';
import { pluginProblem, type InstalledPlugin } from './plugin-problems.js';

export { describeType, type InstalledPlugin } from './plugin-problems.js';

/**
 * The version of the contracts core offers plugins (storage, transformer, notifier hooks and their
 * types). A plugin declares the range it was made for in its package.json:
 * `"strata": { "pluginApi": "^1.0.0" }`; a plugin whose range excludes this version is refused.
 */
export const PLUGIN_API_VERSION = '1.0.0';

/**
 * Refuses to go on for environment `envName` when a plugin it names (`plugins: { name: range }`)
 * is missing or outside its range, or when an installed strata plugin was made for another plugin
 * API. The error says which command installs what is needed.
 */
export function checkPlugins(envName: string, required: unknown, installed: InstalledPlugin[]): void {
  for (const plugin of installed) {
    if (plugin.pluginApi === undefined) continue;
    if (semver.validRange(plugin.pluginApi) === null || !semver.satisfies(PLUGIN_API_VERSION, plugin.pluginApi)) {
      throw pluginProblem({ kind: 'wrong-version', plugin, pluginApi: plugin.pluginApi, offered: PLUGIN_API_VERSION });
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
    if (!plugin) throw pluginProblem({ kind: 'not-installed', environment: envName, name, range });
    if (!semver.satisfies(plugin.version, range, { includePrerelease: true })) {
      throw pluginProblem({ kind: 'wrong-version', environment: envName, plugin, range });
    }
  }
}
