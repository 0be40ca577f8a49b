// The built `strata` CLI, run as a user runs it, for everything that needs no database: help,
// init, and the errors a user can cause before any data moves (one sentence, a hint, the right
// exit code, no stack trace, no password; with --json one JSON document on stdout).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(REPO, 'packages/core/bin/run.js');
const SECRET = 's3cret-Pa55';
const UNREACHABLE_URL = `postgres://u:${SECRET}@127.0.0.1:1/x`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let home: string;

/** Runs the built CLI with a clean environment: no DEBUG, no STRATA_ENV, plugins in a private home. */
function strata(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_CACHE_HOME: path.join(home, 'cache'),
    NO_COLOR: '1',
    // Under NODE_ENV=test (vitest's) oclif would run the TypeScript sources; test the build.
    NODE_ENV: 'production',
    OCLIF_DISABLE_LINKED_ESM_WARNING: '1',
    ...options.env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** A fresh directory that looks like an ESM app with @strata/core installed. */
async function project(name: string): Promise<string> {
  const dir = path.join(await mkdtemp(path.join(os.tmpdir(), 'strata-cli-')), name);
  await mkdir(path.join(dir, 'node_modules/@strata'), { recursive: true });
  await symlink(path.join(REPO, 'packages/core'), path.join(dir, 'node_modules/@strata/core'), 'dir');
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name, type: 'module', private: true }));
  return dir;
}

/** A JSON config (loads without TypeScript or @strata/core) with the given dev environment. */
async function jsonConfigProject(env: { database: string; storage: string }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-json-'));
  await mkdir(path.join(dir, 'migrations/app'), { recursive: true });
  const config = { project: 'cli_test', modules: { app: { migrations: './migrations/app' } }, environments: { dev: env, other: env } };
  await writeFile(path.join(dir, 'strata.config.json'), JSON.stringify(config));
  return dir;
}

/** Asserts the human error shape: exactly `Error: …` and `Hint: …` on stderr, nothing else. */
function expectHumanError(run: Run, exitCode: number): { message: string; hint: string } {
  const context = JSON.stringify(run);
  expect(run.code, context).toBe(exitCode);
  expect(run.stdout, context).toBe('');
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines, context).toHaveLength(2);
  expect(lines[0], context).toMatch(/^Error: [^\n]+[.)]$/);
  expect(lines[1], context).toMatch(/^Hint: \S/);
  expect(run.stderr, context).not.toMatch(/^\s+at /m);
  return { message: lines[0]!.slice('Error: '.length), hint: lines[1]!.slice('Hint: '.length) };
}

/** Asserts the --json error shape: one JSON document on stdout with code, message and hint. */
function expectJsonError(run: Run, exitCode: number): { code: string; message: string; hint: string } {
  const context = JSON.stringify(run);
  expect(run.code, context).toBe(exitCode);
  const doc = JSON.parse(run.stdout) as { error: { code: string; message: string; hint: string } };
  expect(Object.keys(doc), context).toEqual(['error']);
  expect(doc.error.code, context).toMatch(/^[a-z]+(-[a-z]+)*$/);
  expect(doc.error.message, context).not.toContain('\n');
  expect(typeof doc.error.hint, context).toBe('string');
  expect(run.stdout + run.stderr, context).not.toMatch(/^\s+at /m);
  return doc.error;
}

const temps: string[] = [];

beforeAll(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-home-'));
  temps.push(home);
});

afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});

describe('help', () => {
  const commands = [['init'], ['migrate', 'status'], ['migrate', 'up'], ['snapshot'], ['list'], ['show'], ['verify'], ['restore']];

  it.each(commands)('strata %s %s --help shows usage, global flags and examples', async (...words) => {
    const run = await strata([...words.filter(Boolean), '--help'], { cwd: os.tmpdir() });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`$ strata ${words.filter(Boolean).join(' ')}`);
    for (const flag of ['--json', '--config=PATH', '--env=NAME']) expect(run.stdout).toContain(flag);
    expect(run.stdout).toContain('EXAMPLES');
  });

  it('the root help lists every command and the migrate topic', async () => {
    const run = await strata(['--help'], { cwd: os.tmpdir() });
    expect(run.code).toBe(0);
    for (const word of ['init', 'list', 'restore', 'show', 'snapshot', 'verify', 'migrate', 'plugins']) expect(run.stdout).toMatch(new RegExp(`^  ${word}\\s`, 'm'));
  });
});

