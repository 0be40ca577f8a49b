import { createHash } from 'node:crypto';
import { Decrypter, Encrypter, armor, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { DecryptionFailed } from '../errors.js';
import { MAX_MANIFEST_BYTES } from '../format/manifest-io.js';
import { decryptionFailed, invalidKey } from './crypto-errors.js';

/**
 * The snapshot-key envelope and the age keys around it. A snapshot has its own X25519 key: its
 * data files and the sealed part of its manifest are encrypted to it, and the key itself is
 * encrypted (armored, in the manifest) to the configuration's recipients or to a passphrase. So
 * rekeying rewrites one small text, and a passphrase costs one scrypt per snapshot.
 * Key material never goes into an error (see crypto-errors.ts).
 */

/** A wrapped snapshot key holds one identity per recipient stanza (≈100 B each): 1 MiB is thousands. */
const MAX_WRAPPED_KEY_CHARS = 1024 * 1024;
/** The sealed part lives inside a manifest, which strata never reads past this size. */
const MAX_SEALED_CHARS = MAX_MANIFEST_BYTES;

/** A fresh X25519 key for one snapshot, in memory only until it is wrapped. */
export async function generateSnapshotKey(): Promise<{ identity: string; recipient: string }> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

/**
 * How a manifest names a recipient without spelling it out: `sha256:` and the first 16 hex digits
 * of the sha256 of the lowercased recipient (`age1…`). Stable across upper/lower case spellings.
 */
export function fingerprint(recipient: string): string {
  return `sha256:${createHash('sha256').update(recipient.toLowerCase()).digest('hex').slice(0, 16)}`;
}

/** The recipient (`age1…`) of an X25519 identity, to match a key against a manifest's fingerprints. */
export async function recipientOf(identity: string): Promise<string> {
  if (!identity.startsWith('AGE-SECRET-KEY-1')) throw invalidKey('The key given is not an age X25519 secret key (AGE-SECRET-KEY-1…).');
  try {
    return await identityToRecipient(identity);
  } catch {
    throw invalidKey('The key given looks like an age secret key but does not decode: a character is missing or changed.');
  }
}

/**
 * Checks a configuration's recipients and returns them lowercased and without duplicates. Only
 * X25519 recipients (`age1…`) pass: post-quantum ones (`age1pq1…`) do not open with the age 1.1
 * command line, and plugin or SSH recipients would need software strata does not run. `where`
 * names the setting in the sentence, e.g. `environment "prod": encryption.recipients`.
 */
export function parseRecipients(list: readonly string[], where: string): string[] {
  if (list.length === 0) throw invalidKey(`${where} lists no age recipient.`, 'Add the public key (age1…) of each person or system that must read the snapshots.');
  const seen = new Set<string>();
  list.forEach((entry, index) => {
    const recipient = typeof entry === 'string' ? entry.trim().toLowerCase() : '';
    const problem = recipientProblem(recipient);
    // The entry itself is not quoted: a secret key pasted here by mistake must not be printed.
    if (problem) throw invalidKey(`Entry ${index + 1} of ${where} ${problem.sentence}`, problem.hint);
    seen.add(recipient);
  });
  return [...seen];
}

function recipientProblem(recipient: string): { sentence: string; hint: string } | undefined {
  const onlyX25519 = 'strata encrypts only to age X25519 recipients (age1…).';
  const makeOne = 'Make an age key with `age-keygen -o key.txt` and list the public key it prints.';
  if (recipient.startsWith('age-secret-key-')) {
    return {
      sentence: 'is an age secret key, not a recipient.',
      hint: 'List its public key instead (`age-keygen -y key.txt` prints it) and keep the secret key out of the configuration.',
    };
  }
  if (/^(ssh-|ecdsa-sha2-|sk-)/.test(recipient)) return { sentence: `is an SSH key; ${onlyX25519}`, hint: makeOne };
  if (recipient.startsWith('age1pq1')) {
    return { sentence: `is a post-quantum recipient (age1pq1…), which the age 1.1 command line cannot open; ${onlyX25519}`, hint: makeOne };
  }
  // bech32 puts the type before the last "1", and the data alphabet has no "1": a further "1"
  // after "age1" means a longer type, i.e. a plugin (age1yubikey1…) or tag recipient.
  if (/^age1[a-z0-9]*1/.test(recipient)) return { sentence: `is a plugin or tag recipient; ${onlyX25519}`, hint: makeOne };
  try {
    new Encrypter().addRecipient(recipient);
  } catch {
    return { sentence: 'is not a valid age recipient (age1… and 58 more characters).', hint: 'Copy the public key again from `age-keygen -y key.txt`.' };
  }
  return undefined;
}

/**
 * Reads the text of an age identity file (what `age-keygen` writes): `AGE-SECRET-KEY-1…` lines,
 * `#` comments and blank lines; several keys are allowed. Returns the keys without duplicates.
 * Anything else is a ConfigError naming `where` and the line number, never the line.
 */
export function parseIdentities(text: string, where: string): string[] {
  const keys = new Set<string>();
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const problem = identityProblem(line);
      if (problem) throw invalidKey(`Line ${index + 1} of ${where} ${problem}`, 'An age key file holds AGE-SECRET-KEY-1… lines, # comments and blank lines (`age-keygen -o key.txt` writes one).');
      keys.add(line);
    });
  if (keys.size === 0) throw invalidKey(`${where} holds no age secret key (AGE-SECRET-KEY-1…).`, 'Give the key file `age-keygen` wrote, or its AGE-SECRET-KEY-1… line.');
  return [...keys];
}

