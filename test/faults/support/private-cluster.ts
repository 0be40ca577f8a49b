// A PostgreSQL cluster of the test's own (initdb into a temp dir, a free port on 127.0.0.1), for
// faults that hit the whole server: a restart, a shutdown. The shared server on 127.0.0.1:5432
// serves every other test file and must never be restarted. As root, the cluster belongs to the
// `postgres` user (initdb refuses to run as root); as anyone else, to that user.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PrivateCluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  adminUrl: string;
  port: number;
  /** The cluster's data directory. */
  dataDir: string;
  /** `pg_ctl restart -m fast`: every session is terminated, the server is back when this resolves. */
  restart(): Promise<void>;
  /** `pg_ctl stop -m fast`: the server is down when this resolves (`start()` brings it back). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its directory. */
  remove(): Promise<void>;
}

/** Where initdb and pg_ctl are: `$STRATA_TEST_PG_BIN`, else the newest /usr/lib/postgresql/<v>/bin. */
async function findBinDir(): Promise<string | undefined> {
  const given = process.env.STRATA_TEST_PG_BIN;
  if (given) return existsSync(path.join(given, 'initdb')) ? given : undefined;
  const root = '/usr/lib/postgresql';
  const versions = await readdir(root).catch(() => [] as string[]);
  const found = versions
    .filter((v) => /^\d+$/.test(v) && existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return found[0] === undefined ? undefined : path.join(root, found[0], 'bin');
}

/** Why a private cluster cannot be started here, or undefined when it can. */
export async function privateClusterUnavailable(): Promise<string | undefined> {
  if (!(await findBinDir())) return 'no initdb (looked in $STRATA_TEST_PG_BIN and /usr/lib/postgresql/*/bin)';
  if (process.getuid?.() === 0) {
    try {
      await run('id', ['-u', 'postgres']);
    } catch {
      return 'running as root, and there is no postgres user to own a cluster (initdb refuses root)';
    }
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a fresh cluster; throws with the reason when `privateClusterUnavailable()` gives one. */
export async function startPrivateCluster(): Promise<PrivateCluster> {
  const unavailable = await privateClusterUnavailable();
  if (unavailable) throw new Error(`Cannot start a private PostgreSQL cluster: ${unavailable}.`);
  const bin = (await findBinDir())!;
  const asRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-pg-'));
  if (asRoot) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
    await chown(dir, uid, gid);
  }
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const tool = (name: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', path.join(bin, name), ...args]) : run(path.join(bin, name), args);

  await tool('initdb', ['-D', dataDir, '--auth=trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale', '--no-sync']);
  const port = await freePort();
  // Small and quick: nothing here needs durability, and the machine is shared.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB -c max_connections=40`;
  const start = async (): Promise<void> => {
    await tool('pg_ctl', ['-D', dataDir, '-o', options, '-l', logFile, '-w', 'start']);
  };
  const stop = async (): Promise<void> => {
    await tool('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
  };
  await start();
  return {
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    async restart() {
      await tool('pg_ctl', ['-D', dataDir, '-m', 'fast', '-l', logFile, '-w', 'restart']);
    },
    stop,
    start,
    async remove() {
      await tool('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
