// The S3 storage plugin reaches the CLI three ways: bundled as a core plugin, linked from a
// checkout (`strata plugins link`), and installed from a package (`strata plugins install`). Each
// way is proven by the plugin list and by a command that needs the driver working against s3rver.
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { describeRun, REPO_ROOT, runStrata, type CliResult } from '../support/cli.js';

const run = promisify(execFile);
const PLUGIN = '@strata/plugin-s3';
const PLUGIN_DIR = path.join(REPO_ROOT, 'packages/plugin-s3');
const BUCKET = `strata-plugins-${process.pid}`;

interface PluginEntry {
  name: string;
  type: string;
  root: string;
}

let work: string;
let configPath: string;

/** Runs the CLI with its own plugin data folder, so nothing the user installed takes part. */
function strataIn(dataDir: string, args: string[]): Promise<CliResult> {
  return runStrata(args, {
    cwd: work,
    timeoutMs: 180_000,
    env: {
      STRATA_DATA_DIR: dataDir,
      STRATA_CACHE_DIR: path.join(dataDir, 'cache'),
      STRATA_CONFIG_DIR: path.join(dataDir, 'config'),
      // `plugins install` runs npm; the packages it needs are in npm's cache after `npm ci`.
      npm_config_prefer_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
    },
  });
}

async function plugins(dataDir: string): Promise<PluginEntry[]> {
  const result = await strataIn(dataDir, ['plugins', '--core', '--json']);
  expect(result.exitCode, describeRun(result)).toBe(0);
  // Bundled plugins load through node_modules' workspace symlink: compare real paths.
  return result.json<PluginEntry[]>().map(({ name, type, root }) => ({ name, type, root: realpathSync(root) }));
}

/** `strata list --env s3` works only when some installed plugin handles s3:// URLs. */
async function expectS3Works(dataDir: string): Promise<void> {
  const result = await strataIn(dataDir, ['list', '--env', 's3', '--json', '--config', configPath]);
  expect(result.exitCode, describeRun(result)).toBe(0);
  expect(result.json()).toEqual([]);
}

