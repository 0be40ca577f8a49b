// Every error a user can cause ends in one sentence, a hint, a non-zero exit code and no stack
// trace; a failed restore leaves no database behind; a password is never printed.
import { cp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { seedShop } from '../../examples/shop/seed.js';
import { createTestDatabase, dropDatabase, type TestDatabase } from '../support/database.js';
import {
  SHOP_MIGRATIONS,
  expectUserError,
  listFiles,
  restoreLeftovers,
  strata,
  strataJson,
  takeSnapshot,
  tempDir,
  type ShopTarget,
} from './shop-fixture.js';

const SECRET = 'Sup3r-Secret-Pa55word';

let source: TestDatabase;
let base: Awaited<ReturnType<typeof tempDir>>;
let id: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  source = await createTestDatabase('errors');
  base = await tempDir();
  const target: ShopTarget = { databaseUrl: source.url, snapshotDir: base.path };
  await strataJson(target, ['migrate', 'up']);
  await seedShop(source.url);
  id = await takeSnapshot(target, 'errors e2e');
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  await source?.drop();
  await base?.remove();
});

/** A private copy of the snapshot folder, to damage without affecting other tests. */
async function copyOfSnapshots(): Promise<{ target: ShopTarget; snapshotFolder: string; manifestFile: string; dataFile(table: string): Promise<string> }> {
  const dir = await tempDir();
  cleanups.push(dir.remove);
  await cp(base.path, dir.path, { recursive: true });
  const files = await listFiles(dir.path);
  const manifestFile = files.find((f) => f.endsWith(`${path.sep}${id}${path.sep}manifest.json`));
  expect(manifestFile, `no manifest.json for ${id} among ${files.join(', ')}`).toBeDefined();
  const snapshotFolder = path.dirname(manifestFile!);
  return {
    target: { databaseUrl: source.url, snapshotDir: dir.path },
    snapshotFolder,
    manifestFile: manifestFile!,
    async dataFile(table) {
      const manifest = JSON.parse(await readFile(manifestFile!, 'utf8'));
      const entry = manifest.tables.find((t: { name: string }) => t.name === table);
      expect(entry, `no ${table} in the manifest`).toBeDefined();
      return path.join(snapshotFolder, entry.file);
    },
  };
}

/** A database name for a restore that must fail; dropped afterwards in case it did not. */
function doomedDatabase(label: string): string {
  const name = `${source.name}_${label}`;
  cleanups.push(() => dropDatabase(name));
  return name;
}

describe('unknown snapshot', () => {
  it('show, verify and restore name the id and hint at `strata list`', async () => {
    const target: ShopTarget = { databaseUrl: source.url, snapshotDir: base.path };
    for (const args of [['show', '01HZZZZZZZZZZZZZZZZZZZZZZZ'], ['verify', '01HZZZZZZZZZZZZZZZZZZZZZZZ'], ['restore', '01HZZZZZZZZZZZZZZZZZZZZZZZ', '--database', doomedDatabase('unknown')]]) {
      const error = expectUserError(await strata(target, args));
      expect(error.message).toContain('01HZZZZZZZZZZZZZZZZZZZZZZZ');
      const json = expectUserError(await strata(target, [...args, '--json']), { json: true });
      expect(json.message).toContain('01HZZZZZZZZZZZZZZZZZZZZZZZ');
    }
    expect(await restoreLeftovers(source.adminUrl, `${source.name}_unknown`)).toEqual([]);
  });
});

