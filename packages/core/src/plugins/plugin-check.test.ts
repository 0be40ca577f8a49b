import { describe, expect, it } from 'vitest';

import { ConfigError } from '../errors.js';
import { checkPlugins, PLUGIN_API_VERSION, type InstalledPlugin } from './plugin-check.js';

const installed: InstalledPlugin[] = [
  { name: '@strata/plugin-s3', version: '1.4.2', type: 'core', pluginApi: '^1.0.0' },
  { name: '@strata/plugin-anonymize', version: '2.0.0-beta.3', type: 'user' },
  { name: '@acme/plugin-gcs', version: '0.3.0', type: 'link', pluginApi: '>=1.0.0 <3' },
];

function failure(fn: () => void): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('checkPlugins', () => {
  it('passes when every required plugin is installed within its range, whatever its kind', () => {
    expect(() => checkPlugins('prod', { '@strata/plugin-s3': '^1.2.0', '@strata/plugin-anonymize': '>=2.0.0-beta.1', '@acme/plugin-gcs': '0.x' }, installed)).not.toThrow();
    expect(() => checkPlugins('dev', undefined, installed)).not.toThrow();
  });

  it('names the install command for a missing plugin', () => {
    const error = failure(() => checkPlugins('prod', { '@strata/plugin-notify': '^1.0.0' }, installed));
    expect(error.code).toBe('plugin-missing');
    expect(error.message).toBe('Environment "prod" needs the plugin @strata/plugin-notify ^1.0.0, which is not installed.');
    expect(error.hint).toContain('strata plugins install @strata/plugin-notify@"^1.0.0"');
  });

  it('says which version is installed when it is outside the range, and how to get a matching one', () => {
    const error = failure(() => checkPlugins('staging', { '@strata/plugin-s3': '^2.0.0' }, installed));
    expect(error.code).toBe('plugin-version-mismatch');
    expect(error.message).toContain('1.4.2 is installed (bundled)');
    expect(error.hint).toContain('strata plugins install @strata/plugin-s3@"^2.0.0"');
    const linked = failure(() => checkPlugins('staging', { '@acme/plugin-gcs': '^1.0.0' }, installed));
    expect(linked.hint).toContain('strata plugins link');
  });

  it('refuses a range that is not semver, naming the key', () => {
    const error = failure(() => checkPlugins('prod', { '@strata/plugin-s3': 'latest-and-greatest' }, installed));
    expect(error.message).toContain('environments.prod.plugins["@strata/plugin-s3"]');
  });

  it('refuses a plugin made for another plugin API, for every environment', () => {
    const old = [...installed, { name: '@acme/plugin-ftp', version: '3.0.0', type: 'user', pluginApi: `^${Number(PLUGIN_API_VERSION.split('.')[0]) + 1}.0.0` }];
    const error = failure(() => checkPlugins('dev', undefined, old));
    expect(error.code).toBe('plugin-api-mismatch');
    expect(error.message).toContain('@acme/plugin-ftp 3.0.0 (installed)');
    expect(error.hint).toContain('strata plugins uninstall @acme/plugin-ftp');
  });
});
