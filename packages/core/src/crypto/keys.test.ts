import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { Encrypter, armor, generateHybridIdentity, identityToRecipient } from 'age-encryption';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, DecryptionFailed } from '../errors.js';
import {
  fingerprint,
  generateSnapshotKey,
  openSealed,
  parseIdentities,
  parseRecipients,
  recipientOf,
  sealJson,
  unwrapSnapshotKey,
  wrapSnapshotKey,
} from './keys.js';

/** scrypt at 2^10 keeps passphrase tests fast; one test checks production's default separately. */
const FAST = { scryptWorkFactor: 10 };

let user: { identity: string; recipient: string };
let colleague: { identity: string; recipient: string };
let snapshotKey: { identity: string; recipient: string };

beforeAll(async () => {
  [user, colleague, snapshotKey] = await Promise.all([generateSnapshotKey(), generateSnapshotKey(), generateSnapshotKey()]);
});

/** Everything a user or a log could see of an error. */
function shown(error: unknown): string {
  const e = error as Error & { hint?: string; toJSON?: () => unknown };
  return [e.message, e.hint, String(e), e.stack, inspect(e, { depth: 10 }), JSON.stringify(e.toJSON?.())].join('\n');
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/**
 * 12 characters of a key's data part: enough to betray it, and left intact by the edits the tests
 * make to keys (a character changed at 30 or later, a cut at 40 or later).
 */
const secretPart = (identity: string) => identity.slice('AGE-SECRET-KEY-1'.length, 28);

function expectNoSecret(error: unknown, ...secrets: string[]): void {
  const text = shown(error).toLowerCase();
  for (const secret of secrets) expect(text).not.toContain(secretPart(secret).toLowerCase());
}

describe('generateSnapshotKey, recipientOf, fingerprint', () => {
  it('makes a new X25519 key each time, whose recipient recipientOf finds again', async () => {
    expect(snapshotKey.identity).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    expect(snapshotKey.recipient).toMatch(/^age1[0-9a-z]{58}$/);
    expect(snapshotKey.identity).not.toBe(user.identity);
    expect(await recipientOf(snapshotKey.identity)).toBe(snapshotKey.recipient);
  });

  it('fingerprints a recipient as sha256: and 16 hex digits of its lowercase form', () => {
    const expected = `sha256:${createHash('sha256').update(user.recipient).digest('hex').slice(0, 16)}`;
    expect(fingerprint(user.recipient)).toBe(expected);
    expect(fingerprint(user.recipient.toUpperCase())).toBe(expected);
    expect(fingerprint(colleague.recipient)).not.toBe(expected);
  });

  it('recipientOf refuses what is not an X25519 secret key, without quoting it', async () => {
    const broken = user.identity.slice(0, 30) + (user.identity[30] === 'Q' ? 'P' : 'Q') + user.identity.slice(31);
    for (const bad of [broken, user.recipient, await generateHybridIdentity()]) {
      const error = await rejectionOf(recipientOf(bad));
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).code).toBe('encryption-key-invalid');
      expectNoSecret(error, bad.startsWith('AGE') ? bad : user.identity);
    }
  });
});

