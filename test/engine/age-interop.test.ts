// strata's age files against the real `age` command line (Debian package `age`, 1.1): what strata
// writes opens with `age -d`, what `age` writes opens in strata, and a snapshot's envelope opens
// by hand in two steps. Locally the file is skipped when `age` is missing; under CI=true a missing
// `age` fails it, since .ci/run installs it.
// The crypto module is not in core's index yet, so it is imported from its files.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decryptStream, encryptStream } from '../../packages/core/src/crypto/age-streams.js';
import {
  generateSnapshotKey,
  openSealed,
  parseIdentities,
  recipientOf,
  sealJson,
  unwrapSnapshotKey,
  wrapSnapshotKey,
} from '../../packages/core/src/crypto/keys.js';

const ageVersion = spawnSync('age', ['--version'], { encoding: 'utf8' });
const haveAge = ageVersion.status === 0;
const inCi = process.env.CI === 'true';

let dir: string;
/** A user's key as `age-keygen` writes it, and its recipient as `age-keygen -y` prints it. */
let user: { file: string; identity: string; recipient: string };

/** Runs `age` (or another command) and returns stdout; a failure throws with age's stderr. */
function run(command: string, args: string[], input?: Buffer | string): Buffer {
  return execFileSync(command, args, { input, maxBuffer: 64 * 1024 * 1024, stdio: ['pipe', 'pipe', 'pipe'] });
}

async function encryptFile(plainFile: string, recipient: string, out: string): Promise<void> {
  await pipeline(createReadStream(plainFile), encryptStream(recipient), createWriteStream(out));
}

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!haveAge && !inCi)('age interop with the age command line', () => {
  beforeAll(async () => {
    if (!haveAge) {
      throw new Error('The age command line is not installed (Debian package `age`): CI must install it (`apt-get install -y age`) for this test.');
    }
    dir = await mkdtemp(path.join(tmpdir(), 'strata-age-interop-'));
    const file = path.join(dir, 'user-key.txt');
    run('age-keygen', ['-o', file]);
    const [identity] = parseIdentities(await readFile(file, 'utf8'), file);
    user = { file, identity: identity!, recipient: run('age-keygen', ['-y', file]).toString().trim() };
  });

  it('reads the identity file age-keygen writes and finds the recipient age-keygen -y prints', async () => {
    expect(await recipientOf(user.identity)).toBe(user.recipient);
  });

  it('a file strata encrypts opens with `age -d -i key.txt`', async () => {
    const plain = randomBytes(3 * 64 * 1024 + 777);
    await writeFile(path.join(dir, 'plain.bin'), plain);
    await encryptFile(path.join(dir, 'plain.bin'), user.recipient, path.join(dir, 'lib.age'));
    expect(run('age', ['-d', '-i', user.file, path.join(dir, 'lib.age')]).equals(plain)).toBe(true);
  });

  it('a file `age -r` encrypts (to two recipients) opens in strata', async () => {
    const mine = await generateSnapshotKey();
    const plain = randomBytes(200_000);
    await writeFile(path.join(dir, 'cli-plain.bin'), plain);
    run('age', ['-r', user.recipient, '-r', mine.recipient, '-o', path.join(dir, 'cli.age'), path.join(dir, 'cli-plain.bin')]);
    const chunks: Buffer[] = [];
    await pipeline(createReadStream(path.join(dir, 'cli.age')), decryptStream(mine.identity), async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) chunks.push(chunk);
    });
    expect(Buffer.concat(chunks).equals(plain)).toBe(true);
  });

  it('the envelope opens by hand: age -d -i <(age -d -i user-key.txt wrapped.age) data.age', async () => {
    const snapshotKey = await generateSnapshotKey();
    await writeFile(path.join(dir, 'wrapped.age'), await wrapSnapshotKey(snapshotKey.identity, { recipients: [user.recipient] }));
    const plain = Buffer.from('1\tAda\n2\tGrace\n'.repeat(10_000));
    await writeFile(path.join(dir, 'table.copy'), plain);
    await encryptFile(path.join(dir, 'table.copy'), snapshotKey.recipient, path.join(dir, 'data.age'));
    const sealed = { tables: [{ name: 'people', rows: 20_000 }] };
    await writeFile(path.join(dir, 'sealed.age'), await sealJson(sealed, snapshotKey.recipient));

    const byHand = (file: string) => run('bash', ['-c', 'age -d -i <(age -d -i "$1" "$2") "$3"', 'bash', user.file, path.join(dir, 'wrapped.age'), path.join(dir, file)]);
    expect(byHand('data.age').equals(plain)).toBe(true);
    expect(JSON.parse(byHand('sealed.age').toString())).toEqual(sealed);
  });

  it('an envelope rekeyed by hand with the CLI still opens in strata', async () => {
    const snapshotKey = await generateSnapshotKey();
    const colleague = await generateSnapshotKey();
    const wrapped = await wrapSnapshotKey(snapshotKey.identity, { recipients: [user.recipient] });
    const opened = run('age', ['-d', '-i', user.file], wrapped);
    const rewrapped = run('age', ['-a', '-r', colleague.recipient], opened).toString();
    expect(await unwrapSnapshotKey(rewrapped, { identities: [colleague.identity] })).toBe(snapshotKey.identity);
    const sealed = await sealJson({ ok: true }, snapshotKey.recipient);
    expect(await openSealed(sealed, await unwrapSnapshotKey(rewrapped, { identities: [colleague.identity] }))).toEqual({ ok: true });
  });

  it('both refuse a file cut at a chunk boundary', async () => {
    const snapshotKey = await generateSnapshotKey();
    await writeFile(path.join(dir, 'key.txt'), `${snapshotKey.identity}\n`);
    const plain = randomBytes(4 * 64 * 1024);
    await writeFile(path.join(dir, 'cut-plain.bin'), plain);
    await encryptFile(path.join(dir, 'cut-plain.bin'), snapshotKey.recipient, path.join(dir, 'whole.age'));
    const whole = await readFile(path.join(dir, 'whole.age'));
    const header = whole.indexOf('\n', whole.indexOf('\n--- ') + 1) + 1;
    await writeFile(path.join(dir, 'cut.age'), whole.subarray(0, header + 16 + 2 * (64 * 1024 + 16)));

    const cli = spawnSync('age', ['-d', '-i', path.join(dir, 'key.txt'), path.join(dir, 'cut.age')]);
    expect(cli.status).not.toBe(0);
    await expect(
      pipeline(createReadStream(path.join(dir, 'cut.age')), decryptStream(snapshotKey.identity), async (source: AsyncIterable<Buffer>) => {
        for await (const _chunk of source) void _chunk;
      }),
    ).rejects.toMatchObject({ code: 'decryption-failed', reason: 'damaged' });
  });
});
