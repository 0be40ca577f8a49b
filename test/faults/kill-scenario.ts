// The kill -9 suite's machinery: one scenario starts a strata command as a real process paused at
// a fault point, kills it with SIGKILL, records what the server and the storage hold, runs the
// same command again and records that too. Each check is then its own test, named
// `<scenario> | <what is checked>` (docs/reliability.md lists them), and reads only those records:
// pg_database, pg_stat_activity, row checksums, files and objects; strata's output is used only
// where a check is about that output (`list`, `show latest`, `verify`).
//
// Scenarios of a file run two at a time (STRATA_FAULTS_CONCURRENCY), started from beforeAll; the
// tests wait for their own scenario, so the file takes about half as long as one after another.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { FaultPoint } from '../../packages/core/src/fault-point.js';
import { describeRun, type CliResult } from '../support/cli.js';
import { createTestBucket, type TestBucket } from '../support/s3.js';
import { createKillProject, ENVIRONMENTS, PROJECT, S3_PREFIX, unusedVars, type KillProject, type StorageKind } from './fixtures/kill-project.js';
import {
  createScenarioRole,
  databaseChecksums,
  fileStorageView,
  foldersWithManifest,
  foldersWithoutManifest,
  s3StorageView,
  type FolderListing,
  type ScenarioRole,
  type StorageView,
} from './support/checks.js';
import { startPaused } from './support/paused-run.js';

/** `STRATA_FAULTS=full` (`npm run faults`) runs every phase on both storages; otherwise the reduced set of `npm test`. */
export const FULL = process.env.STRATA_FAULTS === 'full';
const CONCURRENCY = Math.max(1, Number(process.env.STRATA_FAULTS_CONCURRENCY ?? 2));
/** A test waits for its scenario, which may wait for others: generous, since a hung one still ends here. */
const TEST_TIMEOUT_MS = 15 * 60_000;
/** Between the marker and SIGKILL (see runScenario). */
const SETTLE_MS = 300;

/** The storages and the role of one scenario. */
export interface ScenarioContext {
  project: KillProject;
  kind: StorageKind;
  role: ScenarioRole;
  /** The environment holding the snapshots, and the one receiving copies and promotions. */
  primary: string;
  secondary: string;
  /** The config's variables for this scenario (database URL as the role, folders, buckets). */
  vars: Record<string, string>;
  views: Record<string, StorageView>;
  /** Base snapshots (oldest first) copied into `primary` by `seed`. */
  baseIds: string[];
  /** Copies base snapshot `id` into environment `env`'s storage, as `strata copy` would leave it. */
  seed(env: string, id: string): Promise<void>;
  /** Runs `strata …args` with this scenario's variables. */
  strata(args: string[]): Promise<CliResult>;
  /** Registers clean-up for after the file's tests (databases, folders). */
  onCleanup(cleanup: () => Promise<void>): void;
}

/** What a command's scenario sets up, and what its own next run must have produced. */
export interface CommandPlan {
  /** The arguments of the command (the same for the killed run and the next one). */
  prepare(ctx: ScenarioContext): Promise<PreparedCommand>;
}

export interface PreparedCommand {
  args: string[];
  /** Environments whose `list`, `show latest` and `verify` are checked after the kill. */
  catalogues: string[];
  /** A database `--into` must leave unchanged: its URL (connecting as the admin). */
  intoUrl?: string;
  /** Asserts that the next run did its job (it exited 0 before this is called). */
  checkNextRun(ctx: ScenarioContext, outcome: KillOutcome): Promise<void>;
}

/** Everything recorded about one scenario. */
export interface KillOutcome {
  args: string[];
  point: FaultPoint;
  killed: { reachedError?: string; signal: NodeJS.Signals | null; result: CliResult };
  before: { folders: Record<string, FolderListing>; source: Record<string, string>; into?: Record<string, string> };
  afterKill: {
    folders: Record<string, FolderListing>;
    /** Databases owned by the scenario's role: every one a strata process of the scenario created. */
    databases: string[];
    /** Sessions of the role still open 15 s after the kill (the server had not noticed the death). */
    sessionsLeft: number;
    uploads: Record<string, string[] | undefined>;
    source: Record<string, string>;
    into?: Record<string, string>;
    catalogue: Record<string, { list: CliResult; latest: CliResult; verify: Record<string, CliResult> }>;
  };
  next: { result: CliResult; folders: Record<string, FolderListing>; databases: string[]; uploads: Record<string, string[] | undefined> };
  /** The command's own check of what its next run produced (`PreparedCommand.checkNextRun`). */
  checkNextRun(): Promise<void>;
}

