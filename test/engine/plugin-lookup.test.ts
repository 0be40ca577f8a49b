// The plugin lookup service called without a command, the way the typed API or a web dashboard
// would: oclif loads the workspace's real plugins (bundled in core's package.json), a fake plugin
// on disk stands in for a broken one, and the service gets only their list and `runHook`.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { Config, Plugin } from '@oclif/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig, resolveEnvironment, type LoadedConfig, type ResolvedEnvironment } from '../../packages/core/src/index.js';
import type { InstalledPlugin } from '../../packages/core/src/plugins/plugin-check.js';
import { findAnonymizer, findNotifiers, findStorage, type PluginHost } from '../../packages/core/src/plugins/plugin-lookup.js';
import { REPO_ROOT } from '../support/cli.js';

const FAKE = 'strata-plugin-fake';

let work: string;
let config: Config;

/** What the service gets: the plugins oclif loaded and its `runHook`, no Command. */
function host(): PluginHost {
  const plugins: InstalledPlugin[] = [...config.plugins.values()].map((p) => ({ name: p.name, version: p.version, type: p.type, root: p.root }));
  return { plugins, runHook: (event, options) => config.runHook(event, options) };
}

/** A project in the work folder with one environment `dev` on `storage`, plus `extra` at the top. */
async function project(name: string, storage: string, extra: Record<string, unknown> = {}, envExtra: Record<string, unknown> = {}): Promise<{ loaded: LoadedConfig; env: ResolvedEnvironment }> {
  const dir = path.join(work, name);
  await mkdir(path.join(dir, 'migrations/app'), { recursive: true });
  const file = path.join(dir, 'strata.config.json');
  await writeFile(
    file,
    JSON.stringify({ project: name, modules: { app: { migrations: './migrations/app' } }, environments: { dev: { database: 'postgres://127.0.0.1:1/none', storage, ...envExtra } }, ...extra }),
  );
  const loaded = await loadConfig({ configPath: file });
  return { loaded, env: resolveEnvironment(loaded, 'dev') };
}

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string; hint?: string; exitCode: number }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; message: string; hint?: string; exitCode: number };
  }
  throw new Error('expected the lookup to fail');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'strata-plugin-lookup-'));
  // A plugin that misbehaves on purpose, only for the schemes, projects and types it is told to.
  const fake = path.join(work, 'fake-plugin');
  await mkdir(path.join(fake, 'hooks'), { recursive: true });
  await writeFile(
    path.join(fake, 'package.json'),
    JSON.stringify({
      name: FAKE,
      version: '1.0.0',
      type: 'module',
      oclif: { hooks: { 'strata:storage': './hooks/storage.js', 'strata:transformer': './hooks/transformer.js', 'strata:notifier': './hooks/notifier.js' } },
    }),
  );
  await writeFile(
    path.join(fake, 'hooks/storage.js'),
    "export default async (o) => { if (o.url.startsWith('fail:')) throw new Error('the fake cannot reach it.'); return o.url.startsWith('broken:') ? { location: 'x' } : undefined; };\n",
  );
  await writeFile(path.join(fake, 'hooks/transformer.js'), "export default async (o) => { if (o.strataConfig.project === 'failing') throw new Error('no rules here'); return undefined; };\n");
  await writeFile(path.join(fake, 'hooks/notifier.js'), "export default async (o) => (o.target.type === 'junk' ? { junk: true } : undefined);\n");

  config = await Config.load({ root: path.join(REPO_ROOT, 'packages/core'), userPlugins: false });
  const plugin = new Plugin({ root: fake, type: 'link', name: FAKE });
  await plugin.load();
  config.plugins.set(plugin.name, plugin);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('findStorage', () => {
  it('gets the bundled local plugin\'s driver for a file:// URL, next to a broken plugin', async () => {
    expect(host().plugins.map((p) => p.name)).toEqual(expect.arrayContaining(['@strata/plugin-local', '@strata/plugin-s3', FAKE]));
    const { loaded, env } = await project('local', 'file://./snaps');
    const driver = await findStorage(host(), env, loaded.baseDir);
    expect(driver.location).toContain(path.join(work, 'local', 'snaps'));
    await driver.close?.();
  });

  it('says no plugin handles a scheme, without the password', async () => {
    const { loaded, env } = await project('ftp', 'ftp://backup:hunter2hunter2@files.example.com/strata');
    const error = await failure(findStorage(host(), env, loaded.baseDir));
    expect(error).toMatchObject({ code: 'storage-unsupported', exitCode: 4, message: expect.stringContaining('No installed plugin handles ftp storage') });
    expect(error.hint).toContain('strata plugins install');
    expect(JSON.stringify(error) + error.message).not.toContain('hunter2');
  });

  it('names a plugin that answers with something other than a driver', async () => {
    const { loaded, env } = await project('broken', 'broken://somewhere');
    const error = await failure(findStorage(host(), env, loaded.baseDir));
    expect(error).toMatchObject({ code: 'storage-plugin-invalid', exitCode: 4, message: `The plugin ${FAKE} returned something that is not a storage driver for broken://somewhere.` });
    expect(error.hint).toContain(`strata plugins uninstall ${FAKE}`);
  });

  it('names a plugin that failed, with its first line and the environment to check', async () => {
    const { loaded, env } = await project('failing_storage', 'fail://somewhere');
    const error = await failure(findStorage(host(), env, loaded.baseDir));
    expect(error).toMatchObject({
      code: 'storage-plugin-failed',
      exitCode: 4,
      message: `The storage plugin ${FAKE} failed to open fail://somewhere: the fake cannot reach it.`,
      hint: 'Check the storage settings of environment "dev"; DEBUG=1 shows the plugin\'s stack trace.',
    });
  });
});