beforeAll(async () => {
  const [server] = inject('s3Servers');
  if (!server) throw new Error('no S3 server');
  work = await mkdtemp(path.join(os.tmpdir(), 'strata-plugins-'));
  const client = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  client.destroy();
  await mkdir(path.join(work, 'migrations'));
  configPath = path.join(work, 'strata.config.json');
  const config = {
    project: 'plugins',
    modules: { app: { migrations: './migrations' } },
    environments: {
      pinned: {
        database: 'postgres://unused@127.0.0.1:1/unused',
        storage: 'file://./snapshots',
        plugins: { '@strata/plugin-s3': '^0.1.0', '@strata/plugin-local': '>=0.1.0' },
      },
      'needs-newer': {
        database: 'postgres://unused@127.0.0.1:1/unused',
        storage: 'file://./snapshots',
        plugins: { '@strata/plugin-s3': '^9.0.0' },
      },
      'needs-missing': {
        database: 'postgres://unused@127.0.0.1:1/unused',
        storage: 'file://./snapshots',
        plugins: { '@acme/strata-plugin-gcs': '^1.0.0' },
      },
      s3: {
        database: 'postgres://unused@127.0.0.1:1/unused',
        storage: {
          url: `s3://${BUCKET}/snapshots`,
          endpoint: server.endpoint,
          region: server.region,
          forcePathStyle: true,
          credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
        },
      },
    },
  };
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the S3 plugin', () => {
  it('is bundled as a core plugin', async () => {
    const dataDir = path.join(work, 'bundled');
    const entry = (await plugins(dataDir)).find((p) => p.name === PLUGIN);
    expect(entry).toMatchObject({ type: 'core', root: PLUGIN_DIR });
    await expectS3Works(dataDir);
  });

  it('can be linked from a checkout, and then the linked copy is the one loaded', async () => {
    const dataDir = path.join(work, 'linked');
    const linked = await strataIn(dataDir, ['plugins', 'link', PLUGIN_DIR, '--no-install']);
    expect(linked.exitCode, describeRun(linked)).toBe(0);
    const entries = (await plugins(dataDir)).filter((p) => p.name === PLUGIN);
    expect(entries).toEqual([{ name: PLUGIN, type: 'link', root: PLUGIN_DIR }]);
    await expectS3Works(dataDir);
  });

  it('can be installed from a package, and runs without core next to it', async () => {
    const dataDir = path.join(work, 'installed');
    const packDir = path.join(work, 'pack');
    await run('npm', ['pack', '--silent', '--pack-destination', packDir], { cwd: PLUGIN_DIR, env: { ...process.env, npm_config_fund: 'false' } }).catch(
      async () => {
        // --pack-destination needs the folder to exist on some npm versions.
        await run('mkdir', ['-p', packDir]);
        await run('npm', ['pack', '--silent', '--pack-destination', packDir], { cwd: PLUGIN_DIR });
      },
    );
    const { version } = (await import(path.join(PLUGIN_DIR, 'package.json'), { with: { type: 'json' } })).default as { version: string };
    const tarball = path.join(packDir, `strata-plugin-s3-${version}.tgz`);
    // The plugin depends on @strata/contracts, which is not published: pack it too and install it
    // into the plugin data folder first, where npm then finds it for the plugin's dependency.
    const contractsDir = path.join(REPO_ROOT, 'packages/contracts');
    await run('npm', ['pack', '--silent', '--pack-destination', packDir], { cwd: contractsDir });
    const contracts = (await import(path.join(contractsDir, 'package.json'), { with: { type: 'json' } })).default as { version: string };
    await mkdir(dataDir, { recursive: true });
    // The package.json `strata plugins install` starts from, so npm installs here and not above.
    await writeFile(path.join(dataDir, 'package.json'), JSON.stringify({ private: true, oclif: { schema: 1, plugins: [] }, dependencies: {} }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', `file:${path.join(packDir, `strata-contracts-${contracts.version}.tgz`)}`], { cwd: dataDir });

    const installed = await strataIn(dataDir, ['plugins', 'install', `file:${tarball}`]);
    expect(installed.exitCode, describeRun(installed)).toBe(0);
    const entries = (await plugins(dataDir)).filter((p) => p.name === PLUGIN);
    expect(entries).toEqual([{ name: PLUGIN, type: 'user', root: path.join(dataDir, 'node_modules', PLUGIN) }]);
    await expectS3Works(dataDir);

    const removed = await strataIn(dataDir, ['plugins', 'uninstall', PLUGIN]);
    expect(removed.exitCode, describeRun(removed)).toBe(0);
    expect((await plugins(dataDir)).find((p) => p.name === PLUGIN)?.type).toBe('core');
  });
});

describe('plugins an environment needs', () => {
  it('runs when every named plugin is installed within its range', async () => {
    const result = await strataIn(path.join(work, 'pinned'), ['list', '--env', 'pinned', '--json', '--config', configPath]);
    expect(result.exitCode, describeRun(result)).toBe(0);
  });

  it('refuses, with the install command, when a plugin is outside its range or missing', async () => {
    const newer = await strataIn(path.join(work, 'pinned'), ['list', '--env', 'needs-newer', '--json', '--config', configPath]);
    expect(newer.exitCode, describeRun(newer)).toBe(2);
    expect(newer.json().error).toMatchObject({ code: 'plugin-version-mismatch', hint: expect.stringContaining('strata plugins install @strata/plugin-s3@"^9.0.0"') });
    const missing = await strataIn(path.join(work, 'pinned'), ['snapshot', '--env', 'needs-missing', '--config', configPath]);
    expect(missing.exitCode, describeRun(missing)).toBe(2);
    expect(missing.stderr).toContain('Environment "needs-missing" needs the plugin @acme/strata-plugin-gcs ^1.0.0, which is not installed.');
    expect(missing.stderr).toContain('strata plugins install @acme/strata-plugin-gcs@"^1.0.0"');
  });

  it('refuses any environment while a plugin made for another plugin API is installed', async () => {
    const dataDir = path.join(work, 'old-api');
    const pluginDir = path.join(work, 'old-api-plugin');
    await mkdir(pluginDir, { recursive: true });
    await writeFile(
      path.join(pluginDir, 'package.json'),
      JSON.stringify({ name: '@acme/strata-plugin-old', version: '3.0.0', type: 'module', oclif: {}, strata: { pluginApi: '^9.0.0' } }),
    );
    const linked = await strataIn(dataDir, ['plugins', 'link', pluginDir, '--no-install']);
    expect(linked.exitCode, describeRun(linked)).toBe(0);
    const result = await strataIn(dataDir, ['list', '--env', 'pinned', '--json', '--config', configPath]);
    expect(result.exitCode, describeRun(result)).toBe(2);
    expect(result.json().error).toMatchObject({ code: 'plugin-api-mismatch', message: expect.stringContaining('@acme/strata-plugin-old 3.0.0 (linked)') });
  });
});