describe('damaged data files', () => {
  it('a flipped byte: verify names the table, restore fails and leaves no database', async () => {
    const copy = await copyOfSnapshots();
    const file = await copy.dataFile('customers');
    const bytes = await readFile(file);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    bytes[at + 1] = bytes[at + 1]! ^ 0x55;
    await writeFile(file, bytes);

    const verify = await strata(copy.target, ['verify', id, '--json']);
    expect(verify.exitCode, verify.stdout + verify.stderr).not.toBe(0);
    expect(verify.stdout + verify.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    const body = verify.json<any>();
    if (Array.isArray(body.tables)) {
      expect(body.ok).toBe(false);
      const failed = body.tables.filter((t: { status: string }) => t.status === 'failed');
      expect(failed.map((t: { table: string }) => t.table.replace(/^public\./, ''))).toEqual(['customers']);
      expect(failed[0].error).toMatch(/\S/);
    } else {
      expect(body.error?.message).toContain('customers');
    }
    const verifyText = await strata(copy.target, ['verify', id]);
    expect(verifyText.exitCode).not.toBe(0);
    expect(verifyText.stdout + verifyText.stderr).toContain('customers');

    const name = doomedDatabase('flipped');
    const error = expectUserError(await strata(copy.target, ['restore', id, '--database', name]));
    expect(error.message).toMatch(/customers/);
    expect(await restoreLeftovers(source.adminUrl, name)).toEqual([]);
  });

  it('a truncated data file: restore fails and leaves no database', async () => {
    const copy = await copyOfSnapshots();
    const file = await copy.dataFile('orders');
    const size = (await readFile(file)).length;
    await truncate(file, Math.floor(size / 2));
    const name = doomedDatabase('truncated');
    const error = expectUserError(await strata(copy.target, ['restore', id, '--database', name]));
    expect(error.message).toMatch(/orders/);
    expect(await restoreLeftovers(source.adminUrl, name)).toEqual([]);
  });
});

describe('damaged manifests', () => {
  it('a truncated manifest is reported as unreadable; nothing is created', async () => {
    const copy = await copyOfSnapshots();
    const text = await readFile(copy.manifestFile, 'utf8');
    await writeFile(copy.manifestFile, text.slice(0, Math.floor(text.length / 2)));
    expectUserError(await strata(copy.target, ['show', id]));
    const name = doomedDatabase('badmanifest');
    const error = expectUserError(await strata(copy.target, ['restore', id, '--database', name, '--json']), { json: true });
    expect(error.message).toMatch(/manifest/i);
    expect(await restoreLeftovers(source.adminUrl, name)).toEqual([]);
  });

  it('an unknown major formatVersion is refused with the version named', async () => {
    const copy = await copyOfSnapshots();
    const manifest = JSON.parse(await readFile(copy.manifestFile, 'utf8'));
    manifest.formatVersion = '2.0.0';
    await writeFile(copy.manifestFile, JSON.stringify(manifest, null, 2));
    const shown = expectUserError(await strata(copy.target, ['show', id]));
    expect(shown.message).toContain('2.0.0');
    const name = doomedDatabase('format2');
    const error = expectUserError(await strata(copy.target, ['restore', id, '--database', name]));
    expect(error.message).toContain('2.0.0');
    expect(await restoreLeftovers(source.adminUrl, name)).toEqual([]);
  });

  it('a snapshot without its manifest does not exist', async () => {
    const copy = await copyOfSnapshots();
    await rm(copy.manifestFile);
    const list = await strataJson(copy.target, ['list']);
    const entries: Array<{ id: string }> = Array.isArray(list) ? list : (list.snapshots ?? []);
    expect(entries.map((e) => e.id)).not.toContain(id);
    const error = expectUserError(await strata(copy.target, ['restore', id, '--database', doomedDatabase('nomanifest')]));
    expect(error.message).toContain(id);
  });
});

describe('a snapshot that needs a migration the code base does not have', () => {
  it('names the migration and creates nothing', async () => {
    const code = await tempDir('strata-e2e-migrations-');
    const snapshots = await tempDir();
    const db = await createTestDatabase('errors_missing');
    cleanups.push(code.remove, snapshots.remove, db.drop);
    await cp(SHOP_MIGRATIONS, code.path, { recursive: true });
    const target: ShopTarget = { databaseUrl: db.url, snapshotDir: snapshots.path, migrationsDir: code.path };
    await strataJson(target, ['migrate', 'up']);
    await seedShop(db.url);
    const snapshotId = await takeSnapshot(target, 'before a migration was deleted');

    const missing = '20240105090000_rename_product_title_to_name';
    await rm(path.join(code.path, 'catalog', `${missing}.ts`));
    const name = `${db.name}_restored`;
    cleanups.push(() => dropDatabase(name));

    const error = expectUserError(await strata(target, ['restore', snapshotId, '--database', name]));
    expect(error.message).toContain(missing);
    expect(await restoreLeftovers(db.adminUrl, name)).toEqual([]);

    const dry = expectUserError(await strata(target, ['restore', snapshotId, '--database', name, '--dry-run', '--json']), { json: true });
    expect(dry.message).toContain(missing);
    expect(await restoreLeftovers(db.adminUrl, name)).toEqual([]);
  });
});

describe('unreachable server and wrong credentials', () => {
  let fake: net.Server;
  let fakePort: number;
  let closedPort: number;

  beforeAll(async () => {
    fake = await rejectingPostgres();
    fakePort = (fake.address() as net.AddressInfo).port;
    closedPort = await unusedPort();
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => fake.close(() => resolve()));
  });

  it('a wrong password: one sentence, no password in the output', async () => {
    const target: ShopTarget = { databaseUrl: `postgres://postgres:${SECRET}@127.0.0.1:${fakePort}/shop`, snapshotDir: base.path };
    for (const args of [['migrate', 'status'], ['snapshot']]) {
      const result = await strata(target, args);
      const error = expectUserError(result);
      expect(error.message).toMatch(/password|authenticat|credential/i);
      expect(result.stdout + result.stderr).not.toContain(SECRET);
      const json = await strata(target, [...args, '--json']);
      expectUserError(json, { json: true });
      expect(json.stdout + json.stderr).not.toContain(SECRET);
    }
  });

  it('a wrong password on --target-url: nothing printed, nothing created on the real server', async () => {
    const target: ShopTarget = { databaseUrl: source.url, snapshotDir: base.path };
    const result = await strata(target, ['restore', id, '--target-url', `postgres://postgres:${SECRET}@127.0.0.1:${fakePort}/shop_copy`]);
    expectUserError(result);
    expect(result.stdout + result.stderr).not.toContain(SECRET);
  });

  it('an unreachable port: one sentence naming host and port, no password', async () => {
    const target: ShopTarget = { databaseUrl: `postgres://postgres:${SECRET}@127.0.0.1:${closedPort}/shop`, snapshotDir: base.path };
    const result = await strata(target, ['migrate', 'status']);
    const error = expectUserError(result);
    expect(error.message).toContain(String(closedPort));
    expect(result.stdout + result.stderr).not.toContain(SECRET);

    const restore = await strata({ databaseUrl: source.url, snapshotDir: base.path }, [
      'restore',
      id,
      '--target-url',
      `postgres://postgres:${SECRET}@127.0.0.1:${closedPort}/shop_copy`,
      '--json',
    ]);
    expectUserError(restore, { json: true });
    expect(restore.stdout + restore.stderr).not.toContain(SECRET);
  });
});

