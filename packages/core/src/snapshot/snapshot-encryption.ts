import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { z } from 'zod';

import { resolveEncryption, type EnvironmentEncryption, type Keyring, type SealTo } from '../config/encryption-config.js';
import { canonicalJson } from '../crypto/canonical-json.js';
import { fingerprint, generateSnapshotKey, openSealed, recipientOf, sealJson, unwrapSnapshotKey, wrapSnapshotKey } from '../crypto/keys.js';
import { decryptStream } from '../crypto/age-streams.js';
import { ConfigError, DecryptionFailed, IntegrityError, StrataError } from '../errors.js';
import { DigestStream } from '../format/stream-digest.js';
import type { Manifest, ManifestEncryption, TableEntry } from '../format/manifest-schema.js';

/**
 * Encryption of a snapshot (format 1.4): every data file is age-encrypted to a key made for this
 * snapshot alone; that key is age-encrypted to the environment's recipients or passphrase and
 * kept in the manifest (`encryption.key`), so rekeying and `copy --reencrypt` rewrite one object,
 * not every file. What `list` shows stays in clear (id, time, modules, tables, rows, sizes, who
 * may open it); what would tell about the data is sealed to the snapshot key
 * (`encryption.sealed`): each file's plaintext sha256 and size, a tenant scope's key values, and
 * the sha256 of the clear manifest, so a changed byte of it fails before anything is restored.
 */

/** What a capture keeps while it writes an encrypted snapshot. */
export interface SnapshotSealer {
  /** Recipient (`age1…`) every data file is encrypted to. */
  recipient: string;
  /** The manifest's `encryption` block, without `sealed` (added by `seal`). */
  envelope: Omit<ManifestEncryption, 'sealed'>;
}

