// The kill -9 suite's machinery: one scenario starts a strata command as a real process paused at
// a fault point, kills it with SIGKILL, records what the server and the storage hold, runs the
// same command again and records that too. Each check is then its own test (kill-checks.ts), named
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
import { afterAll, beforeAll, expect } from 'vitest';

import type { FaultPoint } from '../../packages/core/src/fault-point.js';
import { describeRun, type CliResult } from '../support/cli.js';
import { createTestBucket, type TestBucket } from '../support/s3.js';
import { createKillProject, ENVIRONMENTS, PROJECT, S3_PREFIX, unusedVars, type KillProject, type StorageKind } from './fixtures/kill-project.js';
import {
  createScenarioRole,
  databaseChecksums,
  fileStorageView,
  s3StorageView,
  type FolderListing,
  type ScenarioRole,
  type StorageView,
} from './support/checks.js';
import { startPaused } from './support/paused-run.js';
import { registerChecks } from './kill-checks.js';

/** `STRATA_FAULTS=full` (`npm run faults`) runs every phase on both storages; otherwise the reduced set of `npm test`. */
export const FULL = process.env.STRATA_FAULTS === 'full';
const CONCURRENCY = Math.max(1, Number(process.env.STRATA_FAULTS_CONCURRENCY ?? 2));
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
      registerChecks(scenarioName(c), c.command, () => {
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

/** A unique database name for a restore or promotion (owned by the scenario's role once created). */
export function targetName(label: string): string {
  return `${PROJECT}_${label}_${randomBytes(4).toString('hex')}`;
}
