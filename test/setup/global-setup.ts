// Finds the PostgreSQL server the whole test run uses and hands its maintenance URL to the tests
// (`inject('adminDatabaseUrl')`). Order: STRATA_TEST_DATABASE_URL, a throwaway testcontainers
// `postgres:15` when a Docker engine answers, the local server on 127.0.0.1:5432 (starting a
// stopped Debian cluster if need be). Anything else ends in one message saying what to install.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { redactUrl } from '../../packages/core/src/errors.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of a PostgreSQL server's maintenance database, for creating per-test databases. */
    adminDatabaseUrl: string;
  }
}

const run = promisify(execFile);

/** Prefix of every database the test support creates (see test/support/database.ts). */
export const TEST_DATABASE_PREFIX = 'strata_test_';
/** The local server tried when nothing else is configured. */
export const LOCAL_SERVER_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
/** A silent Docker host (a dead DOCKER_HOST, a hung VM) never answers; don't wait on it. */
const DOCKER_PROBE_TIMEOUT_MS = 5_000;
const CONTAINER_STARTUP_TIMEOUT_MS = 120_000;
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * Advisory lock key held (shared) by every run for its whole duration, so a run's teardown can
 * see whether another run is using the same server before it drops anything.
 */
const RUN_LOCK_KEY: readonly [number, number] = [0x5354_5241, 0x7465_7374]; // 'STRA', 'test'

/** The server chosen for this run. */
export interface ChosenServer {
  /** Maintenance-database URL handed to the tests. */
  url: string;
  /** One human phrase: where the server came from. */
  source: string;
  /** True when the server exists only for this run (a container), so no cleanup is needed. */
  dedicated: boolean;
  /** Stops what this run started for itself. */
  stop?: () => Promise<void>;
}

/** One row of `pg_lsclusters`. */
export interface DebianCluster {
  version: string;
  name: string;
  port: number;
  online: boolean;
}

// Passwords are hidden the way strata itself hides them.
export { redactUrl };

/** Same server, another database (the maintenance database `postgres` by default). */
export function withDatabase(url: string, database = 'postgres'): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Parses `pg_lsclusters --no-header` output; unknown lines are skipped. */
export function parseClusters(output: string): DebianCluster[] {
  const clusters: DebianCluster[] = [];
  for (const line of output.split('\n')) {
    const [version, name, port, status] = line.trim().split(/\s+/);
    if (!version || !name || !port || !status || !/^\d+(\.\d+)?$/.test(version) || !/^\d+$/.test(port)) continue;
    clusters.push({ version, name, port: Number(port), online: status.startsWith('online') });
  }
  return clusters;
}

/** Connects once and returns the server version, or the error. */
export async function probeServer(url: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<{ version: string } | { error: Error }> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  // A server that drops us mid-handshake emits 'error' on the client; the rejected promise below
  // already carries it.
  client.on('error', () => {});
  try {
    await client.connect();
    const result = await client.query<{ server_version: string }>('SHOW server_version');
    return { version: result.rows[0]?.server_version ?? 'unknown' };
  } catch (error) {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  } finally {
    await client.end().catch(() => {});
  }
}

/** True for "nothing listens there" (as opposed to "it answered and said no"). */
export function isUnreachable(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH'
    || /timeout|terminated unexpectedly|starting up/i.test(error.message);
}

/**
 * Asks testcontainers whether a container runtime answers, in a child process that is killed
 * after `timeoutMs`: testcontainers' own probe can hang forever on a silent Docker host, and a
 * hung promise here would also keep the test process alive.
 */
export async function dockerAnswers(cwd: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = DOCKER_PROBE_TIMEOUT_MS): Promise<boolean> {
  const script = "import('testcontainers').then((m) => m.getContainerRuntimeClient()).then(() => process.exit(0), () => process.exit(1))";
  try {
    await run(process.execPath, ['--input-type=module', '-e', script], { cwd, env, timeout: timeoutMs, killSignal: 'SIGKILL' });
    return true;
  } catch {
    return false;
  }
}

