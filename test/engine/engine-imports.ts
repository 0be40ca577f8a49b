// Tests call core from source, the way a script would call the built package.
export { copySnapshot, migrateUp, restore, snapshot, listSnapshots, showSnapshot, verifySnapshot } from '../../packages/core/src/index.js';
export { createKnex as createKnexForTest } from '../../packages/core/src/db/pg-connect.js';