/** A command, a point and a storage: one scenario. */
export interface KillCase {
  command: string;
  point: FaultPoint;
  kind: StorageKind;
  plan: CommandPlan;
}

/** `restore killed at restore:load (file://)`. */
export function scenarioName(c: Pick<KillCase, 'command' | 'point' | 'kind'>): string {
  return `${c.command} killed at ${c.point} (${c.kind === 'file' ? 'file://' : 's3://'})`;
}

/**
 * Registers a suite of kill scenarios in the calling test file: beforeAll builds the project
 * (source database, config, `baseSnapshots` snapshots) and starts every scenario; afterAll drops
 * every role, database, folder and bucket they made. Returns `scenario()` to register cases.
 */
export function killSuite(label: string, options: { baseSnapshots: number }): { scenario(c: KillCase): void } {
  const cases: Array<{ c: KillCase; outcome?: Promise<KillOutcome> }> = [];
  const cleanups: Array<() => Promise<void>> = [];
  let project: KillProject | undefined;
  let base: { dir: string; ids: string[] } | undefined;
  const limit = pLimit(CONCURRENCY);

  beforeAll(async ({}, file) => {
    // Only scenarios with a test that runs (`vitest -t …` skips the others) are worth their minute.
    const selected = selectedTests(file);
    const wanted = cases.filter((entry) => [...selected].some((name) => name.startsWith(`${scenarioName(entry.c)}${' | '}`)));
    if (wanted.length === 0) return;
    project = await createKillProject(label);
    base = await takeBaseSnapshots(project, options.baseSnapshots);
    for (const entry of wanted) {
      entry.outcome = limit(() => runScenario(entry.c, project!, base!, cleanups));
      // Awaited by the tests; this only keeps a failure from being reported as unhandled first.
      entry.outcome.catch(() => {});
    }
  }, 300_000);

  afterAll(async () => {
    // A scenario still running (a test timed out) must end before its role is dropped.
    await Promise.allSettled(cases.map((e) => e.outcome));
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    if (base) await rm(base.dir, { recursive: true, force: true });
    await project?.remove();
  }, 300_000);

  return {
    scenario(c) {
      const entry: { c: KillCase; outcome?: Promise<KillOutcome> } = { c };
      cases.push(entry);
      registerChecks(c, () => {
        if (!entry.outcome) throw new Error('the suite did not start (see the beforeAll error)');
        return entry.outcome;
      });
    },
  };
}

/** Names of the tests below `task` that will run (not skipped by a filter, not todo). */
function selectedTests(task: unknown): Set<string> {
  const names = new Set<string>();
  const walk = (t: { type?: string; mode?: string; name?: string; tasks?: unknown[] }): void => {
    if (t.type === 'test' && t.mode !== 'skip' && t.mode !== 'todo' && t.name) names.add(t.name);
    for (const child of t.tasks ?? []) walk(child as typeof t);
  };
  walk(task as Parameters<typeof walk>[0]);
  return names;
}

/** Takes `count` snapshots of the source into a folder of their own, to copy into each scenario's storages. */
async function takeBaseSnapshots(project: KillProject, count: number): Promise<{ dir: string; ids: string[] }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-faults-base-'));
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const result = await project.strata(['snapshot', '--env', 'local', '--description', `base ${i + 1}`, '--json'], {
      ...unusedVars(project.dir),
      LOCAL_DIR: dir,
      STRATA_DATABASE_URL: project.source.url,
    });
    expect(result.exitCode, describeRun(result)).toBe(0);
    ids.push(result.json<{ id: string }>().id);
  }
  return { dir, ids };
}

