// Encryption through the built CLI, as a user runs it: a capture with only recipients, list/show/
// verify without a key, restore with the key from STRATA_AGE_KEY_FILE, a key on the command line
// refused without echoing it, rekey, and the key never in any output.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { describeRun, runStrata, type CliResult } from '../support/cli.js';
import { createTestDatabase, databaseUrl, dropDatabase, queryAt, type TestDatabase } from '../support/database.js';

let dir: string;
let source: TestDatabase;
let ops: { identity: string; recipient: string };
let ci: { identity: string; recipient: string };
const restored = `strata_cli_enc_${process.pid}`;

function strata(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runStrata(args, { cwd: dir, env: { NODE_ENV: 'production', STRATA_ENV: undefined, STRATA_AGE_KEY: undefined, STRATA_AGE_KEY_FILE: undefined, ...env } });
}

function noKeyIn(result: CliResult): void {
  for (const key of [ops.identity, ci.identity]) {
    expect(result.stdout + result.stderr).not.toContain(key);
    expect(result.stdout + result.stderr).not.toContain(key.slice(16, 40));
  }
}

beforeAll(async () => {
  ops = { identity: await generateX25519Identity(), recipient: '' };
  ops.recipient = await identityToRecipient(ops.identity);
  ci = { identity: await generateX25519Identity(), recipient: '' };
  ci.recipient = await identityToRecipient(ci.identity);
  source = await createTestDatabase('cli_enc');
  dir = await mkdtemp(path.join(os.tmpdir(), 'strata-cli-enc-'));
  await mkdir(path.join(dir, 'migrations'));
  await writeFile(
    path.join(dir, 'migrations', '20240101000000_schema.mjs'),
    `export async function up(knex) {
      await knex.raw("CREATE TABLE person (id serial PRIMARY KEY, email text NOT NULL); INSERT INTO person (email) SELECT 'person-' || g || '@secret.example' FROM generate_series(1, 500) g");
    }
    export async function down() {}\n`,
  );
  await writeFile(path.join(dir, 'ops.key'), `# ops\n${ops.identity}\n`, { mode: 0o600 });
  await writeFile(
    path.join(dir, 'strata.config.json'),
    JSON.stringify({
      project: 'clienc',
      modules: { app: { migrations: './migrations' } },
      environments: {
        dev: { database: source.url, storage: 'file://./snapshots', encryption: { recipients: [{ key: ops.recipient, name: 'ops' }] } },
        rotated: { database: source.url, storage: 'file://./snapshots', encryption: { recipients: [{ key: ci.recipient, name: 'ci' }], identities: './ops.key' } },
      },
    }),
  );
  const migrated = await strata(['migrate', 'up']);
  expect(migrated.exitCode, describeRun(migrated)).toBe(0);
});

afterAll(async () => {
  await dropDatabase(restored);
  await source?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('strata with an encrypted environment', () => {
  let id: string;

  it('snapshots with only recipients, and lists, shows and verifies without a key', async () => {
    const taken = await strata(['snapshot', '--json']);
    expect(taken.exitCode, describeRun(taken)).toBe(0);
    id = taken.json().id;
    const list = await strata(['list']);
    expect(list.stdout).toContain('(encrypted: ops)');
    const show = await strata(['show', id]);
    expect(show.stdout).toMatch(/Encrypted\s+yes, age, for sha256:[0-9a-f]{16} \(ops\)/);
    const verify = await strata(['verify', id]);
    expect(verify.exitCode, describeRun(verify)).toBe(0);
    expect(verify.stderr).toContain('only sizes and the stored (ciphertext) checksums were checked');
  });

  it('refuses a key on the command line without printing it', async () => {
    for (const args of [['restore', 'latest', '--key', ops.identity], ['restore', 'latest', `--identity=${ops.identity}`], ['restore', ops.identity]]) {
      const refused = await strata(args);
      expect(refused.exitCode, describeRun(refused)).toBe(2);
      expect(refused.stderr).toContain("other users of this machine can read a process's arguments");
      expect(refused.stderr).not.toMatch(/\n\s+at /);
      noKeyIn(refused);
    }
  });

  it('restores with the key from STRATA_AGE_KEY_FILE, and refuses another key naming the fingerprints', async () => {
    const wrongFile = path.join(dir, 'ci.key');
    await writeFile(wrongFile, `${ci.identity}\n`, { mode: 0o600 });
    const wrong = await strata(['restore', id, '--database', restored, '--json'], { STRATA_AGE_KEY_FILE: wrongFile });
    expect(wrong.exitCode, describeRun(wrong)).toBe(2);
    expect(wrong.json().error.code).toBe('encryption-key-mismatch');
    expect(wrong.json().error.message).toMatch(/is encrypted for sha256:[0-9a-f]{16} \(ops\); the key from the identity file .*ci\.key.* \(sha256:[0-9a-f]{16}\) does not open it/);
    noKeyIn(wrong);
    const ok = await strata(['restore', id, '--database', restored], { STRATA_AGE_KEY_FILE: path.join(dir, 'ops.key') });
    expect(ok.exitCode, describeRun(ok)).toBe(0);
    noKeyIn(ok);
    const rows = await queryAt<{ n: number }>(databaseUrl(source.url, restored), "SELECT count(*)::int AS n FROM person WHERE email LIKE '%@secret.example'");
    expect(rows[0]!.n).toBe(500);
  });

  it('rekeys for the new recipients: the old key no longer opens the copy it rekeyed, and still opens the other', async () => {
    const copied = await strata(['copy', id, '--from-env', 'dev', '--to-env', 'rotated']);
    expect(copied.exitCode, describeRun(copied)).toBe(0);
    // `rotated` opens with ops.key (encryption.identities) and seals for ci.
    const before = await strata(['verify', id, '--env', 'rotated', '--json']);
    expect(before.exitCode, describeRun(before)).toBe(0);
    expect(before.json().checked).toBe('plaintext');
    const rekeyed = await strata(['rekey', id, '--env', 'rotated', '--json']);
    expect(rekeyed.exitCode, describeRun(rekeyed)).toBe(0);
    expect(rekeyed.json().snapshots[0]).toMatchObject({ id, status: 'rekeyed', before: expect.stringContaining('(ops)'), after: expect.stringContaining('(ci)') });
    noKeyIn(rekeyed);
    const after = await strata(['verify', id, '--env', 'rotated', '--json']);
    expect(after.exitCode, describeRun(after)).toBe(2);
    expect(after.json().error.code).toBe('encryption-key-mismatch');
    const dev = await strata(['verify', id, '--json'], { STRATA_AGE_KEY_FILE: path.join(dir, 'ops.key') });
    expect(dev.exitCode, describeRun(dev)).toBe(0);
    expect(dev.json().checked).toBe('plaintext');
  });
});