describe('strata init', () => {
  it('writes a starter config that loads, and refuses to overwrite it without --force', async () => {
    const dir = await project('My-Shop');
    temps.push(path.dirname(dir));
    const first = await strata(['init'], { cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('strata.config.ts');
    const text = await readFile(path.join(dir, 'strata.config.ts'), 'utf8');
    expect(text).toContain("import { defineConfig } from '@strata/core';");
    expect(text).toContain("project: 'my_shop'");
    expect(text).toContain('file://./.strata/snapshots');

    // The config loads: the command gets as far as connecting, and that failure is clean.
    const status = await strata(['migrate', 'status', '--json'], { cwd: dir, env: { DATABASE_URL: UNREACHABLE_URL } });
    const error = expectJsonError(status, 3);
    expect(error.code).toBe('database-unreachable');
    expect(error.message).toContain('127.0.0.1:1');
    expect(status.stdout + status.stderr).not.toContain(SECRET);

    const human = await strata(['migrate', 'status'], { cwd: dir, env: { DATABASE_URL: UNREACHABLE_URL } });
    expectHumanError(human, 3);
    expect(human.stderr).not.toContain(SECRET);

    // Without DATABASE_URL the starter falls back to a local database named after the project.
    expect(text).toContain("process.env.DATABASE_URL ? '${DATABASE_URL}' : 'postgres://localhost/my_shop_dev'");

    const again = await strata(['init'], { cwd: dir });
    const refused = expectHumanError(again, 2);
    expect(refused.message).toContain('strata.config.ts');
    expect(refused.hint).toContain('--force');
    expect(await readFile(path.join(dir, 'strata.config.ts'), 'utf8')).toBe(text);

    const forced = await strata(['init', '--force', '--json'], { cwd: dir });
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ project: 'my_shop', configPath: path.join(dir, 'strata.config.ts') });
  });
});

