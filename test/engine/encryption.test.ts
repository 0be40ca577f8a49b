// Encrypted snapshots (age): nothing of the data is readable in storage, list and keyless verify
// work without a key, a restore needs the right key and refuses a damaged byte anywhere before a
// row is committed, rekey and copy --reencrypt change who can open a snapshot without touching
// its data files. Real PostgreSQL, real files, the real age library.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { OperationContext, StorageDriver } from '../../packages/core/src/index.js';
import { resolveEncryption, type EncryptionConfig } from '../../packages/core/src/config/encryption-config.js';
import { rekeySnapshots } from '../../packages/core/src/snapshot/snapshot-rekey.js';
import { copySnapshot, listSnapshots, restore, showSnapshot, snapshot, verifySnapshot } from './engine-imports.js';
import { LocalStorage } from '../../packages/plugin-local/src/local-storage.js';
import { adminQuery, createTestDatabase, databaseUrl, dropDatabase, queryAt, type TestDatabase } from '../support/database.js';
import { engineProject, type EngineProject } from '../support/engine.js';

/** Values that must never appear in a stored object: long enough not to occur by chance. */
const SECRET_EMAILS = Array.from({ length: 50 }, (_, i) => `customer-${i}-f7c1e9@private-mail.example`);
const SECRET_NOTE = 'passport number X1234567 issued to Ada Lovelace';
const TENANT = 'Acme Widgets Confidential GmbH';

const SCHEMA = `
export async function up(knex) {
  await knex.raw(\`
    CREATE TABLE company (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
    CREATE TABLE customer (id serial PRIMARY KEY, company_id integer NOT NULL REFERENCES company(id), email text NOT NULL, note text);
    INSERT INTO company (name) VALUES ('${TENANT}'), ('Other Co');
    INSERT INTO customer (company_id, email, note)
      SELECT 1 + g % 2, 'customer-' || g || '-f7c1e9@private-mail.example', CASE WHEN g = 7 THEN '${SECRET_NOTE}' END
      FROM generate_series(0, 49) g;
    INSERT INTO customer (company_id, email, note) SELECT 1, md5(g::text), repeat('x', 200) FROM generate_series(1, 20000) g;
  \`);
}
export async function down() {}
`;

let source: TestDatabase;
let project: EngineProject;
const created: string[] = [];
const keys: Record<'ops' | 'ci' | 'other', { identity: string; recipient: string }> = {} as never;

/** A context whose environment has `encryption` as given, and `vars` as its process environment. */
function encryptedContext(section: EncryptionConfig | undefined, vars: Record<string, string> = {}, extra: Partial<OperationContext> = {}): OperationContext & { warnings: string[] } {
  const base = project.context(source.url, extra);
  const encryption = resolveEncryption(section as never, 'environments.test.encryption', project.dir, vars);
  return { ...base, env: { ...base.env, encryption } };
}

const sealToOps = (vars: Record<string, string> = {}) => encryptedContext({ recipients: [{ key: keys.ops.recipient, name: 'ops' }] }, vars);
const withKey = (identity: string) => encryptedContext(undefined, { STRATA_AGE_KEY: identity });

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name));
}

const snapshotDir = (id: string): string => path.join(project.dir, 'snapshots', 'rt', 'test', id);

async function databaseExists(name: string): Promise<boolean> {
  return (await adminQuery<{ n: number }>('SELECT count(*)::int AS n FROM pg_database WHERE datname = $1', [name])).rows[0]!.n === 1;
}

async function tableDigest(url: string): Promise<string> {
  const rows = await queryAt<{ d: string }>(url, `SELECT md5(string_agg(c::text, '|' ORDER BY id)) AS d FROM customer c`);
  return rows[0]!.d;
}

beforeAll(async () => {
  for (const name of ['ops', 'ci', 'other'] as const) {
    const identity = await generateX25519Identity();
    keys[name] = { identity, recipient: await identityToRecipient(identity) };
  }
  source = await createTestDatabase('encryption');
  project = await engineProject({ '20240101000000_schema.mjs': SCHEMA }, { scopes: { company: { table: 'company', key: 'name', shared: [] } } });
  await project.migrate(source.url);
});

afterAll(async () => {
  for (const name of created) await dropDatabase(name);
  await source?.drop();
});

