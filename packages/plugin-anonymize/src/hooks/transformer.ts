import type { TransformerHookOptions, TransformerHookResult } from '@strata/contracts';

import { parseAnonymizeConfig } from '../anonymize-config.js';
import { createAnonymizer } from '../anonymizer.js';

/**
 * The `strata:transformer` hook: `undefined` when the config has no `anonymize` section, else the
 * anonymizer for it. The section is parsed here (unknown transformers, bad options, a missing
 * salt fail now, exit code 2); the rules are checked against the schema in `prepare`.
 */
export async function transformerHook(options: TransformerHookOptions): Promise<TransformerHookResult> {
  const section = options.strataConfig.anonymize;
  if (section === undefined) return undefined;
  return createAnonymizer(parseAnonymizeConfig(section, { interpolate: options.interpolate }));
}