describe('user errors', () => {
  it('a missing config hints at strata init', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-empty-'));
    temps.push(dir);
    const human = expectHumanError(await strata(['list'], { cwd: dir }), 2);
    expect(human.hint).toContain('strata init');
    const json = expectJsonError(await strata(['list', '--json'], { cwd: dir }), 2);
    expect(json.code).toBe('config-not-found');
    const explicit = expectJsonError(await strata(['show', 'latest', '--json', '--config', 'nope/strata.config.ts'], { cwd: dir }), 2);
    expect(explicit.message).toContain('nope/strata.config.ts');
  });

  it('an unknown environment exits 2 and lists the known ones', async () => {
    const dir = await jsonConfigProject({ database: UNREACHABLE_URL, storage: 'file://./snaps' });
    temps.push(dir);
    const human = expectHumanError(await strata(['list', '--env', 'staging'], { cwd: dir }), 2);
    expect(human.message).toContain('"staging"');
    expect(human.hint).toContain('dev, other');
    const json = expectJsonError(await strata(['migrate', 'status', '--json'], { cwd: dir, env: { STRATA_ENV: 'prod' } }), 2);
    expect(json.code).toBe('environment-unknown');
  });

  it('a storage scheme no plugin handles is storage-unsupported, without the password', async () => {
    const dir = await jsonConfigProject({ database: UNREACHABLE_URL, storage: `ftp://backup:${SECRET}@files.example.com/strata` });
    temps.push(dir);
    const json = await strata(['list', '--json'], { cwd: dir });
    const error = expectJsonError(json, 4);
    expect(error.code).toBe('storage-unsupported');
    expect(error.message).toContain('ftp');
    expect(error.hint).toContain('strata plugins install');
    expect(json.stdout + json.stderr).not.toContain(SECRET);
    const human = await strata(['snapshot'], { cwd: dir });
    expectHumanError(human, 4);
    expect(human.stderr).not.toContain(SECRET);
  });

  it('the bundled file:// plugin serves storage: an empty folder lists no snapshots', async () => {
    const dir = await jsonConfigProject({ database: UNREACHABLE_URL, storage: 'file://./snaps' });
    temps.push(dir);
    const json = await strata(['list', '--json'], { cwd: dir });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([]);
    const human = await strata(['list'], { cwd: dir });
    expect(human.code).toBe(0);
    expect(human.stderr).toContain(`file://${dir}/snaps`);
  });

  it('a plugin that returns something other than a driver is named', async () => {
    const plugin = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-plugin-'));
    temps.push(plugin);
    await mkdir(path.join(plugin, 'hooks'));
    await writeFile(
      path.join(plugin, 'package.json'),
      JSON.stringify({ name: 'strata-plugin-broken', version: '1.0.0', type: 'module', oclif: { hooks: { 'strata:storage': './hooks/storage.js' } } }),
    );
    await writeFile(path.join(plugin, 'hooks/storage.js'), "export default async (o) => (o.url.startsWith('broken:') ? { location: 'x' } : undefined);\n");
    const link = await strata(['plugins', 'link', plugin, '--no-install'], { cwd: plugin });
    expect(link.code, link.stderr).toBe(0);
    try {
      const dir = await jsonConfigProject({ database: UNREACHABLE_URL, storage: 'broken://somewhere' });
      temps.push(dir);
      const error = expectJsonError(await strata(['list', '--json'], { cwd: dir }), 4);
      expect(error.code).toBe('storage-plugin-invalid');
      expect(error.message).toContain('strata-plugin-broken');
      // The other plugins keep working next to it.
      const ok = await jsonConfigProject({ database: UNREACHABLE_URL, storage: 'file://./snaps' });
      temps.push(ok);
      expect((await strata(['list', '--json'], { cwd: ok })).code).toBe(0);
    } finally {
      await strata(['plugins', 'unlink', 'strata-plugin-broken'], { cwd: plugin });
    }
  });

  it('a bad flag exits 2 without a stack trace, and as one JSON document with --json', async () => {
    const human = await strata(['list', '--bogus'], { cwd: os.tmpdir() });
    expect(human.code).toBe(2);
    expect(human.stderr).toContain('Nonexistent flag: --bogus');
    expect(human.stderr).not.toMatch(/^\s+at /m);
    const json = expectJsonError(await strata(['list', '--bogus', '--json'], { cwd: os.tmpdir() }), 2);
    expect(json.code).toBe('invalid-arguments');
  });

  it('restore --replace without a matching --confirm fails before anything else', async () => {
    // No config here at all: the missing confirmation is reported first.
    const empty = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-empty-'));
    temps.push(empty);
    const missing = expectJsonError(await strata(['restore', 'latest', '--replace', '--json'], { cwd: empty }), 2);
    expect(missing.code).toBe('invalid-arguments');
    expect(missing.message).toContain('--confirm');

    const dir = await jsonConfigProject({ database: UNREACHABLE_URL, storage: `ftp://x:${SECRET}@h/p` });
    temps.push(dir);
    // A wrong name is caught before storage is opened (ftp would fail with exit 4).
    const wrong = await strata(['restore', 'latest', '--replace', '--confirm', 'nope'], { cwd: dir });
    const error = expectHumanError(wrong, 2);
    expect(error.message).toContain('--confirm nope');
    expect(error.hint).toContain('--confirm x');
    expect(wrong.stderr).not.toContain(SECRET);

    const depends = await strata(['restore', 'latest', '--confirm', 'x'], { cwd: dir });
    expect(depends.code).toBe(2);
    expect(depends.stderr).toContain('--replace');
  });

  it('errors carry no stack trace unless DEBUG is set', async () => {
    const dir = await jsonConfigProject({ database: UNREACHABLE_URL, storage: 'ftp://h/p' });
    temps.push(dir);
    const debug = await strata(['list'], { cwd: dir, env: { DEBUG: '1' } });
    expect(debug.code).toBe(4);
    expect(debug.stderr).toMatch(/^Error: No installed plugin handles ftp storage/m);
    expect(debug.stderr).toMatch(/^\s+at /m);
  });
});
