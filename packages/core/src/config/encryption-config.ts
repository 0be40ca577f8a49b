import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

import { fingerprint, parseIdentities, parseRecipients } from '../crypto/keys.js';
import { ConfigError } from '../errors.js';

/** A whole value that is one `${VAR}` reference: how secrets enter the config. */
const VARIABLE_REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/**
 * Client-side encryption of an environment's snapshots (age). `recipients` or `passphrase` make
 * new snapshots encrypted (a capture needs only recipients: CI may write snapshots it cannot
 * read); `identities` and `passphrase` open them for restore, verify, copy and rekey. Secrets
 * never sit in the config itself: a passphrase is a `${VAR}` reference, identities are a `${VAR}`
 * reference (the `AGE-SECRET-KEY-1…` lines) or the path of an age identity file.
 */
export const encryptionConfigSchema = z
  .strictObject({
    /** X25519 recipients (`age1…`), or `{ key, name }` so `show` names whose key opens a snapshot. */
    recipients: z
      .array(z.union([z.string().min(1), z.strictObject({ key: z.string().min(1), name: z.string().min(1).optional() })]))
      .min(1)
      .optional(),
    /** `${VAR}`: the passphrase (age's scrypt, paid once per snapshot). */
    passphrase: z
      .string()
      .regex(VARIABLE_REFERENCE, 'must be a ${VAR} reference: a passphrase written into the config is readable by everyone who reads the config')
      .optional(),
    /** `${VAR}` holding `AGE-SECRET-KEY-1…` lines, or the path of an age identity file (relative to the config). */
    identities: z
      .string()
      .min(1)
      .refine((value) => !/AGE-SECRET-KEY-/i.test(value), {
        message: 'holds a key itself; keys do not belong in the config file: use ${STRATA_AGE_KEY} or the path of an identity file',
      })
      .optional(),
  })
  .refine((value) => !(value.recipients && value.passphrase), {
    message: 'sets both recipients and passphrase; an age file is sealed either to recipients or to one passphrase: pick one',
  });

export type EncryptionConfig = z.input<typeof encryptionConfigSchema>;

/** A recipient new snapshots are sealed to. */
export interface EncryptionRecipient {
  /** `age1…` */
  key: string;
  name?: string;
  /** `sha256:` + 16 hex digits, what manifests record. */
  fingerprint: string;
}

/** How new snapshots of an environment are sealed. */
export type SealTo =
  | { kind: 'recipients'; recipients: EncryptionRecipient[] }
  | { kind: 'passphrase'; /** Read when a snapshot is sealed. */ passphrase: () => string };

/** The keys that open snapshots, and where they came from (for messages; never the keys). */
export interface Keyring {
  identities: string[];
  passphrase?: string;
  /** e.g. `STRATA_AGE_KEY`, `the identity file /keys/prod.txt`. */
  sources: string[];
}

/** An environment's encryption settings, resolved once; secrets are read only when used. */
export interface EnvironmentEncryption {
  /** Set when new snapshots of this environment are encrypted. */
  readonly sealTo: SealTo | undefined;
  /** Recipient names by fingerprint, from the config (for `show`). */
  readonly names: ReadonlyMap<string, string>;
  /** The keys to open snapshots with: the config's, else `STRATA_AGE_KEY`/`STRATA_AGE_KEY_FILE`/`STRATA_AGE_PASSPHRASE`. */
  keyring(): Keyring;
  /** Values of the secrets this environment refers to that are set, so output can scrub them. */
  secrets(): string[];
}

/** Environment variables read when the config names no key: for a machine that only restores. */
export const KEY_VARIABLES = { key: 'STRATA_AGE_KEY', keyFile: 'STRATA_AGE_KEY_FILE', passphrase: 'STRATA_AGE_PASSPHRASE' } as const;

/**
 * Resolves an environment's `encryption` section (already validated by the schema). Recipients are
 * checked now (they are public); passphrase and identities are read from the process environment
 * or the identity file only when a snapshot is sealed or opened, so a capture-only machine needs
 * no key and a restore-only one no recipients.
 */