async function openContext(c: KillCase, project: KillProject, base: { dir: string; ids: string[] }, cleanups: Array<() => Promise<void>>): Promise<ScenarioContext> {
  const role = await createScenarioRole();
  cleanups.push(() => role.drop());
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-faults-run-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const [primary, secondary] = ENVIRONMENTS[c.kind];
  const vars: Record<string, string> = { ...unusedVars(dir), STRATA_DATABASE_URL: role.urlFor(project.source.name) };
  const views: Record<string, StorageView> = {};
  if (c.kind === 'file') {
    vars.LOCAL_DIR = path.join(dir, 'local');
    vars.LOCAL2_DIR = path.join(dir, 'local2');
    views[primary] = fileStorageView(vars.LOCAL_DIR, PROJECT, primary);
    views[secondary] = fileStorageView(vars.LOCAL2_DIR, PROJECT, secondary);
  } else {
    const buckets: TestBucket[] = [await createTestBucket(project.s3), await createTestBucket(project.s3)];
    for (const bucket of buckets) cleanups.push(() => bucket.drop());
    vars.S3_BUCKET = buckets[0]!.name;
    vars.S3_BUCKET2 = buckets[1]!.name;
    views[primary] = s3StorageView(buckets[0]!, S3_PREFIX, PROJECT, primary);
    views[secondary] = s3StorageView(buckets[1]!, S3_PREFIX, PROJECT, secondary);
  }
  return {
    project,
    kind: c.kind,
    role,
    primary,
    secondary,
    vars,
    views,
    baseIds: base.ids,
    async seed(env, id) {
      const from = path.join(base.dir, PROJECT, 'local', id);
      const entries = await readdir(from, { recursive: true, withFileTypes: true });
      for (const entry of entries.filter((e) => e.isFile())) {
        const absolute = path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
        const file = path.relative(from, absolute).split(path.sep).join('/');
        // The manifest last, as strata writes it: the folder is a snapshot only once it is there.
        if (file !== 'manifest.json') await views[env]!.write(id, file, await readFile(absolute));
      }
      await views[env]!.write(id, 'manifest.json', await readFile(path.join(from, 'manifest.json')));
    },
    strata: (args) => project.strata(args, vars),
    onCleanup: (cleanup) => cleanups.push(cleanup),
  };
}

async function foldersOf(ctx: ScenarioContext): Promise<Record<string, FolderListing>> {
  const out: Record<string, FolderListing> = {};
  for (const [env, view] of Object.entries(ctx.views)) out[env] = await view.folders();
  return out;
}

async function uploadsOf(ctx: ScenarioContext): Promise<Record<string, string[] | undefined>> {
  const out: Record<string, string[] | undefined> = {};
  for (const [env, view] of Object.entries(ctx.views)) out[env] = await view.openUploads();
  return out;
}

/** `list`, `show latest` and `verify` of every listed snapshot, for each environment (read-only, so at once). */
async function catalogueOf(ctx: ScenarioContext, envs: string[]): Promise<KillOutcome['afterKill']['catalogue']> {
  const out: KillOutcome['afterKill']['catalogue'] = {};
  await Promise.all(
    envs.map(async (env) => {
      const [list, latest] = await Promise.all([ctx.strata(['list', '--env', env, '--json']), ctx.strata(['show', 'latest', '--env', env, '--json'])]);
      const ids = list.exitCode === 0 ? list.json<Array<{ id: string }>>().map((s) => s.id) : [];
      const verify: Record<string, CliResult> = {};
      await Promise.all(ids.map(async (id) => (verify[id] = await ctx.strata(['verify', id, '--env', env, '--json']))));
      out[env] = { list, latest, verify };
    }),
  );
  return out;
}