function identityProblem(line: string): string | undefined {
  if (line.startsWith('AGE-SECRET-KEY-PQ-1')) return 'is a post-quantum age key; strata encrypts snapshots to X25519 keys (AGE-SECRET-KEY-1…) only.';
  if (line.toLowerCase().startsWith('age1')) return 'is an age recipient (a public key), not a secret key.';
  if (!line.startsWith('AGE-SECRET-KEY-1')) return 'is not an age secret key (AGE-SECRET-KEY-1…), a # comment or blank.';
  try {
    new Decrypter().addIdentity(line);
  } catch {
    return 'looks like an age secret key but does not decode: a character is missing or changed.';
  }
  return undefined;
}

/** Where a snapshot key is wrapped to: the configuration's recipients, or one passphrase. */
export type WrapTarget = { recipients: readonly string[] } | { passphrase: string };

/**
 * Encrypts a snapshot's identity for the manifest: armored age (`-----BEGIN AGE ENCRYPTED
 * FILE-----`), which `age -d -i key.txt` (or `age -d` and the passphrase) opens to an identity
 * file. A passphrase costs one scrypt at age's default work factor (2^18: seconds of CPU and
 * ≈300 MB, once per snapshot). `scryptWorkFactor` is for tests only; nothing reads it from
 * configuration or the environment, so a production snapshot always gets the default.
 */
export async function wrapSnapshotKey(identity: string, to: WrapTarget, options: { scryptWorkFactor?: number } = {}): Promise<string> {
  const encrypter = new Encrypter();
  if ('passphrase' in to) {
    if (to.passphrase === '') throw invalidKey('The passphrase to encrypt the snapshot key with is empty.', 'Set a long passphrase, or use age recipients instead.');
    encrypter.setPassphrase(to.passphrase);
    if (options.scryptWorkFactor !== undefined) encrypter.setScryptWorkFactor(options.scryptWorkFactor);
  } else {
    for (const recipient of parseRecipients(to.recipients, 'the recipients of the snapshot key')) encrypter.addRecipient(recipient);
  }
  // A trailing newline makes the opened text a well-formed identity file for `age -d -i`.
  return armor.encode(await encrypter.encrypt(`${identity}\n`));
}

/**
 * Opens a wrapped snapshot key with any of the keyring's identities or its passphrase. No match is
 * a `DecryptionFailed` (code `key-mismatch`, reason `wrong-key`) whose sentence the caller completes
 * with the fingerprints; a changed or cut envelope is reason `damaged`.
 */
export async function unwrapSnapshotKey(armored: string, keyring: { identities: readonly string[]; passphrase?: string }): Promise<string> {
  const what = 'The snapshot key in the manifest';
  const decrypter = new Decrypter();
  for (const identity of keyring.identities) {
    try {
      decrypter.addIdentity(identity);
    } catch {
      throw invalidKey('A key given to open the snapshot is not an age secret key.');
    }
  }
  if (keyring.passphrase) decrypter.addPassphrase(keyring.passphrase);
  if (keyring.identities.length === 0 && !keyring.passphrase) {
    throw invalidKey('The snapshot is encrypted and no age key or passphrase was given to open it.');
  }
  let text: string;
  try {
    text = await decrypter.decrypt(dearmor(armored, what, MAX_WRAPPED_KEY_CHARS), 'text');
  } catch (error) {
    const failure = decryptionFailed(error, what);
    if (failure.reason !== 'wrong-key') throw failure;
    throw new DecryptionFailed('None of the given keys opens the snapshot key.', {
      reason: 'wrong-key',
      code: 'key-mismatch',
      hint: 'Use a key (or passphrase) the snapshot was encrypted for.',
    });
  }
  // What the envelope holds must be exactly one X25519 identity: it is about to open every file.
  const identity = text.trim();
  if (/\s/.test(identity) || identityProblem(identity) !== undefined) {
    throw new DecryptionFailed(`${what} opens, but does not hold an age X25519 key.`, { reason: 'damaged', hint: 'The manifest was not written by strata; use another snapshot.' });
  }
  return identity;
}

/**
 * Encrypts a JSON value to a recipient (the snapshot's), armored: the manifest's sealed part.
 * `JSON.stringify` of the value, so what comes back from `openSealed` is its JSON form.
 */
export async function sealJson(value: unknown, recipient: string): Promise<string> {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError('sealJson: the value has no JSON form');
  const encrypter = new Encrypter();
  try {
    encrypter.addRecipient(recipient);
  } catch {
    throw invalidKey('The recipient given to seal the manifest is not an age recipient.');
  }
  return armor.encode(await encrypter.encrypt(text));
}

/** Opens what `sealJson` made. Input larger than a manifest can be is refused before any work. */
export async function openSealed(armored: string, identity: string): Promise<unknown> {
  const what = 'The sealed part of the manifest';
  const decrypter = new Decrypter();
  try {
    decrypter.addIdentity(identity);
  } catch {
    throw invalidKey('The key given to open the manifest is not an age secret key.');
  }
  let text: string;
  try {
    text = await decrypter.decrypt(dearmor(armored, what, MAX_SEALED_CHARS), 'text');
  } catch (error) {
    throw decryptionFailed(error, what);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Authentic (it decrypted) yet not JSON: written by someone holding the recipient, not strata.
    throw new DecryptionFailed(`${what} opens, but is not JSON.`, { reason: 'damaged', hint: 'The manifest was not written by strata; use another snapshot.' });
  }
}

function dearmor(armored: string, what: string, maxChars: number): Uint8Array {
  if (armored.length > maxChars) {
    throw new DecryptionFailed(`${what} is larger than the ${maxChars} characters strata reads of it.`, { reason: 'damaged', hint: 'The manifest was not written by strata; use another snapshot.' });
  }
  try {
    return armor.decode(armored);
  } catch (error) {
    throw decryptionFailed(error, what);
  }
}