describe('parseRecipients', () => {
  const where = 'environment "prod": encryption.recipients';

  it('keeps X25519 recipients, trimmed, lowercased and once each', () => {
    expect(parseRecipients([user.recipient, ` ${colleague.recipient} `, user.recipient.toUpperCase()], where)).toEqual([user.recipient, colleague.recipient]);
  });

  it.each([
    ['an SSH key', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMxq2uTnvDKhRd4oGC9T3mYNpVnDdLDGd2vrC3AO3aQA me@host', /is an SSH key/],
    ['a plugin recipient', 'age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t', /plugin or tag recipient/],
    ['a tag recipient', 'age1tag1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t', /plugin or tag recipient/],
    ['a recipient with a changed character', 'age1' + 'q'.repeat(58), /not a valid age recipient/],
    ['something else', 'alice@example.com', /not a valid age recipient/],
  ])('refuses %s in a sentence naming the setting and the entry', (_name, entry, sentence) => {
    const error = thrownBy(() => parseRecipients([user.recipient, entry], where)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe('encryption-key-invalid');
    expect(error.message).toMatch(sentence);
    expect(error.message).toContain(`Entry 2 of ${where}`);
  });

  it('refuses a post-quantum recipient, which the age 1.1 command line cannot open', async () => {
    const pq = await identityToRecipient(await generateHybridIdentity());
    expect(pq.startsWith('age1pq1')).toBe(true);
    expect((thrownBy(() => parseRecipients([pq], where)) as Error).message).toMatch(/post-quantum/);
  });

  it('refuses a secret key listed as a recipient and does not print it', () => {
    const error = thrownBy(() => parseRecipients([user.identity], where)) as ConfigError;
    expect(error.message).toMatch(/is an age secret key, not a recipient/);
    expect(error.hint).toMatch(/age-keygen -y/);
    expectNoSecret(error, user.identity);
  });

  it('refuses an empty list', () => {
    expect((thrownBy(() => parseRecipients([], where)) as Error).message).toBe(`${where} lists no age recipient.`);
  });
});

describe('parseIdentities', () => {
  const where = 'STRATA_AGE_KEY';

  it('reads an identity file as age-keygen writes it, with several keys, CRLF and a BOM', () => {
    const file = [
      '\uFEFF# created: 2026-12-03T10:00:00+01:00',
      `# public key: ${user.recipient}`,
      user.identity,
      '',
      `  ${colleague.identity}  `,
      user.identity,
    ].join('\r\n');
    expect(parseIdentities(file, where)).toEqual([user.identity, colleague.identity]);
  });

  it.each([
    ['a line that is no key', (id: string) => `${id}\nnot a key ${id.slice(16, 30)}`, /Line 2 of STRATA_AGE_KEY is not an age secret key/],
    ['a key with a changed character', (id: string) => `# mine\n${id.slice(0, 40)}${id[40] === 'Q' ? 'P' : 'Q'}${id.slice(41)}`, /Line 2 .* does not decode/],
    ['a key cut short', (id: string) => id.slice(0, 50), /Line 1 .* does not decode/],
    ['a key pasted with a prefix', (id: string) => `export STRATA_AGE_KEY=${id}`, /Line 1 .* is not an age secret key/],
  ])('refuses %s, naming the line but never quoting it', (_name, make, sentence) => {
    const text = make(user.identity);
    const error = thrownBy(() => parseIdentities(text, where)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe('encryption-key-invalid');
    expect(error.message).toMatch(sentence);
    expectNoSecret(error, user.identity);
  });

  it('refuses a recipient, a post-quantum key and a file with no key', async () => {
    expect((thrownBy(() => parseIdentities(user.recipient, where)) as Error).message).toMatch(/is an age recipient \(a public key\)/);
    const pq = await generateHybridIdentity();
    expect((thrownBy(() => parseIdentities(pq, where)) as Error).message).toMatch(/post-quantum/);
    expect((thrownBy(() => parseIdentities('# only a comment\n\n', where)) as Error).message).toBe('STRATA_AGE_KEY holds no age secret key (AGE-SECRET-KEY-1…).');
  });
});

describe('wrapSnapshotKey and unwrapSnapshotKey', () => {
  it('wraps to several recipients, armored; each of them opens it, nobody else', async () => {
    const wrapped = await wrapSnapshotKey(snapshotKey.identity, { recipients: [user.recipient, colleague.recipient] });
    expect(wrapped.startsWith('-----BEGIN AGE ENCRYPTED FILE-----\n')).toBe(true);
    expect(wrapped).not.toContain(secretPart(snapshotKey.identity));
    expect(await unwrapSnapshotKey(wrapped, { identities: [user.identity] })).toBe(snapshotKey.identity);
    expect(await unwrapSnapshotKey(wrapped, { identities: [snapshotKey.identity, colleague.identity] })).toBe(snapshotKey.identity);

    const error = (await rejectionOf(unwrapSnapshotKey(wrapped, { identities: [snapshotKey.identity] }))) as DecryptionFailed;
    expect(error).toBeInstanceOf(DecryptionFailed);
    expect(error).toMatchObject({ code: 'key-mismatch', reason: 'wrong-key', message: 'None of the given keys opens the snapshot key.' });
    expectNoSecret(error, snapshotKey.identity);
  });

  it('wraps to a passphrase; the wrong passphrase is a key mismatch', async () => {
    const wrapped = await wrapSnapshotKey(snapshotKey.identity, { passphrase: 'correct horse battery staple' }, FAST);
    expect(await unwrapSnapshotKey(wrapped, { identities: [], passphrase: 'correct horse battery staple' })).toBe(snapshotKey.identity);
    expect(await unwrapSnapshotKey(wrapped, { identities: [user.identity], passphrase: 'correct horse battery staple' })).toBe(snapshotKey.identity);
    const error = await rejectionOf(unwrapSnapshotKey(wrapped, { identities: [user.identity], passphrase: 'wrong horse' }));
    expect(error).toMatchObject({ code: 'key-mismatch', reason: 'wrong-key' });
    expect(shown(error)).not.toContain('horse');
  });

  it("uses age's default scrypt work factor (2^18) unless a test lowers it", async () => {
    const workFactor = async (options?: { scryptWorkFactor?: number }) => {
      const header = Buffer.from(armor.decode(await wrapSnapshotKey(snapshotKey.identity, { passphrase: 'p' }, options))).toString('latin1');
      return /^-> scrypt \S+ (\d+)$/m.exec(header)?.[1];
    };
    expect(await workFactor(FAST)).toBe('10');
    expect(await workFactor()).toBe('18');
  }, 60_000);

  it('tells a damaged envelope from a wrong key', async () => {
    const wrapped = await wrapSnapshotKey(snapshotKey.identity, { recipients: [user.recipient] });
    const lines = wrapped.split('\n');
    const last = lines.length - 3; // the last base64 line holds the payload's tag
    lines[last] = lines[last]!.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
    for (const damaged of [lines.join('\n'), wrapped.slice(0, 80), 'not armored', `${wrapped}x`]) {
      const error = await rejectionOf(unwrapSnapshotKey(damaged, { identities: [user.identity] }));
      expect(error).toMatchObject({ code: 'decryption-failed', reason: 'damaged' });
      expectNoSecret(error, user.identity, snapshotKey.identity);
    }
  });

  it('refuses an envelope that opens but holds no single X25519 key', async () => {
    for (const content of ['hello', `${snapshotKey.identity}\n${user.identity}\n`]) {
      const encrypter = new Encrypter();
      encrypter.addRecipient(user.recipient);
      const wrapped = armor.encode(await encrypter.encrypt(content));
      const error = await rejectionOf(unwrapSnapshotKey(wrapped, { identities: [user.identity] }));
      expect(error).toMatchObject({ reason: 'damaged', message: 'The snapshot key in the manifest opens, but does not hold an age X25519 key.' });
      expectNoSecret(error, user.identity, snapshotKey.identity);
    }
  });

  it('refuses an envelope larger than any strata writes before decoding it', async () => {
    const error = await rejectionOf(unwrapSnapshotKey('A'.repeat(2 * 1024 * 1024), { identities: [user.identity] }));
    expect(error).toMatchObject({ reason: 'damaged' });
    expect((error as Error).message).toMatch(/larger than/);
  });

  it('refuses bad input from the caller as configuration errors', async () => {
    await expect(wrapSnapshotKey(snapshotKey.identity, { passphrase: '' })).rejects.toMatchObject({ code: 'encryption-key-invalid' });
    await expect(wrapSnapshotKey(snapshotKey.identity, { recipients: [] })).rejects.toBeInstanceOf(ConfigError);
    const wrapped = await wrapSnapshotKey(snapshotKey.identity, { recipients: [user.recipient] });
    await expect(unwrapSnapshotKey(wrapped, { identities: [] })).rejects.toMatchObject({ code: 'encryption-key-invalid' });
    const error = await rejectionOf(unwrapSnapshotKey(wrapped, { identities: [user.identity.slice(0, 50)] }));
    expect(error).toMatchObject({ code: 'encryption-key-invalid' });
    expectNoSecret(error, user.identity);
  });
});

describe('sealJson and openSealed', () => {
  const sensitive = { source: { database: 'shop_prod' }, tables: [{ name: 'orders', rows: 3, columns: ['id', 'email'] }], scope: { tenant: 'acme' } };

  it('round-trips a JSON value, armored, for the snapshot recipient only', async () => {
    const sealed = await sealJson(sensitive, snapshotKey.recipient);
    expect(sealed.startsWith('-----BEGIN AGE ENCRYPTED FILE-----\n')).toBe(true);
    expect(sealed).not.toContain('shop_prod');
    expect(await openSealed(sealed, snapshotKey.identity)).toEqual(sensitive);
    const error = await rejectionOf(openSealed(sealed, user.identity));
    expect(error).toMatchObject({ code: 'decryption-failed', reason: 'wrong-key' });
    expectNoSecret(error, user.identity, snapshotKey.identity);
  });

  it('refuses a sealed part that was changed, is not JSON inside, or is too large', async () => {
    const sealed = await sealJson(sensitive, snapshotKey.recipient);
    const changed = sealed.replace(/\n(.)/, (_m, c: string) => `\n${c === 'A' ? 'B' : 'A'}`);
    await expect(openSealed(changed, snapshotKey.identity)).rejects.toMatchObject({ reason: 'damaged' });

    const encrypter = new Encrypter();
    encrypter.addRecipient(snapshotKey.recipient);
    const notJson = armor.encode(await encrypter.encrypt('{"cut":'));
    await expect(openSealed(notJson, snapshotKey.identity)).rejects.toMatchObject({ reason: 'damaged', message: 'The sealed part of the manifest opens, but is not JSON.' });

    await expect(openSealed('A'.repeat(33 * 1024 * 1024), snapshotKey.identity)).rejects.toMatchObject({ reason: 'damaged', message: expect.stringMatching(/larger than/) });
  });

  it('refuses a value with no JSON form and a bad recipient or identity', async () => {
    await expect(sealJson(undefined, snapshotKey.recipient)).rejects.toBeInstanceOf(TypeError);
    await expect(sealJson({}, 'age1nope')).rejects.toMatchObject({ code: 'encryption-key-invalid' });
    const error = await rejectionOf(openSealed(await sealJson({}, snapshotKey.recipient), snapshotKey.identity.slice(0, 40)));
    expect(error).toMatchObject({ code: 'encryption-key-invalid' });
    expectNoSecret(error, snapshotKey.identity);
  });
});
