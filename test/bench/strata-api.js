// Runs one strata operation through the built library (packages/*/dist), for the bench to time
// while the CLI does not have the command yet. Prints the result as one JSON line, like --json.
//
//   node test/bench/strata-api.js snapshot <config> <env>
//   node test/bench/strata-api.js restore  <config> <env> <id> <database>
import { loadConfig, resolveEnvironment, restore, snapshot } from '../../packages/core/dist/index.js';
import { storageHook } from '../../packages/plugin-local/dist/index.js';

const [operation, configPath, envName, id, database] = process.argv.slice(2);
const config = await loadConfig({ configPath });
const env = resolveEnvironment(config, envName);
const storage = await storageHook({ url: env.storageUrl, baseDir: config.baseDir, options: env.storageOptions });
if (!storage) throw new Error(`no storage driver for ${env.storageUrl}`);
const ctx = { config, env, storage, log: (level, message) => level === 'warn' && console.error(`warn: ${message}`) };

let result;
if (operation === 'snapshot') {
  const { id: snapshotId, location, durationMs } = await snapshot(ctx);
  result = { id: snapshotId, location, durationMs };
} else if (operation === 'restore') {
  result = await restore({ ...ctx, id, database });
} else {
  throw new Error(`unknown operation ${operation}`);
}
console.log(JSON.stringify({ ...result, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