describe('findAnonymizer', () => {
  it('gets the anonymize plugin\'s transformer, and reports the salt read from the environment as a secret', async () => {
    process.env.STRATA_LOOKUP_TEST_SALT = 'a-salt-nobody-sees';
    try {
      const { loaded, env } = await project('anon', 'file://./snaps', { anonymize: { salt: '${STRATA_LOOKUP_TEST_SALT}', tables: { person: { email: 'email' } } } });
      const secrets: string[] = [];
      const transformer = await findAnonymizer(host(), loaded, env, { onSecret: (value) => secrets.push(value) });
      expect(transformer.anonymizes).toBe(true);
      expect(secrets).toContain('a-salt-nobody-sees');
    } finally {
      delete process.env.STRATA_LOOKUP_TEST_SALT;
    }
  });

  it('says so when the config has no anonymize section', async () => {
    const { loaded, env } = await project('plain', 'file://./snaps');
    const error = await failure(findAnonymizer(host(), loaded, env));
    expect(error).toMatchObject({ code: 'anonymize-not-configured', exitCode: 2 });
  });

  it('names a transformer plugin that failed', async () => {
    const { loaded, env } = await project('failing', 'file://./snaps');
    const error = await failure(findAnonymizer(host(), loaded, env));
    expect(error).toMatchObject({
      code: 'transformer-plugin-failed',
      exitCode: 2,
      message: `The transformer plugin ${FAKE} failed to load its rules: no rules here.`,
      hint: 'Check the anonymize section of the config; DEBUG=1 shows the plugin\'s stack trace.',
    });
  });
});

describe('findNotifiers', () => {
  it('finds the notify plugin\'s notifier, and a warning for each target it cannot serve, in order', async () => {
    const targets = [
      { type: 'webhook', url: 'http://127.0.0.1:1/hook' },
      { type: 'pager' },
      { type: 'junk' },
      { type: 'webhook', url: '${STRATA_LOOKUP_TEST_UNSET}' },
      { type: 'webhook', url: 'http://127.0.0.1:1/only-failures', on: ['failed'] },
      { type: 'webhook', url: 'not a url' },
    ];
    const { env } = await project('notified', 'file://./snaps', {}, { notify: targets });
    const found = await findNotifiers(host(), env.name, targets as never, { wanted: (t) => t.on === undefined || t.on.includes('succeeded') });
    expect(found.map((f) => f.index)).toEqual([0, 1, 2, 3, 5]);
    expect(found[0]).toMatchObject({ where: 'environments.dev.notify[0]', target: targets[0] });
    expect(found[0]!.notifier?.description).toBeTypeOf('string');
    expect(found[0]!.warning).toBeUndefined();
    expect(found[1]!.warning).toBe('No installed plugin sends "pager" notifications (environments.dev.notify[1]); nothing was sent.');
    expect(found[2]!.warning).toBe(`The plugin ${FAKE} returned something that is not a notifier for a "junk" target (environments.dev.notify[2])`);
    expect(found[3]!.target).toBeUndefined();
    expect(found[3]).toMatchObject({ warning: expect.stringMatching(/^environments\.dev\.notify\[3\] was not notified: .*STRATA_LOOKUP_TEST_UNSET/) });
    // The notify plugin's own error (a StrataError of its copy) passes through as it said it.
    expect(found[4]!.notifier).toBeUndefined();
    expect(found[4]!.warning).toMatch(/notify\[5\]/);
    expect(found[4]!.warning).not.toMatch(/^The notifier plugin/);
  });
});