async function runScenario(c: KillCase, project: KillProject, base: { dir: string; ids: string[] }, cleanups: Array<() => Promise<void>>): Promise<KillOutcome> {
  const started = Date.now();
  const lap = (what: string): void => {
    if (process.env.STRATA_FAULTS_TIMING) console.log(`[faults] ${scenarioName(c)}: ${what} at ${((Date.now() - started) / 1000).toFixed(1)} s`);
  };
  const ctx = await openContext(c, project, base, cleanups);
  const prepared = await c.plan.prepare(ctx);
  lap('prepared');
  const sourceUrl = project.source.url;
  const before = {
    folders: await foldersOf(ctx),
    source: await databaseChecksums(sourceUrl),
    ...(prepared.intoUrl ? { into: await databaseChecksums(prepared.intoUrl) } : {}),
  };

  const run = startPaused([...prepared.args, '--config', project.configPath], { point: c.point, cwd: project.dir, env: { STRATA_ENV: undefined, ...ctx.vars } });
  let reachedError: string | undefined;
  try {
    await run.reached;
  } catch (error) {
    reachedError = (error as Error).message;
  }
  // The point stops the phase's stream, not the rest of the process: an mkdir or a file open the
  // phase already started still completes. A moment's grace lets what the phase leaves behind
  // reach the disk, so what the kill leaves does not depend on a race with the libuv pool.
  if (!reachedError) await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  lap('paused');
  run.child.kill('SIGKILL');
  const result = await run.result;
  const killed = { ...(reachedError ? { reachedError } : {}), signal: run.child.signalCode, result };

  // The server ends a dead client's sessions once it notices the closed socket; the checks (and
  // the next run) come after that, as a user's next command would.
  const sessionsLeft = await ctx.role.waitForNoSessions();
  const afterKill = {
    folders: await foldersOf(ctx),
    databases: await ctx.role.databases(),
    sessionsLeft,
    uploads: await uploadsOf(ctx),
    source: await databaseChecksums(sourceUrl),
    ...(prepared.intoUrl ? { into: await databaseChecksums(prepared.intoUrl) } : {}),
    catalogue: await catalogueOf(ctx, prepared.catalogues),
  };

  lap('checked after the kill');
  const nextResult = await ctx.strata(prepared.args);
  lap('ran again');
  const next = { result: nextResult, folders: await foldersOf(ctx), databases: await ctx.role.databases(), uploads: await uploadsOf(ctx) };
  const outcome: KillOutcome = { args: prepared.args, point: c.point, killed, before, afterKill, next, checkNextRun: () => prepared.checkNextRun(ctx, outcome) };
  return outcome;
}

/** Every check starts here: a process that was not killed at its point proves nothing. */
function expectKilledAtPoint(o: KillOutcome): void {
  expect(o.killed.reachedError, `never paused at ${o.point}`).toBeUndefined();
  expect(o.killed.result.stderr.split('\n').map((l) => l.trim()), `no marker for ${o.point}`).toContain(`strata-test-paused-at ${o.point}`);
  expect(o.killed.signal, `strata ${o.args.join(' ')} was not ended by SIGKILL: ${describeRun(o.killed.result)}`).toBe('SIGKILL');
  expect(o.killed.result.exitCode).toBe(137);
}

/** Folders that appeared during the killed run and have no manifest after it: what it left half-made. */
export function partialFolders(o: KillOutcome): Array<{ env: string; folder: string }> {
  return Object.entries(o.afterKill.folders).flatMap(([env, listing]) =>
    foldersWithoutManifest(listing)
      .filter((folder) => JSON.stringify(o.before.folders[env]?.[folder]) !== JSON.stringify(listing[folder]))
      .map((folder) => ({ env, folder })),
  );
}

/** What the killed run left for someone to clean up: work databases, partial folders, open multipart uploads. */
function leftovers(o: KillOutcome): { databases: string[]; folders: Array<{ env: string; folder: string }>; uploads: string[] } {
  return {
    databases: o.afterKill.databases.filter((d) => d.startsWith('strata_tmp_')),
    folders: partialFolders(o),
    uploads: Object.values(o.afterKill.uploads).flatMap((u) => u ?? []),
  };
}