/** A free TCP port with nothing listening on it. */
async function unusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A server that speaks just enough of the PostgreSQL protocol to ask for a password and reject
 * it (SQLSTATE 28P01), as a real server does on a wrong password. The test server trusts every
 * local connection, so a real one cannot be made to refuse.
 */
async function rejectingPostgres(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    let buffer = Buffer.alloc(0);
    let started = false;
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (!started) {
          if (buffer.length < 8) return;
          const length = buffer.readInt32BE(0);
          if (buffer.length < length) return;
          const code = buffer.readInt32BE(4);
          buffer = buffer.subarray(length);
          if (code === 80877103 || code === 80877104) {
            socket.write('N'); // no SSL / GSS: go on in plain text
            continue;
          }
          started = true;
          const ask = Buffer.alloc(9);
          ask.write('R', 0);
          ask.writeInt32BE(8, 1);
          ask.writeInt32BE(3, 5); // AuthenticationCleartextPassword
          socket.write(ask);
          continue;
        }
        if (buffer.length < 5) return;
        const length = buffer.readInt32BE(1);
        if (buffer.length < length + 1) return;
        const type = String.fromCharCode(buffer[0]!);
        buffer = buffer.subarray(length + 1);
        if (type === 'p') {
          const fields = [
            ['S', 'FATAL'],
            ['V', 'FATAL'],
            ['C', '28P01'],
            ['M', 'password authentication failed for user "postgres"'],
          ];
          const body = Buffer.concat([...fields.map(([k, v]) => Buffer.from(`${k}${v}\0`, 'utf8')), Buffer.from([0])]);
          const header = Buffer.alloc(5);
          header.write('E', 0);
          header.writeInt32BE(body.length + 4, 1);
          socket.end(Buffer.concat([header, body]));
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
