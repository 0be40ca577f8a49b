// How the bench runs strata: which build it needs, whether through the CLI or the library, and
// reading what `--json` prints.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure } from './measure.js';

export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CLI = join(REPO, 'packages/core/bin/run.js');
/**
 * The node flags of the CLI's shebang (`#!/usr/bin/env -S node --flag…`): `strata` run as a
 * command gets them, so the bench passes them too and measures strata as users run it.
 */
export const CLI_NODE_FLAGS = (readFileSync(CLI, 'utf8').split('\n', 1)[0].match(/\bnode\b(.*)$/)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);

/** Parses `--json` output: one document, pretty-printed or not (else its last line). */
export function parseJsonOutput(stdout) {
  try {
    return JSON.parse(stdout);
  } catch {
    return JSON.parse(stdout.trim().split('\n').filter(Boolean).at(-1) ?? 'null');
  }
}

/** Finds the snapshot id in `strata snapshot --json` output, whatever envelope it uses. */
export function snapshotId(stdout) {
  const value = parseJsonOutput(stdout);
  const id = value?.id ?? value?.snapshot?.id ?? value?.result?.id ?? value?.manifest?.id;
  if (typeof id !== 'string') throw new Error(`strata snapshot --json printed no id: ${stdout.slice(0, 300)}`);
  return { id, value };
}

const BUILD_OUTPUTS = ['packages/core/dist/index.js', 'packages/core/dist/commands', 'packages/plugin-local/dist/index.js'];
/** plugin-s3's entry and the hook oclif loads for `strata:storage` (its package.json names it). */
const S3_BUILD_OUTPUTS = ['packages/plugin-s3/dist/index.js', 'packages/plugin-s3/dist/hooks/storage.js'];

/**
 * Waits for build outputs that a build running elsewhere in the same checkout may have moved
 * aside: each package builds into `dist.next` and then replaces `dist`, so `dist` is missing for
 * a moment while `dist.next` exists. Gives up after 5 s when no package of a missing output has a
 * `dist.next` (nothing is building it: it is simply not built), else after 2 minutes.
 */
export async function waitForBuild(outputs = BUILD_OUTPUTS) {
  const started = Date.now();
  for (;;) {
    const missing = outputs.filter((p) => !existsSync(join(REPO, p)));
    if (missing.length === 0) return true;
    const building = missing.some((p) => existsSync(join(REPO, p.replace(/\/dist\/.*$/, '/dist.next'))));
    if (Date.now() - started > (building ? 120_000 : 5_000)) return false;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * How to run strata: `{ via: 'cli' }` when the built CLI has both commands, `{ via: 'api' }` when
 * only the built library has them (test/bench/strata-api.js, same process shape: one node child
 * per operation), or `{ skip: reason }`.
 */
export async function strataMode(via) {
  if (!(await waitForBuild())) return { skip: 'packages/core is not built (run `npm run build`)' };
  const missing = [];
  for (const command of ['snapshot', 'restore']) {
    try {
      await measure(process.execPath, [...CLI_NODE_FLAGS, CLI, command, '--help'], { cwd: REPO });
    } catch {
      missing.push(command);
    }
  }
  if (via === 'api') return { via: 'api', why: '--via api' };
  if (missing.length === 0) return { via: 'cli' };
  if (existsSync(join(REPO, 'packages/plugin-local/dist/index.js'))) {
    return { via: 'api', why: `the CLI has no ${missing.map((c) => `\`${c}\``).join('/')} command yet` };
  }
  return { skip: `the CLI has no ${missing.join('/')} command and plugin-local is not built` };
}

/**
 * Whether the S3 part can run: `{ ok: true }`, or `{ skip: reason }`. It runs through the built
 * CLI only (strata-api.js loads plugin-local alone), needs plugin-s3 built and the run's s3rver
 * (`s3`: `{ endpoint }`, `{ error }` or nothing), and asks the CLI itself (`strata list` on the
 * `s3` environment of `configPath`) whether a plugin handles s3://. Throws when the plugin loads
 * but fails against s3rver: that is a failure, not a skip.
 */
export async function s3Mode(mode, s3, configPath, dir) {
  if (mode.via !== 'cli') return { skip: `the S3 part runs through the CLI only, and strata runs through the library here (${mode.why})` };
  if (!s3) return { skip: 'no s3rver in this run' };
  if (s3.error) return { skip: `s3rver did not start: ${s3.error}` };
  if (!(await waitForBuild(S3_BUILD_OUTPUTS))) {
    return { skip: `packages/plugin-s3 is not built (no ${S3_BUILD_OUTPUTS.filter((p) => !existsSync(join(REPO, p))).join(', ')}; run \`npm run build\`)` };
  }
  try {
    await measure(process.execPath, [...CLI_NODE_FLAGS, CLI, 'list', '--json', '--config', configPath, '--env', 's3'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } });
    return { ok: true };
  } catch (error) {
    let reported;
    try {
      reported = parseJsonOutput(error.stdout ?? '')?.error;
    } catch {
      // not JSON: reported below with the raw output
    }
    if (reported?.code === 'storage-unsupported') return { skip: `the CLI reports no driver for s3:// (${reported.message})` };
    throw new Error(`strata list on the s3 environment failed: ${reported ? `${reported.code}: ${reported.message}` : error.message}`);
  }
}

/** plugin-anonymize's entry and the hook oclif loads for `strata:transformer`. */
const ANONYMIZE_BUILD_OUTPUTS = ['packages/plugin-anonymize/dist/index.js', 'packages/plugin-anonymize/dist/hooks/transformer.js'];

/**
 * Whether the anonymized capture can run: `{ ok: true }` or `{ skip: reason }`. It runs through the
 * CLI only (`--anonymize` is a CLI flag resolved through the plugin's hook) and needs
 * plugin-anonymize built.
 */
export async function anonymizeMode(mode) {
  if (mode.via !== 'cli') return { skip: `the anonymized capture runs through the CLI only, and strata runs through the library here (${mode.why})` };
  if (!(await waitForBuild(ANONYMIZE_BUILD_OUTPUTS))) {
    return { skip: `packages/plugin-anonymize is not built (no ${ANONYMIZE_BUILD_OUTPUTS.filter((p) => !existsSync(join(REPO, p))).join(', ')}; run \`npm run build\`)` };
  }
  return { ok: true };
}

/** Arguments of `node …` for `strata snapshot --anonymize` on environment `envName`. */
export function anonymizeSnapshotArgs(configPath, envName) {
  return [...CLI_NODE_FLAGS, CLI, 'snapshot', '--anonymize', '--json', '--config', configPath, '--env', envName];
}

/** Arguments of `node …` for one strata operation on environment `envName`. */
export function strataArgs(mode, operation, configPath, envName, id, database) {
  if (mode.via === 'api') {
    return [join(REPO, 'test/bench/strata-api.js'), operation, configPath, envName, ...(operation === 'restore' ? [id, database] : [])];
  }
  return operation === 'snapshot'
    ? [...CLI_NODE_FLAGS, CLI, 'snapshot', '--json', '--config', configPath, '--env', envName]
    : [...CLI_NODE_FLAGS, CLI, 'restore', id, '--database', database, '--json', '--config', configPath, '--env', envName];
}

/** Seconds spent in table loads according to `strata restore --json` (its per-table durations). */
export function tableLoadSeconds(stdout) {
  const report = parseJsonOutput(stdout);
  const tables = report?.tables ?? report?.result?.tables;
  return Array.isArray(tables) ? tables.reduce((sum, t) => sum + (t.durationMs ?? 0), 0) / 1000 : undefined;
}