async function startContainer(): Promise<ChosenServer> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:15').withStartupTimeout(CONTAINER_STARTUP_TIMEOUT_MS).start();
  return {
    url: withDatabase(container.getConnectionUri()),
    source: `testcontainers postgres:15 (container ${container.getId().slice(0, 12)})`,
    dedicated: true,
    stop: async () => {
      await container.stop();
    },
  };
}

async function listClusters(): Promise<DebianCluster[] | undefined> {
  try {
    const { stdout } = await run('pg_lsclusters', ['--no-header'], { timeout: 10_000 });
    return parseClusters(stdout);
  } catch {
    return undefined; // not a Debian-packaged PostgreSQL
  }
}

async function waitForServer(url: string, deadlineMs: number): Promise<{ version: string } | { error: Error }> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const result = await probeServer(url);
    if ('version' in result || !isUnreachable(result.error) || Date.now() > deadline) return result;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

/**
 * The local server: 127.0.0.1:5432 as postgres, then any online Debian cluster on another port,
 * then a stopped Debian cluster started with `pg_ctlcluster` (left running afterwards: other runs
 * may share it). Returns the reasons it failed instead of throwing, for the final message.
 */
export async function findLocalServer(localUrl = LOCAL_SERVER_URL): Promise<ChosenServer | { reasons: string[] }> {
  const reasons: string[] = [];
  const { host, port: portText } = new URL(localUrl);
  const localPort = Number(portText || 5432);
  const first = await probeServer(localUrl);
  if ('version' in first) return { url: localUrl, source: `local server ${host} (PostgreSQL ${first.version})`, dedicated: false };
  reasons.push(`${host}: ${first.error.message}`);
  // It answered and said no (wrong password, no such role): starting clusters will not help.
  if (!isUnreachable(first.error)) return { reasons };

  const clusters = await listClusters();
  if (!clusters) return { reasons };
  const urlFor = (cluster: DebianCluster): string => `postgres://postgres@127.0.0.1:${cluster.port}/postgres`;

  for (const cluster of clusters.filter((c) => c.online && c.port !== localPort)) {
    const result = await probeServer(urlFor(cluster));
    if ('version' in result) return { url: urlFor(cluster), source: `local cluster ${cluster.version}/${cluster.name} on 127.0.0.1:${cluster.port} (PostgreSQL ${result.version})`, dedicated: false };
    reasons.push(`cluster ${cluster.version}/${cluster.name} on port ${cluster.port}: ${result.error.message}`);
  }

  // Prefer the stopped cluster on the expected port.
  const stopped = clusters.filter((c) => !c.online).sort((a, b) => Number(b.port === localPort) - Number(a.port === localPort));
  for (const cluster of stopped) {
    try {
      await run('pg_ctlcluster', [cluster.version, cluster.name, 'start'], { timeout: 60_000 });
    } catch (error) {
      const err = error as Error & { stderr?: string };
      reasons.push(`pg_ctlcluster ${cluster.version} ${cluster.name} start failed: ${(err.stderr || err.message).trim()}`);
      continue;
    }
    const result = await waitForServer(urlFor(cluster), 15_000);
    if ('version' in result) {
      return {
        url: urlFor(cluster),
        source: `local cluster ${cluster.version}/${cluster.name} on 127.0.0.1:${cluster.port}, started with pg_ctlcluster (PostgreSQL ${result.version}; left running)`,
        dedicated: false,
      };
    }
    reasons.push(`cluster ${cluster.version}/${cluster.name} started but did not answer: ${result.error.message}`);
  }
  return { reasons };
}