function registerChecks(c: KillCase, outcome: () => Promise<KillOutcome>): void {
  const name = scenarioName(c);
  const check = (what: string, body: (o: KillOutcome) => void | Promise<void>): void => {
    it(`${name} | ${what}`, async () => {
      const o = await outcome();
      expectKilledAtPoint(o);
      await body(o);
    }, TEST_TIMEOUT_MS);
  };

  describe(name, () => {
    check('the process paused at the point and died by SIGKILL', () => {});

    check('list and latest show no partial snapshot (each listed one has manifest.json in the storage)', (o) => {
      for (const [env, { list, latest }] of Object.entries(o.afterKill.catalogue)) {
        expect(list.exitCode, describeRun(list)).toBe(0);
        const listed = list.json<Array<{ id: string }>>().map((s) => s.id);
        const listing = o.afterKill.folders[env]!;
        expect([...listed].sort(), `${env}: list differs from the folders holding a manifest`).toEqual(foldersWithManifest(listing).sort());
        for (const partial of foldersWithoutManifest(listing)) expect(listed, `${env}: ${partial} has no manifest`).not.toContain(partial);
        if (listed.length > 0) {
          expect(latest.exitCode, describeRun(latest)).toBe(0);
          expect(latest.json<{ id: string }>().id, `${env}: latest is not the newest complete snapshot`).toBe(listed[0]);
        } else {
          expect(latest.exitCode, `${env}: latest answered with no snapshot listed: ${describeRun(latest)}`).not.toBe(0);
          for (const partial of foldersWithoutManifest(listing)) expect(latest.stdout).not.toContain(partial);
        }
      }
    });

    check('verify passes for every listed snapshot', (o) => {
      const runs = Object.entries(o.afterKill.catalogue).flatMap(([env, { verify }]) => Object.entries(verify).map(([id, run]) => ({ env, id, run })));
      expect(runs.length, 'no snapshot was listed to verify').toBeGreaterThan(0);
      for (const { env, id, run } of runs) expect(run.exitCode, `verify ${id} --env ${env}: ${describeRun(run)}`).toBe(0);
    });

    check('no database other than a strata_tmp_… one was created (pg_database, owned by the scenario\'s role)', (o) => {
      expect(o.afterKill.databases.filter((d) => !d.startsWith('strata_tmp_'))).toEqual([]);
    });

    check('the source database is unchanged (per-table checksums and sequences)', (o) => {
      expect(o.afterKill.source).toEqual(o.before.source);
    });

    if (c.command === 'restore --into') {
      check('the --into target is unchanged (per-table checksums and sequences)', (o) => {
        expect(o.before.into, 'no checksums of the --into target').toBeDefined();
        expect(o.afterKill.into).toEqual(o.before.into);
      });
    }

    check('the next run of the same command succeeds', async (o) => {
      expect(o.next.result.exitCode, describeRun(o.next.result)).toBe(0);
      await o.checkNextRun();
    });

    if (c.command === 'restore --into') {
      check('the killed run left no database and only its complete safety snapshot', async (o) => {
        expect(o.afterKill.databases).toEqual([]);
        expect(partialFolders(o)).toEqual([]);
        const added = Object.entries(o.afterKill.folders).flatMap(([env, listing]) =>
          Object.keys(listing).filter((f) => !(f in (o.before.folders[env] ?? {}))).map((folder) => ({ env, folder })),
        );
        expect(added.length, 'the killed run wrote no safety snapshot before its transaction').toBe(1);
        const catalogue = o.afterKill.catalogue[added[0]!.env]!;
        const summary = catalogue.list.json<Array<{ id: string; tags: string[] }>>().find((s) => s.id === added[0]!.folder);
        expect(summary?.tags, `${added[0]!.folder} is not a listed safety snapshot`).toContain('safety');
      });
    } else {
      check('the next run removes what the killed run left, at once (work databases, partial folders, open uploads)', (o) => {
        const left = leftovers(o);
        expect(left.databases.length + left.folders.length + left.uploads.length, `the killed run left nothing to clean up (s3rver lists no multipart uploads): ${JSON.stringify(o.afterKill.folders)}`).toBeGreaterThan(0);
        expect(o.afterKill.sessionsLeft, 'the server still had sessions of the killed process').toBe(0);
        expect(o.next.result.exitCode, describeRun(o.next.result)).toBe(0);
        // Any restore drops the dead work databases of the whole server, so on a shared test server
        // another file's restore may drop one first: the same code path, so the check still holds.
        expect(o.next.databases.filter((d) => d.startsWith('strata_tmp_')), 'work databases left after the next run').toEqual([]);
        for (const { env, folder } of left.folders) {
          const files = o.next.folders[env]?.[folder];
          if (files === undefined) continue;
          // The next run may finish the same snapshot (a copy keeps its id); then nothing may be left over in it.
          expect(files, `${env}/${folder} is still there without a manifest: ${JSON.stringify(files)}`).toContain('manifest.json');
          expect(files.filter((f) => f.endsWith('.strata-tmp')), `${env}/${folder} holds in-flight files`).toEqual([]);
        }
        for (const [env, uploads] of Object.entries(o.next.uploads)) expect(uploads ?? [], `${env}: multipart uploads left open`).toEqual([]);
      });
    }
  });
}

/** A unique database name for a restore or promotion (owned by the scenario's role once created). */
export function targetName(label: string): string {
  return `${PROJECT}_${label}_${randomBytes(4).toString('hex')}`;
}