describe('encrypted snapshots', () => {
  let id: string;

  beforeAll(async () => {
    id = (await snapshot({ ...sealToOps(), tags: ['enc'] })).id;
  });

  it('stores no byte of any row in any object, and no key', async () => {
    const files = await filesUnder(snapshotDir(id));
    expect(files.some((f) => f.endsWith('.age'))).toBe(true);
    for (const file of files) {
      const text = (await readFile(file)).toString('latin1');
      for (const value of [...SECRET_EMAILS, SECRET_NOTE, TENANT, 'repeat', 'xxxxxxxxxxxxxxxx']) {
        expect(text.includes(value), `${value} in ${path.basename(file)}`).toBe(false);
      }
      expect(text).not.toContain(keys.ops.identity);
      expect(text).not.toMatch(/AGE-SECRET-KEY-1/);
    }
    const manifest = JSON.parse(await readFile(path.join(snapshotDir(id), 'manifest.json'), 'utf8'));
    expect(manifest.encryption.mode).toBe('recipients');
    expect(manifest.encryption.recipients).toEqual([{ fingerprint: expect.stringMatching(/^sha256:[0-9a-f]{16}$/), name: 'ops' }]);
    // Plaintext sizes and checksums are sealed, not in clear.
    for (const t of manifest.tables) {
      expect(t.rawBytes).toBeUndefined();
      expect(t.plainSha256).toBeUndefined();
    }
  });

  it('lists, shows and verifies its ciphertext without a key', async () => {
    const keyless = encryptedContext(undefined);
    const listed = await listSnapshots(keyless);
    expect(listed.find((s) => s.id === id)).toMatchObject({ tables: 2, rows: 20052 });
    const shown = await showSnapshot(keyless, id);
    expect(shown.encryption?.recipients[0]?.name).toBe('ops');
    const verified = await verifySnapshot(keyless, id);
    expect(verified.ok).toBe(true);
    expect(verified.checked).toBe('ciphertext');
  });

  it('verifies plaintext checksums and rows with the key', async () => {
    const verified = await verifySnapshot(withKey(keys.ops.identity), id);
    expect(verified).toMatchObject({ ok: true, checked: 'plaintext' });
    expect(verified.tables.find((t) => t.table === 'public.customer')?.rows).toBe(20050);
  });

  it('restores with the right key, row for row', async () => {
    const database = `strata_enc_ok_${process.pid}`;
    created.push(database);
    await restore({ ...withKey(keys.ops.identity), id, database });
    expect(await tableDigest(databaseUrl(source.url, database))).toBe(await tableDigest(source.url));
  });

  it('refuses a wrong key or none before creating anything, naming the fingerprints', async () => {
    const database = `strata_enc_wrong_${process.pid}`;
    const wrong = restore({ ...withKey(keys.other.identity), id, database });
    await expect(wrong).rejects.toMatchObject({ code: 'encryption-key-mismatch', exitCode: 2 });
    const error = await wrong.catch((e: Error) => e);
    const manifest = await showSnapshot(encryptedContext(undefined), id);
    expect(error.message).toContain(manifest.encryption!.recipients[0]!.fingerprint);
    expect(error.message).toContain('STRATA_AGE_KEY');
    expect(`${error.message} ${(error as { hint?: string }).hint} ${error.stack}`).not.toContain(keys.other.identity);
    await expect(restore({ ...encryptedContext(undefined), id, database })).rejects.toMatchObject({ code: 'encryption-key-missing' });
    expect(await databaseExists(database)).toBe(false);
  });

  it('opens a data file with the age CLI and zstd, as docs/format.md shows', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-age-'));
    try {
      await writeFile(path.join(dir, 'key.txt'), `${keys.ops.identity}\n`, { mode: 0o600 });
      const manifest = JSON.parse(await readFile(path.join(snapshotDir(id), 'manifest.json'), 'utf8'));
      const entry = manifest.tables.find((t: { name: string }) => t.name === 'customer');
      // The one-liner of docs/format.md: open the snapshot key with yours, then the file with it.
      const copyText = execFileSync('bash', ['-c', 'age -d -i <(jq -r .encryption.key manifest.json | age -d -i "$1") "$2" | zstd -d', 'open', path.join(dir, 'key.txt'), entry.file], {
        cwd: snapshotDir(id),
        maxBuffer: 64 * 1024 * 1024,
      }).toString('utf8');
      expect(copyText.split('\n').filter(Boolean)).toHaveLength(20050);
      expect(copyText).toContain(SECRET_NOTE);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('damage to an encrypted snapshot', () => {
  /** Takes a snapshot, lets `damage` change its folder, and expects the restore to fail before any database exists. */
  async function expectRefused(damage: (dir: string, manifest: Record<string, any>) => Promise<void>, code: unknown): Promise<void> {
    const { id } = await snapshot(sealToOps());
    const manifestFile = path.join(snapshotDir(id), 'manifest.json');
    await damage(snapshotDir(id), JSON.parse(await readFile(manifestFile, 'utf8')));
    const database = `strata_enc_dmg_${process.pid}`;
    const attempt = restore({ ...withKey(keys.ops.identity), id, database });
    await expect(attempt).rejects.toMatchObject({ code });
    expect(await databaseExists(database)).toBe(false);
  }

  it('refuses a flipped byte in a data file', async () => {
    await expectRefused(async (dir, manifest) => {
      const file = path.join(dir, manifest.tables[1].file);
      const bytes = await readFile(file);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      await writeFile(file, bytes);
    }, 'data-corrupt');
  });

  it('refuses a data file cut short', async () => {
    await expectRefused(async (dir, manifest) => {
      const file = path.join(dir, manifest.tables[1].file);
      await writeFile(file, (await readFile(file)).subarray(0, 70_000));
    }, 'data-corrupt');
  });

  it('refuses a changed row count in the clear manifest', async () => {
    await expectRefused(async (dir, manifest) => {
      manifest.tables[1].rows += 1;
      await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
    }, 'manifest-invalid');
  });

  it('refuses a flipped byte in the key envelope and in the sealed part', async () => {
    // age cannot tell a changed wrapped file key from another key: either refusal is right.
    for (const [field, code] of [['key', expect.stringMatching(/^(manifest-invalid|encryption-key-mismatch)$/)], ['sealed', 'manifest-invalid']] as const) {
      await expectRefused(async (dir, manifest) => {
        const lines = manifest.encryption[field].split('\n');
        const line = lines[2];
        lines[2] = `${line.slice(0, 10)}${line[10] === 'A' ? 'B' : 'A'}${line.slice(11)}`;
        manifest.encryption[field] = lines.join('\n');
        await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
      }, code);
    }
  });

  it('refuses a data file swapped with another snapshot\'s file of the same table', async () => {
    const other = await snapshot(sealToOps());
    await expectRefused(async (dir, manifest) => {
      const file = manifest.tables[1].file;
      await writeFile(path.join(dir, file), await readFile(path.join(snapshotDir(other.id), file)));
    }, 'data-corrupt');
  });
});

describe('passphrase mode', () => {
  // Three scrypt runs (seal, a wrong passphrase, the right one) at age's work factor 2^18: a few
  // seconds each on a quiet machine, many times that while the whole suite loads both cores.
  it('seals with a passphrase from the environment and opens with it only', async () => {
    const vars = { PROD_PASSPHRASE: 'correct horse battery staple 42' };
    const ctx = encryptedContext({ passphrase: '${PROD_PASSPHRASE}' }, vars);
    const { id } = await snapshot(ctx);
    const text = await readFile(path.join(snapshotDir(id), 'manifest.json'), 'utf8');
    expect(text).not.toContain(vars.PROD_PASSPHRASE);
    expect(JSON.parse(text).encryption).toMatchObject({ mode: 'passphrase', recipients: [] });
    const database = `strata_enc_pass_${process.pid}`;
    created.push(database);
    await expect(restore({ ...encryptedContext(undefined, { STRATA_AGE_PASSPHRASE: 'wrong horse' }), id, database })).rejects.toMatchObject({ code: 'encryption-key-mismatch' });
    expect(await databaseExists(database)).toBe(false);
    await restore({ ...encryptedContext(undefined, { STRATA_AGE_PASSPHRASE: vars.PROD_PASSPHRASE }), id, database });
    expect(await tableDigest(databaseUrl(source.url, database))).toBe(await tableDigest(source.url));
  }, 300_000);
});

describe('rekey and copy --reencrypt', () => {
  it('rekey seals for the new recipients, locks out the old key, and leaves the data files as they were', async () => {
    const { id } = await snapshot(sealToOps());
    const digests = async (): Promise<Record<string, string>> => {
      const files = (await filesUnder(path.join(snapshotDir(id), 'data'))).sort();
      return Object.fromEntries(await Promise.all(files.map(async (f) => [path.basename(f), createHash('sha256').update(await readFile(f)).digest('hex')])));
    };
    const before = await digests();
    const rekeying = encryptedContext({ recipients: [keys.ci.recipient, { key: keys.other.recipient, name: 'other' }] }, { STRATA_AGE_KEY: keys.ops.identity });
    const [result] = await rekeySnapshots(rekeying, { ids: [id] });
    expect(result).toMatchObject({ id, status: 'rekeyed', before: expect.stringContaining('(ops)'), after: expect.stringContaining('(other)') });
    expect(await digests()).toEqual(before);
    await expect(verifySnapshot(withKey(keys.ops.identity), id)).rejects.toMatchObject({ code: 'encryption-key-mismatch' });
    expect(await verifySnapshot(withKey(keys.ci.identity), id)).toMatchObject({ ok: true, checked: 'plaintext' });
    // No lease is left in the folder.
    expect((await readdir(snapshotDir(id))).sort()).toEqual(['data', 'manifest.json']);
  });

  it('rekey refuses without a key that opens the snapshot, and changes nothing', async () => {
    const { id } = await snapshot(sealToOps());
    const manifest = await readFile(path.join(snapshotDir(id), 'manifest.json'), 'utf8');
    const rekeying = encryptedContext({ recipients: [keys.ci.recipient] }, { STRATA_AGE_KEY: keys.other.identity });
    await expect(rekeySnapshots(rekeying, { ids: [id] })).rejects.toMatchObject({ code: 'encryption-key-mismatch' });
    expect(await readFile(path.join(snapshotDir(id), 'manifest.json'), 'utf8')).toBe(manifest);
  });

  it('copy --reencrypt seals the copy for the target environment', async () => {
    const { id } = await snapshot(sealToOps());
    const stagingDir = await mkdtemp(path.join(os.tmpdir(), 'strata-enc-staging-'));
    try {
      const storage: StorageDriver = new LocalStorage(stagingDir);
      const staging = (section: EncryptionConfig | undefined, vars: Record<string, string>) => {
        const ctx = encryptedContext(section, vars);
        return { ...ctx, env: { ...ctx.env, name: 'staging' }, storage };
      };
      const result = await copySnapshot({ from: withKey(keys.ops.identity), to: staging({ recipients: [keys.ci.recipient] }, {}), id, reencrypt: true });
      expect(result.status).toBe('copied');
      expect(await verifySnapshot(staging(undefined, { STRATA_AGE_KEY: keys.ci.identity }), id)).toMatchObject({ ok: true, checked: 'plaintext' });
      await expect(verifySnapshot(staging(undefined, { STRATA_AGE_KEY: keys.ops.identity }), id)).rejects.toMatchObject({ code: 'encryption-key-mismatch' });
      // The source still opens with its own key only.
      await expect(verifySnapshot(withKey(keys.ci.identity), id)).rejects.toMatchObject({ code: 'encryption-key-mismatch' });
    } finally {
      await rm(stagingDir, { recursive: true, force: true });
    }
  });
});

describe('tenant scopes', () => {
  it('seals the scope values and restores them for the key holder', async () => {
    const { id } = await snapshot({ ...sealToOps(), scope: { name: 'company', values: [TENANT] } });
    const text = await readFile(path.join(snapshotDir(id), 'manifest.json'), 'utf8');
    expect(text).not.toContain(TENANT);
    expect(JSON.parse(text).scope.values).toBeUndefined();
    const database = `strata_enc_scope_${process.pid}`;
    created.push(database);
    const report = await restore({ ...withKey(keys.ops.identity), id, database });
    expect(report).toBeDefined();
    const rows = await queryAt<{ name: string }>(databaseUrl(source.url, database), 'SELECT name FROM company');
    expect(rows).toEqual([{ name: TENANT }]);
  });
});