export function resolveEncryption(
  section: z.output<typeof encryptionConfigSchema> | undefined,
  where: string,
  baseDir: string,
  processEnv: NodeJS.ProcessEnv = process.env,
): EnvironmentEncryption {
  const recipients = section?.recipients
    ? (() => {
        const entries = section.recipients.map((r) => (typeof r === 'string' ? { key: r } : r));
        const keys = parseRecipients(entries.map((e) => e.key), `${where}.recipients`);
        return keys.map((key) => {
          const named = entries.find((e) => e.key.trim().toLowerCase() === key.toLowerCase());
          return { key, fingerprint: fingerprint(key), ...(named?.name ? { name: named.name } : {}) };
        });
      })()
    : undefined;
  const variable = (reference: string, what: string): string => {
    const name = VARIABLE_REFERENCE.exec(reference)![1]!;
    const value = processEnv[name];
    if (value === undefined || value === '') {
      throw new ConfigError(`${where}.${what} uses \${${name}}, which is not set.`, {
        code: 'config-variable-missing',
        hint: `Export ${name} in the environment before running strata.`,
      });
    }
    return value;
  };
  const sealTo: SealTo | undefined = recipients
    ? { kind: 'recipients', recipients }
    : section?.passphrase
      ? { kind: 'passphrase', passphrase: () => variable(section.passphrase!, 'passphrase') }
      : undefined;
  const names = new Map((recipients ?? []).flatMap((r) => (r.name ? [[r.fingerprint, r.name] as const] : [])));

  const keyring = (): Keyring => {
    const ring: Keyring = { identities: [], sources: [] };
    const addIdentities = (text: string, source: string): void => {
      ring.identities.push(...parseIdentities(text, source));
      ring.sources.push(source);
    };
    if (section?.identities) {
      if (VARIABLE_REFERENCE.test(section.identities)) {
        addIdentities(variable(section.identities, 'identities'), `${where}.identities (${section.identities})`);
      } else {
        const file = path.resolve(baseDir, section.identities);
        addIdentities(readKeyFile(file, `${where}.identities`), `the identity file ${file}`);
      }
    } else if (processEnv[KEY_VARIABLES.key]) {
      addIdentities(processEnv[KEY_VARIABLES.key]!, KEY_VARIABLES.key);
    } else if (processEnv[KEY_VARIABLES.keyFile]) {
      const file = path.resolve(processEnv[KEY_VARIABLES.keyFile]!);
      addIdentities(readKeyFile(file, KEY_VARIABLES.keyFile), `the identity file ${file} (${KEY_VARIABLES.keyFile})`);
    }
    if (section?.passphrase) {
      ring.passphrase = variable(section.passphrase, 'passphrase');
      ring.sources.push(`${where}.passphrase (${section.passphrase})`);
    } else if (processEnv[KEY_VARIABLES.passphrase]) {
      ring.passphrase = processEnv[KEY_VARIABLES.passphrase]!;
      ring.sources.push(KEY_VARIABLES.passphrase);
    }
    return ring;
  };

  const secrets = (): string[] => {
    const referenced = [section?.passphrase, section?.identities]
      .flatMap((value) => (value ? [VARIABLE_REFERENCE.exec(value)?.[1]] : []))
      .filter((name): name is string => name !== undefined);
    return [...referenced, KEY_VARIABLES.key, KEY_VARIABLES.passphrase]
      .map((name) => processEnv[name])
      .filter((value): value is string => typeof value === 'string' && value.length >= 3)
      .flatMap((value) => [value, ...value.split(/\r?\n/).map((line) => line.trim()).filter((line) => line.length >= 3)]);
  };

  return { sealTo, names, keyring, secrets };
}

/** An identity file's text; a missing or unreadable file is one sentence naming it. */
function readKeyFile(file: string, where: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(`${where} names the identity file ${file}, which ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`}.`, {
      code: 'encryption-key-unreadable',
      hint: 'Point it at an age identity file (`age-keygen -o key.txt`), or set STRATA_AGE_KEY.',
      cause: error,
    });
  }
}
