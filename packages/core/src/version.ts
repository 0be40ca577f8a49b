import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The version of @strata/core, recorded in every manifest. */
export const STRATA_VERSION: string = (require('../package.json') as { version: string }).version;
