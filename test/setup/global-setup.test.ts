import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { chooseServer, dockerAnswers, isUnreachable, parseClusters, probeServer, redactUrl, withDatabase } from './global-setup.js';

const root = new URL('../..', import.meta.url).pathname;

describe('parseClusters', () => {
  it('reads pg_lsclusters rows and skips anything else', () => {
    const output = [
      '15  main    5432 online postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log',
      '16  test    5433 down   postgres /var/lib/postgresql/16/test /var/log/postgresql/postgresql-16-test.log',
      '14  replica 5434 online,recovery postgres /var/lib/postgresql/14/replica /var/log/x.log',
      'Ver Cluster Port Status Owner Data directory Log file',
      '',
    ].join('\n');
    expect(parseClusters(output)).toEqual([
      { version: '15', name: 'main', port: 5432, online: true },
      { version: '16', name: 'test', port: 5433, online: false },
      { version: '14', name: 'replica', port: 5434, online: true },
    ]);
  });
});

describe('URLs', () => {
  it('hides passwords in log lines', () => {
    expect(redactUrl('postgres://u:secret@h:5432/postgres')).toBe('postgres://u:***@h:5432/postgres');
    expect(redactUrl('postgres://u@h/postgres')).toBe('postgres://u@h/postgres');
    expect(redactUrl('not a url')).not.toContain('not a url');
  });

  it('points a URL at the maintenance database', () => {
    expect(withDatabase('postgres://test:pw@localhost:32768/test?sslmode=disable')).toBe('postgres://test:pw@localhost:32768/postgres?sslmode=disable');
  });
});

describe('probeServer', () => {
  it('tells "nothing listens" from "it answered"', async () => {
    const closed = await probeServer('postgres://postgres@127.0.0.1:1/postgres');
    expect('error' in closed && isUnreachable(closed.error)).toBe(true);

    const wrongRole = await probeServer(withDatabase(inject('adminDatabaseUrl')).replace(/\/\/[^@/]*@/, '//no_such_role_strata@'));
    if ('error' in wrongRole) expect(isUnreachable(wrongRole.error)).toBe(false);
  });
});

describe('dockerAnswers', () => {
  const sockets = new Set<Socket>();
  let silent: Server | undefined;
  afterAll(() => {
    for (const socket of sockets) socket.destroy();
    silent?.close();
  });

  it('gives up on a Docker host that accepts connections and never answers', async () => {
    silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    if (!address || typeof address === 'string') throw new Error('no port');

    const started = Date.now();
    const env = { ...process.env, DOCKER_HOST: `tcp://127.0.0.1:${address.port}` };
    expect(await dockerAnswers(root, env, 2_000)).toBe(false);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('chooseServer', () => {
  it('uses STRATA_TEST_DATABASE_URL when set', async () => {
    const url = inject('adminDatabaseUrl');
    const server = await chooseServer(root, { STRATA_TEST_DATABASE_URL: url });
    expect(server.url).toBe(withDatabase(url, new URL(url).pathname.slice(1)));
    expect(server.source).toMatch(/^STRATA_TEST_DATABASE_URL .*PostgreSQL \d+/);
    expect(server.dedicated).toBe(false);
  });

  it('fails in one clear sentence when STRATA_TEST_DATABASE_URL does not answer, without leaking the password', async () => {
    const attempt = chooseServer(root, { STRATA_TEST_DATABASE_URL: 'postgres://u:hunter2@127.0.0.1:1/postgres' });
    await expect(attempt).rejects.toThrow(/^STRATA_TEST_DATABASE_URL \(postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/postgres\) does not answer/);
    await expect(attempt).rejects.not.toThrow(/hunter2/);
  });

  it('rejects a malformed STRATA_TEST_DATABASE_URL', async () => {
    await expect(chooseServer(root, { STRATA_TEST_DATABASE_URL: 'localhost:5432' })).rejects.toThrow(/not a valid URL/);
  });
});
