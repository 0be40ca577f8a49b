import { ConfigError, DecryptionFailed } from '../errors.js';

/**
 * The two ways strata's crypto code fails, made in one place so that no error carries key
 * material: age's parse errors may quote the key string they were given, so errors about keys are
 * made without a `cause`. age's decrypt errors ("invalid tag", "invalid header HMAC") name no key
 * and are kept as `cause`.
 */

/** A ConfigError about a key or recipient, deliberately without `cause`. */
export function invalidKey(sentence: string, hint = 'Check the age key or recipient; `age-keygen` makes and shows them.'): ConfigError {
  return new ConfigError(sentence, { code: 'encryption-key-invalid', hint });
}

/**
 * Maps an error of age's decrypt to one sentence about `what` ("The encrypted data", "The sealed
 * part of the manifest"). age reports a key that matches no stanza as "no identity matched";
 * every other failure means the bytes are not what was encrypted.
 */
export function decryptionFailed(error: unknown, what = 'The encrypted data'): DecryptionFailed {
  if (error instanceof DecryptionFailed) return error;
  const text = error instanceof Error ? error.message : String(error);
  if (text.includes('no identity matched')) {
    return new DecryptionFailed(`${what} was not encrypted for this key (or its header was changed where the key is wrapped).`, {
      reason: 'wrong-key',
      hint: 'Use a key whose recipient the data was encrypted for.',
      cause: error,
    });
  }
  return new DecryptionFailed(`${what} is damaged: it was cut short, changed or extended, or it is not age-encrypted.`, {
    reason: 'damaged',
    hint: 'Use another copy or another snapshot; encrypted bytes cannot be repaired.',
    cause: error,
  });
}
