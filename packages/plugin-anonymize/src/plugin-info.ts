import { readFileSync } from 'node:fs';

/** The plugin's version, from its package.json (one level above both `src/` and `dist/`). */
export const PLUGIN_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The plugin's package name, recorded in manifests as the transformer's name. */
export const PLUGIN_NAME = '@strata/plugin-anonymize';