/** Runs the discovery order; throws one clear message when nothing is usable. */
export async function chooseServer(root: string, env: NodeJS.ProcessEnv = process.env): Promise<ChosenServer> {
  const explicit = env.STRATA_TEST_DATABASE_URL?.trim();
  if (explicit) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(explicit);
    } catch {
      // reported below
    }
    if (!parsed || !['postgres:', 'postgresql:'].includes(parsed.protocol)) {
      throw new Error('STRATA_TEST_DATABASE_URL is not a valid URL; expected postgres://user[:password]@host:port/postgres.');
    }
    const url = withDatabase(explicit, parsed.pathname.slice(1) || 'postgres');
    const result = await probeServer(url);
    if ('error' in result) {
      throw new Error(`STRATA_TEST_DATABASE_URL (${redactUrl(url)}) does not answer: ${result.error.message}. Fix the URL or unset it to let the tests find a server.`);
    }
    return { url, source: `STRATA_TEST_DATABASE_URL ${redactUrl(url)} (PostgreSQL ${result.version})`, dedicated: false };
  }

  const reasons: string[] = [];
  if (env.STRATA_TEST_DOCKER === '0') {
    reasons.push('Docker: skipped (STRATA_TEST_DOCKER=0)');
  } else if (await dockerAnswers(root, env)) {
    try {
      return await startContainer();
    } catch (error) {
      reasons.push(`Docker answered but postgres:15 did not start: ${(error as Error).message}`);
    }
  } else {
    reasons.push(`Docker: no container engine answered within ${DOCKER_PROBE_TIMEOUT_MS / 1000} s`);
  }

  const local = await findLocalServer();
  if ('url' in local) return local;
  reasons.push(...local.reasons);

  throw new Error(
    'No PostgreSQL server for the tests. Install and start a PostgreSQL server on 127.0.0.1:5432 that accepts user postgres '
      + '(e.g. `apt-get install postgresql`), or start a Docker engine (the tests then run postgres:15 with testcontainers), '
      + 'or set STRATA_TEST_DATABASE_URL=postgres://user:password@host:5432/postgres.\n'
      + reasons.map((reason) => `  - ${reason}`).join('\n'),
  );
}

async function listTestDatabases(client: pg.Client): Promise<Set<string>> {
  const result = await client.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE starts_with(datname, $1)',
    [TEST_DATABASE_PREFIX],
  );
  return new Set(result.rows.map((row) => row.datname));
}

/**
 * Remembers which test databases existed before this run and holds the shared run lock; the
 * returned function drops the test databases that appeared since, unless another run on the same
 * server still holds the lock (then its databases cannot be told apart from ours, so nothing is
 * dropped). Each test drops its own database; this only catches leftovers of crashed tests.
 */
async function guardLeftovers(url: string): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  client.on('error', () => {});
  await client.connect();
  await client.query('SELECT pg_advisory_lock_shared($1, $2)', [...RUN_LOCK_KEY]);
  const before = await listTestDatabases(client);

  return async () => {
    try {
      const others = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_locks
          WHERE locktype = 'advisory' AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 2
            AND pid <> pg_backend_pid()`,
        [...RUN_LOCK_KEY],
      );
      const leftovers = [...(await listTestDatabases(client))].filter((name) => !before.has(name));
      if (leftovers.length === 0) return;
      if (Number(others.rows[0]?.n ?? 0) > 0) {
        console.log(`[strata tests] ${leftovers.length} test database(s) left over, not dropped: another test run is using this server.`);
        return;
      }
      for (const name of leftovers) {
        await client.query(`DROP DATABASE IF EXISTS "${name.replaceAll('"', '""')}" WITH (FORCE)`);
      }
      console.log(`[strata tests] dropped ${leftovers.length} test database(s) left over by this run: ${leftovers.join(', ')}`);
    } finally {
      await client.end().catch(() => {});
    }
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await chooseServer(project.config.root);
  let dropLeftovers: (() => Promise<void>) | undefined;
  try {
    if (!server.dedicated) dropLeftovers = await guardLeftovers(server.url);
  } catch (error) {
    await server.stop?.();
    throw error;
  }
  console.log(`[strata tests] PostgreSQL: ${server.source}`);
  project.provide('adminDatabaseUrl', server.url);

  return async () => {
    try {
      await dropLeftovers?.();
    } finally {
      await server.stop?.();
    }
  };
}