/** The parts of an encrypted snapshot that only a key holder may read. */
const sealedSchema = z.strictObject({
  clearSha256: z.string().regex(/^[0-9a-f]{64}$/),
  tables: z.array(
    z.strictObject({
      schema: z.string(),
      name: z.string(),
      rawBytes: z.number().int().nonnegative(),
      plainSha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  ),
  scopeValues: z.array(z.string()).optional(),
});
type Sealed = z.output<typeof sealedSchema>;

/** An encrypted snapshot, opened: the whole manifest as a plain one would read, and its key. */
export interface OpenedSnapshot {
  manifest: Manifest;
  /** The snapshot's own identity (`AGE-SECRET-KEY-1…`): decrypts its data files. Never print it. */
  identity: string | undefined;
}

/** The keys an environment opens snapshots with; one built by hand, without its encryption resolved, still reads STRATA_AGE_KEY & co. */
export function keyringOf(encryption: EnvironmentEncryption | undefined, envName: string): Keyring {
  return (encryption ?? resolveEncryption(undefined, `environments.${envName}.encryption`, process.cwd())).keyring();
}

/** Makes a snapshot key and its envelope, before anything is read: a missing passphrase fails first. */
export async function prepareSealer(sealTo: SealTo): Promise<SnapshotSealer> {
  const { identity, recipient } = await generateSnapshotKey();
  return { recipient, envelope: await envelopeFor(identity, sealTo) };
}

/**
 * Turns a whole manifest (plaintext sizes and checksums on its tables) into the one stored: those
 * move into `encryption.sealed`, with the tenant scope's values and the clear manifest's sha256.
 */
export async function sealManifest(full: Manifest, envelope: Omit<ManifestEncryption, 'sealed'>, recipient: string): Promise<Manifest> {
  const tables = full.tables.map((t) => {
    if (t.rawBytes === undefined || t.plainSha256 === undefined) throw new Error(`internal: table ${t.schema}.${t.name} has no plaintext size or checksum to seal`);
    return { schema: t.schema, name: t.name, rawBytes: t.rawBytes, plainSha256: t.plainSha256 };
  });
  const clear: Manifest = {
    ...full,
    tables: full.tables.map(({ rawBytes: _raw, plainSha256: _plain, ...rest }) => rest),
    scope: full.scope?.kind === 'tenant' ? (({ values: _values, ...rest }) => rest)(full.scope) : full.scope,
    encryption: { ...envelope, sealed: '' },
  };
  const sealed: Sealed = {
    clearSha256: clearDigest(clear),
    tables,
    ...(full.scope?.kind === 'tenant' && full.scope.values ? { scopeValues: full.scope.values } : {}),
  };
  clear.encryption = { ...envelope, sealed: await sealJson(sealed, recipient) };
  return clear;
}

/**
 * Opens an encrypted snapshot's manifest with the environment's keys: unwraps the snapshot key
 * (a wrong key fails here, naming the fingerprints it is for and the ones given), opens the sealed
 * part and checks the clear manifest against it. A plain snapshot comes back as it is.
 */
export async function openSnapshot(manifest: Manifest, encryption: EnvironmentEncryption | undefined, envName: string): Promise<OpenedSnapshot> {
  const sealedBlock = manifest.encryption;
  if (!sealedBlock) return { manifest, identity: undefined };
  const keyring = keyringOf(encryption, envName);
  const forWhom = describeRecipients(manifest);
  if (keyring.identities.length === 0 && keyring.passphrase === undefined) {
    throw new ConfigError(`Snapshot ${manifest.id} is encrypted ${forWhom}, and no key to open it is set for environment "${envName}".`, {
      code: 'encryption-key-missing',
      hint: sealedBlock.mode === 'passphrase'
        ? 'Set STRATA_AGE_PASSPHRASE, or `encryption.passphrase: ${VAR}` in the environment.'
        : 'Set STRATA_AGE_KEY to the AGE-SECRET-KEY-1… line, or `encryption.identities` to an identity file (never on the command line).',
    });
  }
  let identity: string;
  try {
    identity = await unwrapSnapshotKey(sealedBlock.key, keyring);
  } catch (error) {
    if (isDamage(error)) throw damaged(manifest.id, 'its key envelope (encryption.key) is damaged', error);
    throw new ConfigError(`Snapshot ${manifest.id} is encrypted ${forWhom}; ${await describeKeyring(keyring)} does not open it.`, {
      code: 'encryption-key-mismatch',
      hint: 'Give the key of one of those recipients (STRATA_AGE_KEY or encryption.identities), or rekey the snapshot with `strata rekey` where a matching key is.',
      cause: error,
    });
  }
  let sealed: Sealed;
  try {
    sealed = sealedSchema.parse(await openSealed(sealedBlock.sealed, identity));
  } catch (error) {
    throw damaged(manifest.id, 'its sealed part (encryption.sealed) is damaged', error);
  }
  if (clearDigest(manifest) !== sealed.clearSha256) throw damaged(manifest.id, 'its manifest was changed after it was written');
  const byTable = new Map(sealed.tables.map((t) => [JSON.stringify([t.schema, t.name]), t]));
  if (byTable.size !== manifest.tables.length) throw damaged(manifest.id, 'its sealed part lists other tables than the manifest');
  const tables: TableEntry[] = manifest.tables.map((t) => {
    const inside = byTable.get(JSON.stringify([t.schema, t.name]));
    if (!inside) throw damaged(manifest.id, `its sealed part does not list table ${t.schema}.${t.name}`);
    return { ...t, rawBytes: inside.rawBytes, plainSha256: inside.plainSha256 };
  });
  const scope = manifest.scope?.kind === 'tenant' ? { ...manifest.scope, values: sealed.scopeValues ?? [] } : manifest.scope;
  return { manifest: { ...manifest, tables, scope }, identity };
}

/** Seals an opened snapshot again for other recipients (rekey, `copy --reencrypt`): same data files, new envelope. */
export async function rewrapSnapshot(opened: OpenedSnapshot, sealTo: SealTo): Promise<Manifest> {
  if (!opened.identity || !opened.manifest.encryption) throw new Error('internal: only an opened encrypted snapshot can be rewrapped');
  return sealManifest(opened.manifest, await envelopeFor(opened.identity, sealTo), await recipientOf(opened.identity));
}

/** The snapshot key wrapped for `sealTo`, with what the manifest says about it in clear. */
async function envelopeFor(identity: string, sealTo: SealTo): Promise<Omit<ManifestEncryption, 'sealed'>> {
  if (sealTo.kind === 'passphrase') {
    return { scheme: 'age-v1', mode: 'passphrase', recipients: [], key: await wrapSnapshotKey(identity, { passphrase: sealTo.passphrase() }) };
  }
  return {
    scheme: 'age-v1',
    mode: 'recipients',
    recipients: sealTo.recipients.map((r) => ({ fingerprint: r.fingerprint, ...(r.name ? { name: r.name } : {}) })),
    key: await wrapSnapshotKey(identity, { recipients: sealTo.recipients.map((r) => r.key) }),
  };
}

/** `for sha256:ab… (ops), sha256:cd…` or `with a passphrase`. */
export function describeRecipients(manifest: Pick<Manifest, 'encryption'>): string {
  const block = manifest.encryption;
  if (!block) return 'not encrypted';
  if (block.mode === 'passphrase') return 'with a passphrase';
  return `for ${block.recipients.map((r) => `${r.fingerprint}${r.name ? ` (${r.name})` : ''}`).join(', ')}`;
}

/** sha256 of the clear manifest as stored, minus the sealed part (which holds this digest). */
function clearDigest(manifest: Manifest): string {
  const { encryption, ...rest } = manifest;
  const { sealed: _sealed, ...envelope } = encryption!;
  return createHash('sha256').update(canonicalJson({ ...rest, encryption: envelope })).digest('hex');
}

async function describeKeyring(keyring: Keyring): Promise<string> {
  const parts: string[] = [];
  if (keyring.identities.length > 0) {
    const prints = await Promise.all(keyring.identities.map(async (identity) => fingerprint(await recipientOf(identity))));
    parts.push(`the key${prints.length > 1 ? 's' : ''} from ${keyring.sources.filter((s) => !/passphrase/i.test(s)).join(' and ')} (${prints.join(', ')})`);
  }
  if (keyring.passphrase !== undefined) parts.push(`the passphrase from ${keyring.sources.find((s) => /passphrase/i.test(s)) ?? 'the environment'}`);
  return parts.join(' and ');
}

function isDamage(error: unknown): boolean {
  return error instanceof StrataError && (error as { reason?: unknown }).reason === 'damaged';
}

function damaged(id: string, what: string, cause?: unknown): IntegrityError {
  return new IntegrityError(`Snapshot ${id} cannot be opened: ${what}.`, {
    code: 'manifest-invalid',
    hint: 'The snapshot is damaged or was altered; restore another one (`strata list`).',
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * The stages a data file goes through between storage and its decompressor: the stored bytes
 * measured (and cut at the manifest's size), then, with the snapshot key, age decryption and
 * the decrypted bytes measured (`plain`, compared with the sealed sha256 by `checkTable`).
 */
export function decryptingStages(identity: string | undefined): { stages: Duplex[]; plain: DigestStream | undefined } {
  if (identity === undefined) return { stages: [], plain: undefined };
  const plain = new DigestStream();
  return { stages: [decryptStream(identity), plain], plain };
}

/** A data file that does not decrypt, as the sentence the callers put after "The data file of …". */
export function describeDecryptionFailure(error: DecryptionFailed): string {
  return error.reason === 'wrong-key' ? 'is not encrypted to this snapshot\'s key (a file of another snapshot?)' : 'is truncated or corrupt (it does not decrypt)';
}
